"""Helpers for worker tests: build and publish frames, watch results and heartbeats.

`Watcher` records every result and heartbeat published on core NATS (so it
also sees a result published twice, which the RESULTS stream would dedupe) and
lets a test wait for a condition with a deadline, woken by each message: no
sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import DepthMap, Detections, ErrorResult, Frame, Heartbeat, now_ns
from shared.telemetry import DropReason

LONG_AGE_MS = 300_000  # test frames must not go stale while two cores are busy


def frame(sid: str, seq: int, jpeg: bytes, *, width: int = 0, height: int = 0, **extra: object) -> Frame:
    now = now_ns()
    kwargs: dict[str, object] = {"frame_id": f"{sid}-{seq}", "max_age_ms": LONG_AGE_MS, **extra}
    return Frame(sid, seq, now, now, width, height, "test", jpeg, **kwargs)  # type: ignore[arg-type]


async def publish_raw(js: JetStreamContext, sid: str, seq: int, body: bytes) -> None:
    await js.publish(subjects.frames(sid), body, headers={"Nats-Msg-Id": subjects.frame_msg_id(sid, seq)})


async def publish_frame(js: JetStreamContext, f: Frame) -> None:
    await publish_raw(js, f.sid, f.seq, f.to_bytes())


def coco_jpegs(coco_dir: Path, count: int) -> list[bytes]:
    return [p.read_bytes() for p in sorted(coco_dir.glob("*.jpg"))[:count]]


@dataclass
class Watcher:
    """Everything published on sw.results.> and sw.heartbeat.> since `start()`."""

    nc: NATS
    detections: list[Detections] = field(default_factory=list)
    depth: list[DepthMap] = field(default_factory=list)
    errors: list[ErrorResult] = field(default_factory=list)
    heartbeats: dict[tuple[str, str], Heartbeat] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Watcher:
        await self.nc.subscribe(subjects.RESULTS_ALL, cb=self._on_result)
        await self.nc.subscribe(subjects.HEARTBEAT_ALL, cb=self._on_heartbeat)
        await self.nc.flush()
        return self

    async def _on_result(self, msg: Msg) -> None:
        kind = subjects.kind_of(msg.subject)
        if kind is subjects.ResultKind.DET:
            self.detections.append(Detections.from_bytes(msg.data))
        elif kind is subjects.ResultKind.DEPTH:
            self.depth.append(DepthMap.from_bytes(msg.data))
        else:
            self.errors.append(ErrorResult.from_bytes(msg.data))
        self._changed.set()

    async def _on_heartbeat(self, msg: Msg) -> None:
        beat = Heartbeat.from_bytes(msg.data)
        self.heartbeats[(beat.service, beat.instance)] = beat
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Wait until `condition()` holds, re-checking on every message; fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
            self._changed.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.5)):
                    await self._changed.wait()
            except TimeoutError:
                pass

    def instances(self, service: str) -> set[str]:
        return {instance for (svc, instance) in self.heartbeats if svc == service}

    def counter(self, service: str, name: str) -> int:
        return sum(b.counters.get(name, 0) for (svc, _), b in self.heartbeats.items() if svc == service)

    def processed(self, service: str) -> int:
        return sum(b.processed for (svc, _), b in self.heartbeats.items() if svc == service)

    def dropped(self, service: str, reason: DropReason) -> int:
        return sum(b.dropped.get(reason, 0) for (svc, _), b in self.heartbeats.items() if svc == service)

    def answered(self) -> set[tuple[str, int]]:
        return {(d.sid, d.seq) for d in self.detections}
