"""Which scene instances are alive: their heartbeats on `sw.heartbeat.scene.*`.

The fair share of sessions per instance is `ceil(sessions / live instances) + 1`; this module
answers "how many live instances", counting this one always (it may not hear itself yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nats.aio.client import Client as NATS

from shared.envelopes import Heartbeat
from shared.heartbeat import HeartbeatListener
from workers.scene.stats import SERVICE

MAX_PEERS = 10_000


class Peers:
    def __init__(self, nc: NATS, me: str, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.nc = nc
        self.me = me
        self.timeout_s = timeout_s
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._listener = HeartbeatListener(nc, f"sw.heartbeat.{SERVICE}.*", self._on_beat)

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    def _on_beat(self, hb: Heartbeat) -> None:
        if hb.service == SERVICE:
            self.seen(hb.instance)

    def seen(self, instance: str) -> None:
        now = self.clock()
        if instance not in self._seen and len(self._seen) >= MAX_PEERS:
            self._forget(now)
        self._seen[instance[:256]] = now

    def live(self) -> int:
        now = self.clock()
        self._forget(now)
        return len(self._seen.keys() | {self.me})

    def _forget(self, now: float) -> None:
        for instance in [i for i, at in self._seen.items() if now - at > self.timeout_s]:
            del self._seen[instance]
