"""Large frames are decoded at reduced JPEG scale, and boxes still land where they belong."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shared.envelopes import Box
from shared.images import InvalidImage
from workers.engine import Engine
from workers.images import decode_jpeg
from workers.models.registry import InputSpec, spec_of
from workers.preprocess import fit_frame, reduction
from workers.settings import WorkerSettings
from workers.tasks import DetectorTask

YOLOX = spec_of("yolox_nano").input  # 416x416 letterbox
PYDNET = spec_of("pydnet").input  # 640x448 stretch


@pytest.mark.parametrize(
    ("size", "spec", "factor"),
    [
        ((640, 480), YOLOX, 1),  # smaller than 2x: full decode
        ((1280, 720), YOLOX, 2),  # the camera: 1/2 still leaves 640x360 >= 416x234
        ((1920, 1080), YOLOX, 4),
        ((3840, 2160), YOLOX, 8),
        ((1280, 720), PYDNET, 1),  # a stretch needs both sides: 720 < 2 x 448
        ((1280, 896), PYDNET, 2),
    ],
)
def test_reduction_never_makes_the_resize_upscale(size: tuple[int, int], spec: InputSpec, factor: int) -> None:
    assert reduction(*size, spec) == factor


def jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def test_reduced_decode_has_the_scaled_size_and_checks_still_apply() -> None:
    data = jpeg(np.full((721, 1281, 3), 90, np.uint8))
    assert decode_jpeg(data, 10**8, lambda w, h: 2).shape == (361, 641, 3)  # libjpeg rounds up
    assert decode_jpeg(data, 10**8, lambda w, h: 8).shape == (91, 161, 3)
    with pytest.raises(InvalidImage, match="pixel limit"):
        decode_jpeg(data, 1000, lambda w, h: 8)
    with pytest.raises(InvalidImage, match="truncated"):
        decode_jpeg(data[:-200], 10**8, lambda w, h: 2)


def test_geometry_of_a_reduced_decode_maps_the_original_frame() -> None:
    frame = np.zeros((960, 1280, 3), np.uint8)
    frame[400:560, 600:840] = 255  # a white block at x 600..840, y 400..560 of the frame
    image = decode_jpeg(jpeg(frame), 10**8, lambda w, h: reduction(w, h, YOLOX))
    assert image.shape[:2] == (480, 640)
    fitted, g = fit_frame(image, YOLOX, 1280, 960)
    assert (g.width, g.height) == (1280, 960)
    ys, xs = np.nonzero(fitted[..., 0] > 128)
    # model pixels back to frame pixels through the geometry
    x1, x2 = (xs.min() - g.pad_x) / g.ratio_x, (xs.max() + 1 - g.pad_x) / g.ratio_x
    y1, y2 = (ys.min() - g.pad_y) / g.ratio_y, (ys.max() + 1 - g.pad_y) / g.ratio_y
    np.testing.assert_allclose([x1, y1, x2, y2], [600, 400, 840, 560], atol=6)


class FullDecodeTask(DetectorTask):
    def _reduction(self, width: int, height: int) -> int:
        return 1


def test_detections_on_a_large_frame_match_a_full_decode(model_dir: Path, coco_dir: Path) -> None:
    spec = spec_of("yolox_nano")
    settings = WorkerSettings(model_dir=model_dir)
    engine = Engine.load(model_dir / spec.filename, spec.input, fused=True)
    try:
        matched = 0
        for path in sorted(coco_dir.glob("*.jpg"))[:4]:
            photo = cv2.imread(str(path))
            big = jpeg(cv2.resize(photo, (photo.shape[1] * 2, photo.shape[0] * 2), interpolation=cv2.INTER_CUBIC))
            results = []
            for task in (DetectorTask(spec, settings, fused=True), FullDecodeTask(spec, settings, fused=True)):
                prepared = task.prepare(big)
                results.append(task.finish(engine.infer_sync(prepared.tensor), prepared.geometry))
            reduced, full = results
            for f in (b for b in full if b.score >= 0.5):
                best = max((iou(f, r) for r in reduced if r.class_id == f.class_id), default=0.0)
                assert best >= 0.8, f"{path.name}: {f} has no counterpart in the reduced decode"
                matched += 1
        assert matched >= 4
    finally:
        engine.close()


def iou(a: Box, b: Box) -> float:
    ax, bx = (a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2)
    w = max(0.0, min(ax[2], bx[2]) - max(ax[0], bx[0]))
    h = max(0.0, min(ax[3], bx[3]) - max(ax[1], bx[1]))
    union = (ax[2] - ax[0]) * (ax[3] - ax[1]) + (bx[2] - bx[0]) * (bx[3] - bx[1]) - w * h
    return w * h / union
