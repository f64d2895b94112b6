"""Which scene instances are alive: their heartbeats on `sw.heartbeat.scene.*`.

The fair share of sessions per instance is `ceil(sessions / live instances) + 1`; this module
answers "how many live instances", counting this one always (it may not hear itself yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared.envelopes import Heartbeat
from shared.errors import EnvelopeError
from workers.scene.stats import SERVICE

MAX_PEERS = 10_000


class Peers:
    def __init__(self, nc: NATS, me: str, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.nc = nc
        self.me = me
        self.timeout_s = timeout_s
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(f"sw.heartbeat.{SERVICE}.*", cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None and not self.nc.is_closed:
            await self._sub.unsubscribe()
        self._sub = None

    async def _on_msg(self, msg: Msg) -> None:
        try:
            hb = Heartbeat.from_bytes(msg.data)
        except EnvelopeError:
            return
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
