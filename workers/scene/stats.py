"""Counters of one scene instance: its heartbeat (`sw.heartbeat.scene.<instance>`) and Prometheus.

The heartbeat has the shape every worker's has (`processed`, `errors`, `dropped_<reason>`), so the
gateway's global stats add the scene stage without knowing about it, plus `sessions` (owned now),
`written` (SCENE messages), `events`, `restored` (sessions continued from a checkpoint) and `late`/`duplicate`
drops of the reorder window. Other scene instances count these heartbeats for their fair share.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter as Tally

from nats.aio.client import Client as NATS
from prometheus_client import Counter, Gauge

from shared import subjects
from shared.envelopes import Heartbeat, now_ns
from shared.metrics import dropped_counter

log = logging.getLogger(__name__)

SERVICE = "scene"


@functools.cache
def messages_counter() -> Counter:
    return Counter("sightwire_scene_messages_total", "Client messages written to SCENE, by type", ["type"])


@functools.cache
def sessions_gauge() -> Gauge:
    return Gauge("sightwire_scene_sessions", "Sessions this scene instance owns")


class SceneStats:
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.processed = 0
        self.errors = 0
        self.published = 0
        self.events = 0
        self.restored = 0
        self.sessions = 0
        self.dropped: Tally[str] = Tally()

    def message(self, kind: str) -> None:
        if kind == "error":
            self.errors += 1
        else:
            self.processed += 1
        self.published += 1
        messages_counter().labels(kind).inc()

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n
        dropped_counter().labels(SERVICE, reason).inc(n)

    def owned(self, n: int) -> None:
        self.sessions = n
        sessions_gauge().set(n)

    def heartbeat(self) -> Heartbeat:
        counters = {
            "processed": self.processed,
            "errors": self.errors,
            "written": self.published,  # not "published": the gateway adds that to "processed"
            "events": self.events,
            "restored": self.restored,
            "sessions": self.sessions,
        }
        counters.update({f"dropped_{reason}": n for reason, n in self.dropped.items()})
        return Heartbeat(SERVICE, self.instance, now_ns(), counters, {"kind": SERVICE})


async def publish_heartbeat(nc: NATS, stats: SceneStats) -> None:
    try:
        await nc.publish(subjects.heartbeat(SERVICE, stats.instance), stats.heartbeat().to_bytes())
    except Exception as exc:  # connection closing or reconnecting: the next beat will do
        log.debug("heartbeat not sent", extra={"error": repr(exc)})


async def heartbeat_loop(nc: NATS, stats: SceneStats, interval_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await publish_heartbeat(nc, stats)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
