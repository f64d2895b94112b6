"""Counters of one scene instance: its heartbeat (`sw.heartbeat.scene.<instance>`) and Prometheus.

The heartbeat has the shape every worker's has (typed `processed` and `dropped` by `DropReason`, an
`errors` counter), so the gateway's global stats add the scene stage without knowing about it, plus the
counters `sessions` (owned now), `written` (SCENE messages), `events` and `restored` (sessions continued
from a checkpoint); the reorder window's drops are `late`/`duplicate`/`bad_envelope`. Other scene
instances count these heartbeats for their fair share.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge

from shared.envelopes import Heartbeat, now_ns
from shared.telemetry import PipelineTally, TalliedStats

SERVICE = "scene"


@functools.cache
def messages_counter() -> Counter:
    return Counter("sightwire_scene_messages_total", "Client messages written to SCENE, by type", ["type"])


@functools.cache
def sessions_gauge() -> Gauge:
    return Gauge("sightwire_scene_sessions", "Sessions this scene instance owns")


class SceneStats(TalliedStats):
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.frames = PipelineTally(SERVICE)
        self.errors = 0
        self.published = 0
        self.events = 0
        self.restored = 0
        self.sessions = 0

    def message(self, kind: str) -> None:
        if kind == "error":
            self.errors += 1
        else:
            self.frames.count_processed()
        self.published += 1
        messages_counter().labels(kind).inc()

    def owned(self, n: int) -> None:
        self.sessions = n
        sessions_gauge().set(n)

    def heartbeat(self) -> Heartbeat:
        counters = {
            "errors": self.errors,
            "written": self.published,
            "events": self.events,
            "restored": self.restored,
            "sessions": self.sessions,
        }
        return Heartbeat(
            SERVICE,
            self.instance,
            now_ns(),
            counters,
            {"kind": SERVICE},
            processed=self.processed,
            dropped=self.dropped,
        )
