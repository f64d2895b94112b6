"""What a detector and a depth worker do to one frame, split at the inference call.

`prepare` (JPEG checks, decode, resize, tensor) and `result` (decode the
output into boxes or a grid, via `finish`, and wrap it in the result envelope)
are synchronous and pure: they run in a thread, and tests call them directly.
`runner.Runner` glues them around the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shared.boxes import Box
from shared.envelopes import DepthMap, Detections, Envelope, Frame, now_ns
from shared.images import jpeg_size
from workers import yolo
from workers.depthmap import depth_grid
from workers.images import decode_jpeg
from workers.models.registry import ModelSpec
from workers.preprocess import Geometry, fit_frame, fitted_to_tensor, fused_input, reduction
from workers.settings import WorkerSettings


@dataclass(frozen=True, slots=True)
class Prepared:
    tensor: np.ndarray
    geometry: Geometry


class Task(Protocol):
    spec: ModelSpec
    fused: bool

    def prepare(self, jpeg: bytes) -> Prepared: ...

    def result(self, frame: Frame, output: np.ndarray, geometry: Geometry, started_at_ns: int) -> Envelope:
        """The result envelope for `frame` from the model's raw output."""
        ...


class _Base:
    def __init__(self, spec: ModelSpec, settings: WorkerSettings, *, fused: bool = False) -> None:
        self.spec = spec
        self.settings = settings
        self.fused = fused  # the engine does the float conversion (workers/fused.py); must match the engine's

    def _reduction(self, width: int, height: int) -> int:
        return reduction(width, height, self.spec.input)

    def prepare(self, jpeg: bytes) -> Prepared:
        """Decode (at reduced DCT scale when the frame is large), fit to the model, build its input:
        fused, a view of the uint8 image; otherwise the float tensor of the NumPy reference path."""
        width, height = jpeg_size(jpeg)
        image = decode_jpeg(jpeg, self.settings.max_image_pixels, self._reduction)
        fitted, geometry = fit_frame(image, self.spec.input, width, height)
        tensor = fused_input(fitted) if self.fused else fitted_to_tensor(fitted, self.spec.input)
        return Prepared(tensor, geometry)

    def _common_fields(self, frame: Frame, geometry: Geometry, started_at_ns: int) -> dict[str, Any]:
        """The fields every result envelope shares: which frame, when, by whom, at what size."""
        return {
            "sid": frame.sid,
            "seq": frame.seq,
            "captured_at_ns": frame.captured_at_ns,
            "started_at_ns": started_at_ns,
            "finished_at_ns": now_ns(),
            "worker": self.settings.instance_id,
            "model": self.spec.name,
            "width": geometry.width,
            "height": geometry.height,
            "frame_id": frame.frame_id,
        }


class DetectorTask(_Base):
    """YOLOX / YOLOv8 / YOLOv5 output -> NMS-ed boxes normalised to the frame."""

    def _candidates(self, output: np.ndarray) -> yolo.Candidates:
        threshold = self.settings.score_threshold
        if self.spec.family == "yolox":
            return yolo.decode_yolox(output, self.spec.input.width, self.spec.input.height, threshold)
        if self.spec.family == "yolov8":
            return yolo.decode_yolov8(output, threshold)
        if self.spec.family == "yolov5":
            return yolo.decode_yolov5(output, threshold)
        raise ValueError(f"{self.spec.family} is not a detector family")

    def finish(self, output: np.ndarray, geometry: Geometry) -> list[Box]:
        kept = yolo.nms(self._candidates(output), self.settings.nms_iou, self.settings.max_detections)
        return yolo.to_boxes(kept, geometry, self.spec.labels)

    def result(self, frame: Frame, output: np.ndarray, geometry: Geometry, started_at_ns: int) -> Detections:
        boxes = self.finish(output, geometry)
        return Detections(
            **self._common_fields(frame, geometry, started_at_ns), boxes=boxes, ingested_at_ns=frame.ingested_at_ns
        )


class DepthTask(_Base):
    """PyDNet / MiDaS output -> a small float16 grid over the whole frame."""

    def finish(self, output: np.ndarray, geometry: Geometry) -> bytes:
        return depth_grid(output, self.settings.depth_grid_w, self.settings.depth_grid_h).tobytes()

    def result(self, frame: Frame, output: np.ndarray, geometry: Geometry, started_at_ns: int) -> DepthMap:
        grid = self.finish(output, geometry)
        return DepthMap(
            **self._common_fields(frame, geometry, started_at_ns),
            grid=grid,
            grid_w=self.settings.depth_grid_w,
            grid_h=self.settings.depth_grid_h,
            larger_is_farther=self.spec.larger_is_farther,
        )


TASKS: dict[str, Callable[..., Task]] = {"detector": DetectorTask, "depth": DepthTask}
