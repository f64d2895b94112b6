"""A stand-in for the scene stage (workers/scene) in gateway end-to-end tests on this branch.

The gateway only fans out SCENE; the tests that drive real detector workers
(seed clients, WebSocket round trips) need something that turns RESULTS into
SCENE messages. Until `sightwire worker scene` is on this branch these tests
run this minimal relay in the test process: detections filtered by the
session's threshold and classes, boxes in pixels, no tracking or distances
(those are the scene stage's own tests); a detection older than the last one
relayed (competing inference requests) is dropped, so SCENE's `seq` increases. Replace `scene_stage(...)` by starting
`worker scene` through `start_workers` when the scene worker is merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import api

from shared import subjects
from shared.envelopes import Detections, ErrorResult, now_ns
from shared.sessions import SessionStore


@contextlib.asynccontextmanager
async def scene_stage(nc: NATS) -> AsyncIterator[None]:
    js = nc.jetstream()
    store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
    psub = await js.subscribe(
        subjects.RESULTS_ALL,
        stream=subjects.RESULTS_STREAM,
        ordered_consumer=True,
        deliver_policy=api.DeliverPolicy.NEW,
    )
    task = asyncio.create_task(_relay(js, store, psub))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await psub.unsubscribe()


async def _relay(js: Any, store: SessionStore, psub: Any) -> None:
    last_seq: dict[str, int] = {}  # SCENE's seq increases per session (the scene stage reorders; this drops)
    async for msg in psub.messages:
        sid, kind = subjects.sid_of(msg.subject), subjects.kind_of(msg.subject)
        found = await store.get(sid)
        if found is None or kind is subjects.ResultKind.DEPTH:
            continue
        if kind is subjects.ResultKind.DET:
            det = Detections.from_bytes(msg.data)
            if det.seq <= last_seq.get(sid, -1):
                continue
            last_seq[sid] = det.seq
            body = _detections(det, found[0].config)
        else:
            err = ErrorResult.from_bytes(msg.data)
            frame_id = err.frame_id if err.frame_id is not None else str(err.seq)
            body = {"type": "error", "error": err.message, "error_code": err.code, "frame_id": frame_id,
                    "timestamp": err.at_ns / 1e9}  # fmt: skip
        headers = {"Nats-Msg-Id": subjects.scene_msg_id(sid, msg.metadata.sequence.stream)}
        await js.publish(subjects.scene(sid), json.dumps(body, separators=(",", ":")).encode(), headers=headers)


def _detections(det: Detections, config: Any) -> dict[str, Any]:
    wanted = set(config.classes) if config.classes else None
    boxes = [b for b in det.boxes if b.score >= config.confidence_threshold and (wanted is None or b.label in wanted)]
    w, h = det.width, det.height
    detections = [
        {"label": b.label, "class_id": b.class_id, "confidence": round(b.score, 4),
         "bbox": [round(b.x1 * w, 1), round(b.y1 * h, 1), round(b.x2 * w, 1), round(b.y2 * h, 1)],
         "track_id": None, "depth_rel": None, "distance_m": None, "distance_source": None}
        for b in boxes
    ]  # fmt: skip
    data = {
        "frame_id": det.frame_id if det.frame_id is not None else str(det.seq), "seq": det.seq,
        "timestamp": det.captured_at_ns / 1e9, "width": w, "height": h, "detections": detections,
        "processing_time_ms": round((det.finished_at_ns - det.started_at_ns) / 1e6, 2),
        "latency_ms": round((now_ns() - det.captured_at_ns) / 1e6, 1),
    }  # fmt: skip
    return {"type": "detection_result", "data": data}
