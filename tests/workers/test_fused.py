"""Preprocessing fused into the compiled model gives what the NumPy reference path gives.

For every model family the worker supports, the same real photos go through (1) the reference:
OpenCV decode + letterbox, float conversion, colour swap, scaling and layout in NumPy, then the
plain model; and (2) the product: the same uint8 image handed to a model compiled with
`PrePostProcessor` steps. Both compile with the f32 precision hint (this CPU defaults to bf16,
which would move boxes by a few pixels on both sides and hide nothing but noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from shared.envelopes import Box
from workers.depthmap import grid_from_bytes
from workers.engine import Engine, read_model
from workers.fused import fuse_preprocessing, fused_input_shape
from workers.models.registry import ModelSpec, spec_of
from workers.runner import Runner
from workers.settings import WorkerSettings
from workers.tasks import DepthTask, DetectorTask

PHOTOS = 8
F32 = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
# model spec -> its file among the team's models (the Ultralytics exports are IR folders)
DETECTORS = {
    "yolox_nano": "yolox_nano.onnx",
    "yolo11n": "yolo11n_int8/yolo11n.xml",
    "yolov8n": "yolov8n_int8/yolov8n.xml",
    "yolov5n": "yolov5n.onnx",
}


def engine_of(path: Path, spec: ModelSpec, fused: bool) -> Engine:
    core = ov.Core()
    model = read_model(core, path, spec.input)
    if fused:
        model = fuse_preprocessing(model, spec.input)
    return Engine(core.compile_model(model, "CPU", F32), 1, spec.output_index, fused=fused)


def photos(coco_dir: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(coco_dir.glob("*.jpg"))[:PHOTOS]]


def detect(task: DetectorTask, engine: Engine, jpeg: bytes) -> list[Box]:
    prepared = task.prepare(jpeg)
    return task.finish(engine.infer_sync(prepared.tensor), prepared.geometry)


@pytest.fixture(scope="module")
def settings(model_dir: Path) -> WorkerSettings:
    return WorkerSettings(model_dir=model_dir)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_fused_detector_finds_what_the_reference_finds(
    name: str, settings: WorkerSettings, model_dir: Path, coco_dir: Path
) -> None:
    spec = spec_of(name)
    reference = engine_of(model_dir / DETECTORS[name], spec, fused=False)
    fused = engine_of(model_dir / DETECTORS[name], spec, fused=True)
    try:
        assert list(fused.compiled.inputs[0].get_shape()) == fused_input_shape(spec.input)
        assert fused.compiled.inputs[0].get_element_type() == ov.Type.u8
        total = 0
        for jpeg in photos(coco_dir):
            want = detect(DetectorTask(spec, settings), reference, jpeg)
            got = detect(DetectorTask(spec, settings, fused=True), fused, jpeg)
            assert [b.class_id for b in got] == [b.class_id for b in want]
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose([g.x1, g.y1, g.x2, g.y2], [w.x1, w.y1, w.x2, w.y2], atol=2e-3)
                assert abs(g.score - w.score) < 2e-3
            total += len(want)
        assert total >= PHOTOS, "the photos hold objects: an empty comparison would prove nothing"
    finally:
        reference.close()
        fused.close()


def test_fused_depth_map_equals_the_reference(settings: WorkerSettings, model_dir: Path, coco_dir: Path) -> None:
    spec = spec_of("pydnet")
    reference = engine_of(model_dir / spec.filename, spec, fused=False)
    fused = engine_of(model_dir / spec.filename, spec, fused=True)
    try:
        for jpeg in photos(coco_dir)[:3]:
            grids = []
            for engine, task in (
                (reference, DepthTask(spec, settings)),
                (fused, DepthTask(spec, settings, fused=True)),
            ):
                prepared = task.prepare(jpeg)
                grid = task.finish(engine.infer_sync(prepared.tensor), prepared.geometry)
                grids.append(grid_from_bytes(grid, settings.depth_grid_w, settings.depth_grid_h).astype(np.float32))
            assert grids[0].std() > 0
            np.testing.assert_allclose(grids[1], grids[0], rtol=2e-3, atol=2e-3 * float(np.abs(grids[0]).max()))
    finally:
        reference.close()
        fused.close()


def test_fused_task_hands_over_a_uint8_view_of_the_letterboxed_image(settings: WorkerSettings, coco_dir: Path) -> None:
    spec = spec_of("yolox_nano")
    prepared = DetectorTask(spec, settings, fused=True).prepare(photos(coco_dir)[0])
    assert prepared.tensor.dtype == np.uint8 and list(prepared.tensor.shape) == fused_input_shape(spec.input)
    assert prepared.tensor.base is not None, "a view of OpenCV's canvas, not a copy"


def test_runner_refuses_a_task_and_engine_that_disagree(settings: WorkerSettings, model_dir: Path) -> None:
    spec = spec_of("yolox_nano")
    engine = engine_of(model_dir / spec.filename, spec, fused=True)
    try:
        with pytest.raises(ValueError, match="fused"):
            Runner(DetectorTask(spec, settings), engine)
    finally:
        engine.close()
