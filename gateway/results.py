"""RESULTS envelopes of one session -> the client messages of DESIGN.md section 4.

`ResultPipeline` is the per-session state between the raw results and the
clients: the session config (threshold, classes, tracking, camera), the
tracker, the freshest depth map and the distance scale. The live hub and a
resume replay each own one, so a replayed result is fused exactly like a live
one. It is synchronous and CPU-only (msgpack decode, numpy on a small grid):
the hub runs it in a worker thread, one message at a time, in stream order.

Results can arrive out of order when detector replicas compete for frames; a
detection whose `seq` is not above the last one published is dropped and
counted (`reason="out_of_order"`) so that clients always see `seq` increase.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from gateway.fanout import OutMessage
from gateway.fusion import Camera, DepthGrid, ScaleEstimator, fuse_frame
from gateway.tracker import IouTracker
from shared import subjects
from shared.envelopes import Box, DepthMap, Detections, ErrorResult, now_ns
from shared.errors import EnvelopeError
from shared.metrics import dropped_counter
from shared.sessions import SessionConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineLimits:
    depth_max_age_ms: int
    scale_ema_alpha: float
    scale_max_age_s: float


class ResultPipeline:
    """Turns one session's RESULTS messages, in stream order, into client messages."""

    def __init__(self, sid: str, config: SessionConfig, limits: PipelineLimits) -> None:
        self.sid = sid
        self.config = config
        self.limits = limits
        self.tracker = IouTracker()
        self.scale = ScaleEstimator(limits.scale_ema_alpha, limits.scale_max_age_s)
        self.depth: DepthGrid | None = None
        self.last_seq = -1
        self.dropped: dict[str, int] = {}

    def set_config(self, config: SessionConfig) -> None:
        """A new session config applies from the next result on."""
        if config.enable_tracking and not self.config.enable_tracking:
            self.tracker.reset()
        self.config = config

    def handle(self, subject: str, data: bytes, event_id: int) -> OutMessage | None:
        """One RESULTS message -> a message for clients, or None (depth map, dropped, bad)."""
        try:
            kind = subjects.kind_of(subject)
            if kind is subjects.ResultKind.DET:
                return self.on_detections(Detections.from_bytes(data), event_id)
            if kind is subjects.ResultKind.DEPTH:
                self.on_depth(DepthMap.from_bytes(data))
                return None
            return self.on_error(ErrorResult.from_bytes(data), event_id)
        except (EnvelopeError, ValueError) as exc:
            self._drop("bad_envelope")
            log.warning("bad result envelope", extra={"sid": self.sid, "subject": subject, "error": str(exc)})
            return None

    def on_depth(self, depth: DepthMap) -> None:
        if self.depth is None or depth.captured_at_ns >= self.depth.captured_at_ns:
            self.depth = DepthGrid.from_envelope(depth)

    def on_error(self, err: ErrorResult, event_id: int) -> OutMessage:
        payload = {
            "type": "error",
            "error": err.message,
            "error_code": err.code,
            "frame_id": err.frame_id if err.frame_id is not None else str(err.seq),
            "timestamp": err.at_ns / 1e9,
        }
        return OutMessage(event_id, "error", payload, seq=None, captured_at_ns=None)

    def on_detections(self, det: Detections, event_id: int) -> OutMessage | None:
        if det.seq <= self.last_seq:
            self._drop("out_of_order")
            return None
        self.last_seq = det.seq
        boxes = self._selected(det.boxes)
        detections = self._describe(det, boxes)
        payload = {"type": "detection_result", "data": self._data(det, detections)}
        return OutMessage(event_id, "detection_result", payload, seq=det.seq, captured_at_ns=det.captured_at_ns)

    def _selected(self, boxes: list[Box]) -> list[Box]:
        wanted = set(self.config.classes) if self.config.classes else None
        threshold = self.config.confidence_threshold
        return [b for b in boxes if b.score >= threshold and (wanted is None or b.label in wanted)]

    def _describe(self, det: Detections, boxes: list[Box]) -> list[dict[str, Any]]:
        corners = [(b.x1, b.y1, b.x2, b.y2) for b in boxes]
        track_ids: list[int | None] = [None] * len(boxes)
        if self.config.enable_tracking:
            track_ids = list(self.tracker.update([(c, b.class_id) for c, b in zip(corners, boxes, strict=True)]))
        camera = Camera(det.width, det.height, self.config.camera_hfov_deg, self.config.calibration)
        distances = fuse_frame(
            [b.label for b in boxes], corners, camera, self._fresh_depth(det), self.scale, time.time()
        )
        out = []
        for box, track_id, dist in zip(boxes, track_ids, distances, strict=True):
            out.append(
                {
                    "label": box.label,
                    "class_id": box.class_id,
                    "confidence": round(box.score, 4),
                    "bbox": _pixels(box, det.width, det.height),
                    "track_id": track_id,
                    "depth_rel": None if dist.depth_rel is None else round(dist.depth_rel, 3),
                    "distance_m": None if dist.distance_m is None else round(dist.distance_m, 2),
                    "distance_source": dist.distance_source,
                }
            )
        return out

    def _fresh_depth(self, det: Detections) -> DepthGrid | None:
        if self.depth is None:
            return None
        age_ms = abs(det.captured_at_ns - self.depth.captured_at_ns) / 1e6
        return self.depth if age_ms <= self.limits.depth_max_age_ms else None

    def _data(self, det: Detections, detections: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "frame_id": det.frame_id if det.frame_id is not None else str(det.seq),
            "seq": det.seq,
            "timestamp": det.captured_at_ns / 1e9,
            "width": det.width,
            "height": det.height,
            "detections": detections,
            "processing_time_ms": round((det.finished_at_ns - det.started_at_ns) / 1e6, 2),
            "latency_ms": round((now_ns() - det.captured_at_ns) / 1e6, 1),
        }

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        dropped_counter().labels("gateway", reason).inc()


def _pixels(box: Box, width: int, height: int) -> list[float]:
    return [
        round(box.x1 * width, 1),
        round(box.y1 * height, 1),
        round(box.x2 * width, 1),
        round(box.y2 * height, 1),
    ]
