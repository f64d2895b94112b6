"""Helpers for scene-stage tests: sessions in sw-sessions, RESULTS envelopes in, SCENE out.

RESULTS are published directly as envelopes (shared/envelopes.py), so a test controls their
order exactly; SCENE is read back from the stream (what was stored, after JetStream's duplicate
suppression) and also watched live on core NATS (what was published, duplicates included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from shared import subjects
from shared.boxes import Box
from shared.envelopes import Detections, ErrorResult, Heartbeat
from shared.sessions import SessionRecord, SessionStore, SourceSpec
from shared.telemetry import DropReason

FRAME_GAP_NS = 100_000_000


async def create_session(js: JetStreamContext, sid: str) -> None:
    store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
    await store.create(SessionRecord(sid=sid, token_hash="x", source=SourceSpec(type="upload")))


def detections(sid: str, seq: int, boxes: list[Box], t0_ns: int = 0) -> Detections:
    captured = (t0_ns or 1_700_000_000_000_000_000) + seq * FRAME_GAP_NS
    return Detections(sid, seq, captured, captured, captured + 5_000_000, "test", "fake", 640, 480, boxes)


def moving_box(seq: int, x0: float = 0.1) -> Box:
    """A person walking right slowly: stays in view for hundreds of frames."""
    x = x0 + 0.002 * seq
    return Box(x, 0.2, x + 0.1, 0.7, 0.9, 0, "person")


async def publish_det(js: JetStreamContext, det: Detections) -> int:
    ack = await js.publish(subjects.results(det.sid, subjects.ResultKind.DET), det.to_bytes())
    return int(ack.seq)


async def publish_error(js: JetStreamContext, sid: str, seq: int, code: str = "INVALID_IMAGE") -> int:
    body = ErrorResult(sid, seq, code, "bad frame").to_bytes()
    ack = await js.publish(subjects.results(sid, subjects.ResultKind.ERROR), body)
    return int(ack.seq)


@dataclass
class SceneOut:
    results_seq: int
    message: dict[str, Any]


async def stored_scene(js: JetStreamContext, sid: str) -> list[SceneOut]:
    """Every SCENE message of `sid` kept by the stream, in stream order, with its RESULTS seq."""
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, inactive_threshold=10, mem_storage=True
    )
    psub = await js.pull_subscribe(subjects.scene(sid), stream=subjects.SCENE_STREAM, config=config)
    try:
        pending = (await psub.consumer_info()).num_pending or 0
        out: list[SceneOut] = []
        while len(out) < pending:
            for m in await psub.fetch(min(256, pending - len(out)), timeout=5):
                msg_id = (m.headers or {}).get("Nats-Msg-Id", "")
                out.append(SceneOut(int(msg_id.rpartition(":")[2]), json.loads(m.data)))
        return out
    finally:
        await psub.unsubscribe()


@dataclass
class Live:
    """SCENE messages and scene heartbeats as published (core NATS), and a wait with a deadline."""

    nc: NATS
    scene: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    beats: dict[str, Heartbeat] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Live:
        await self.nc.subscribe(subjects.SCENE_ALL, cb=self._on_scene)
        await self.nc.subscribe("sw.heartbeat.scene.*", cb=self._on_beat)
        await self.nc.flush()
        return self

    async def _on_scene(self, msg: Msg) -> None:
        self.scene[subjects.sid_of(msg.subject)].append(json.loads(msg.data))
        self._changed.set()

    async def _on_beat(self, msg: Msg) -> None:
        beat = Heartbeat.from_bytes(msg.data)
        self.beats[beat.instance] = beat
        self._changed.set()

    def counter(self, name: str) -> int:
        return sum(b.counters.get(name, 0) for b in self.beats.values())

    def dropped(self, reason: DropReason) -> int:
        return sum(b.dropped.get(reason, 0) for b in self.beats.values())

    async def until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["data"]["seq"] for m in messages if m["type"] == "detection_result"]


async def owners(js: JetStreamContext) -> dict[str, str]:
    """sid -> the scene instance holding its lease."""
    kv = await js.key_value(subjects.SCENE_LEASES_BUCKET)
    try:
        keys = await kv.keys()
    except Exception:  # no keys yet
        return {}
    found = {}
    for key in keys:
        try:
            entry = await kv.get(key)
        except Exception:  # expired between keys() and get()
            continue
        if entry.value:
            found[key] = entry.value.decode()
    return found
