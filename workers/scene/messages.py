"""The client messages of DESIGN §4, built once per frame by the scene stage.

The SCENE body is the UTF-8 JSON of exactly what a viewer receives; the gateway forwards the
bytes. Same shape as the gateway built before the scene stage existed (moved from
gateway/results.py): `detection_result` with pixels, track ids and distances, or `error`.
This is the edge of the box and of time: normalised `Box`es become pixel `bbox`es here,
nanoseconds become the clients' seconds (`timestamp`) and milliseconds (`*_ms`).
"""

from __future__ import annotations

import json
from typing import Any

from shared.boxes import Box
from shared.clock import now_ns, ns_to_ms, ns_to_s
from shared.envelopes import Detections, ErrorResult
from workers.scene.fusion import ObjectDistance


def error_message(err: ErrorResult) -> dict[str, Any]:
    return {
        "type": "error",
        "error": err.message,
        "error_code": err.code,
        "frame_id": err.frame_id if err.frame_id is not None else str(err.seq),
        "timestamp": ns_to_s(err.at_ns),
    }


def detection(box: Box, width: int, height: int, track_id: int | None, dist: ObjectDistance) -> dict[str, Any]:
    return {
        "label": box.label,
        "class_id": box.class_id,
        "confidence": round(box.score, 4),
        "bbox": pixels(box, width, height),
        "track_id": track_id,
        "depth_rel": None if dist.depth_rel is None else round(dist.depth_rel, 3),
        "distance_m": None if dist.distance_m is None else round(dist.distance_m, 2),
        "distance_source": dist.distance_source,
    }


def detection_message(det: Detections, detections: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "detection_result",
        "data": {
            "frame_id": det.frame_id if det.frame_id is not None else str(det.seq),
            "seq": det.seq,
            "timestamp": ns_to_s(det.captured_at_ns),
            "width": det.width,
            "height": det.height,
            "detections": detections,
            "processing_time_ms": round(ns_to_ms(det.finished_at_ns - det.started_at_ns), 2),
            "latency_ms": round(ns_to_ms(now_ns() - det.captured_at_ns), 1),
        },
    }


def pixels(box: Box, width: int, height: int) -> list[float]:
    """The client's `bbox`: pixel corners of the frame as ingested, to a tenth of a pixel."""
    return [round(v, 1) for v in box.to_pixels(width, height)]


def encode(message: dict[str, Any]) -> bytes:
    """The SCENE body: compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
