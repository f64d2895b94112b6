"""SCENE and EVENTS messages for gateway tests, published to the real NATS as the scene stage would.

The gateway only fans out what the scene stage (workers/scene) wrote, so its
tests publish the finished client messages of DESIGN.md section 4 directly:
UTF-8 JSON on `sw.scene.<sid>` with `Nats-Msg-Id = <sid>:<results seq>`, and
events as `{"type": "event", "event": {...}}` on `sw.events.<sid>.<kind>`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nats.js import JetStreamContext, api

from shared import subjects
from shared.envelopes import now_ns

W, H = 640, 480


def person(track_id: int, x: float = 160.0, distance_m: float = 3.1) -> dict[str, Any]:
    return {
        "label": "person", "class_id": 0, "confidence": 0.9, "bbox": [x, 120.0, x + 160.0, 360.0],
        "track_id": track_id, "depth_rel": 0.42, "distance_m": distance_m, "distance_source": "size_prior",
    }  # fmt: skip


def result(seq: int, detections: list[dict[str, Any]] | None = None, captured_at_ns: int | None = None) -> bytes:
    """A detection_result as the scene stage publishes it (compact JSON)."""
    t = captured_at_ns or now_ns()
    data = {
        "frame_id": str(seq), "seq": seq, "timestamp": t / 1e9, "width": W, "height": H,
        "detections": detections if detections is not None else [person(seq % 7 + 1)],
        "processing_time_ms": 8.0, "latency_ms": 12.5,
    }  # fmt: skip
    return json.dumps({"type": "detection_result", "data": data}, separators=(",", ":")).encode()


def error(frame_id: str, code: str = "INVALID_IMAGE", message: str = "cannot decode") -> bytes:
    body = {"type": "error", "error": message, "error_code": code, "frame_id": frame_id, "timestamp": time.time()}
    return json.dumps(body, separators=(",", ":")).encode()


def event(sid: str, kind: str, event_id: str, frame_seq: int = 0) -> bytes:
    body = {
        "type": "event",
        "event": {"id": event_id, "kind": kind, "sid": sid, "timestamp": time.time(), "frame_seq": frame_seq,
                  "zone": "door", "track_id": 1, "label": "person", "snapshot": None},
    }  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


async def publish_scene(js: JetStreamContext, sid: str, results_seq: int, body: bytes) -> int:
    """Publish one SCENE message; returns its stream sequence (the SSE `id:`)."""
    headers = {"Nats-Msg-Id": subjects.scene_msg_id(sid, results_seq)}
    ack = await js.publish(subjects.scene(sid), body, headers=headers)
    return ack.seq


async def publish_event(js: JetStreamContext, sid: str, kind: str, event_id: str, frame_seq: int = 0) -> bytes:
    """Publish one event to EVENTS; returns its body."""
    body = event(sid, kind, event_id, frame_seq)
    await js.publish(subjects.events(sid, kind), body, headers={"Nats-Msg-Id": event_id})
    return body


async def scene_ids(js: JetStreamContext, sid: str) -> list[int]:
    """Stream sequences of every stored SCENE message of one session, in order (the SSE ids)."""
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, inactive_threshold=10, mem_storage=True
    )
    psub = await js.pull_subscribe(subjects.scene(sid), stream=subjects.SCENE_STREAM, config=config)
    try:
        pending = (await psub.consumer_info()).num_pending or 0
        ids: list[int] = []
        while len(ids) < pending:
            msgs = await psub.fetch(min(256, pending - len(ids)), timeout=5)
            ids += [m.metadata.sequence.stream for m in msgs]
        return ids
    finally:
        await psub.unsubscribe()
