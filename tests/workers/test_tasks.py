"""The real models on real photos, through the same engine and tasks the worker runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shared.boxes import Box
from shared.envelopes import DepthMap, Detections, Frame, now_ns
from shared.errors import ErrorCode
from shared.images import InvalidImage
from workers.depthmap import grid_from_bytes
from workers.engine import Engine
from workers.models.registry import spec_of
from workers.preprocess import Geometry
from workers.runner import InferenceError, Runner
from workers.settings import WorkerSettings
from workers.tasks import DepthTask, DetectorTask, Prepared

# The stop sign of 000000000724.jpg (375x500), read off the photo: the red octagon spans about
# x 120..255 px and y 72..225 px.
STOP_SIGN_BOX = Box.from_pixels((120, 72, 255, 225), 375, 500, label="stop sign")


@pytest.fixture(scope="module")
def settings(model_dir: Path) -> WorkerSettings:
    return WorkerSettings(model_dir=model_dir)


@pytest.fixture(scope="module")
def detector(settings: WorkerSettings, model_dir: Path) -> Iterator[tuple[DetectorTask, Engine]]:
    spec = spec_of("yolox_nano")
    engine = Engine.load(model_dir / spec.filename, spec.input, hint="THROUGHPUT")
    yield DetectorTask(spec, settings), engine
    engine.close()


@pytest.fixture(scope="module")
def depth(settings: WorkerSettings, model_dir: Path) -> Iterator[tuple[DepthTask, Engine]]:
    spec = spec_of("pydnet")
    engine = Engine.load(model_dir / spec.filename, spec.input, hint="LATENCY")
    yield DepthTask(spec, settings), engine
    engine.close()


def frame_of(path: Path) -> Frame:
    return Frame("s1", 7, now_ns(), now_ns(), 0, 0, "test", path.read_bytes(), frame_id="f7")


async def test_stop_sign_is_detected_with_its_box(detector: tuple[DetectorTask, Engine], coco_dir: Path) -> None:
    task, engine = detector
    frame = frame_of(coco_dir / "000000000724.jpg")
    result = await Runner(task, engine).run(frame)
    assert isinstance(result, Detections)
    assert (result.width, result.height, result.model, result.frame_id) == (375, 500, "yolox_nano", "f7")
    assert result.captured_at_ns <= result.started_at_ns <= result.finished_at_ns
    best = max(result.boxes, key=lambda b: b.score)
    assert best.label == "stop sign" and best.class_id == 11 and best.score > 0.8
    assert best.iou(STOP_SIGN_BOX) > 0.85


async def test_living_room_objects_are_found(detector: tuple[DetectorTask, Engine], coco_dir: Path) -> None:
    task, engine = detector
    result = await Runner(task, engine).run(frame_of(coco_dir / "000000000139.jpg"))
    assert isinstance(result, Detections)
    labels = {b.label for b in result.boxes}
    assert {"tv", "person", "chair"} <= labels
    assert all(0 <= b.x1 < b.x2 <= 1 and 0 <= b.y1 < b.y2 <= 1 for b in result.boxes)
    assert all(b.score >= task.settings.score_threshold for b in result.boxes)


async def test_depth_says_the_floor_is_nearer_than_the_back_wall(
    depth: tuple[DepthTask, Engine], coco_dir: Path
) -> None:
    task, engine = depth
    result = await Runner(task, engine).run(frame_of(coco_dir / "000000000139.jpg"))
    assert isinstance(result, DepthMap)
    assert (result.grid_w, result.grid_h, result.larger_is_farther) == (80, 56, True)
    grid = grid_from_bytes(result.grid, result.grid_w, result.grid_h).astype(np.float32)
    floor = np.median(grid[-8:, 10:70])  # bottom rows: the floor in front of the camera
    back_wall = np.median(grid[14:28, 24:56])  # upper-middle: windows and wall at the back
    assert floor < 0.75 * back_wall, (floor, back_wall)


async def test_bad_jpeg_is_invalid_image(detector: tuple[DetectorTask, Engine], coco_dir: Path) -> None:
    task, engine = detector
    frame = frame_of(coco_dir / "000000000724.jpg")
    frame.jpeg = frame.jpeg[:1000]
    with pytest.raises(InvalidImage):
        await Runner(task, engine).run(frame)


class WrongTensorTask(DetectorTask):
    """A task whose tensor does not fit the model: the engine must fail, not the process."""

    def prepare(self, jpeg: bytes) -> Prepared:
        return Prepared(np.zeros((1, 3, 10, 10), np.float32), Geometry(10, 10, 1, 1))


async def test_engine_failure_is_inference_error(
    detector: tuple[DetectorTask, Engine], settings: WorkerSettings, coco_dir: Path
) -> None:
    _, engine = detector
    runner = Runner(WrongTensorTask(spec_of("yolox_nano"), settings), engine)
    with pytest.raises(InferenceError) as info:
        await runner.run(frame_of(coco_dir / "000000000724.jpg"))
    assert info.value.code is ErrorCode.INFERENCE_ERROR
    result = await Runner(detector[0], engine).run(frame_of(coco_dir / "000000000724.jpg"))
    assert isinstance(result, Detections) and result.boxes  # the engine still works afterwards


def test_midas_style_output_is_sent_as_inverse_depth(settings: WorkerSettings) -> None:
    task = DepthTask(spec_of("midas_small"), settings)
    output = np.linspace(0, 500, 256 * 256, dtype=np.float32).reshape(1, 256, 256)
    result = task.result(frame_of_bytes(b""), output, Geometry(640, 480, 0.4, 0.53), now_ns())
    assert result.larger_is_farther is False and result.model == "midas_small"
    grid = grid_from_bytes(result.grid, result.grid_w, result.grid_h)
    assert grid.shape == (56, 80) and grid[-1, -1] > grid[0, 0]


def test_ultralytics_family_is_decoded_by_its_spec(settings: WorkerSettings) -> None:
    task = DetectorTask(spec_of("yolo11n"), settings)
    output = np.zeros((1, 84, 8400), np.float32)
    output[0, :4, 0] = [320, 320, 64, 64]
    output[0, 4 + 15, 0] = 0.9  # cat
    result = task.result(frame_of_bytes(b""), output, Geometry(640, 640, 1.0, 1.0), now_ns())
    assert [(b.label, round(b.x1, 2), round(b.y2, 2)) for b in result.boxes] == [("cat", 0.45, 0.55)]


def frame_of_bytes(jpeg: bytes) -> Frame:
    return Frame("s1", 8, now_ns(), now_ns(), 0, 0, "test", jpeg)
