"""Heartbeats on core NATS: sending one every few seconds, and listening to them.

Every process (ingest, detector, depth, scene) publishes a `Heartbeat` on
`sw.heartbeat.<service>.<instance>` the same way: now, then every interval until
stopped, and a beat lost to a reconnect is simply the next one's job. Listeners
(the gateway's monitor, scene instances counting their peers) decode them the
same way too: a malformed heartbeat is counted and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.envelopes import Heartbeat
from shared.errors import EnvelopeError

log = logging.getLogger(__name__)


async def publish_heartbeat(nc: NATS, hb: Heartbeat) -> None:
    """Core-NATS publish on the heartbeat's own subject; never raises."""
    try:
        await nc.publish(subjects.heartbeat(hb.service, hb.instance), hb.to_bytes())
    except Exception as exc:  # connection closing or reconnecting: the next beat will do
        log.debug("heartbeat not sent", extra={"error": repr(exc)})


async def beat_every(nc: NATS, beat: Callable[[], Heartbeat], interval_s: float, stop: asyncio.Event) -> None:
    """Publish `beat()` now and every `interval_s` until `stop` is set."""
    while not stop.is_set():
        await publish_heartbeat(nc, beat())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()


class HeartbeatListener:
    """Decoded heartbeats on `subject` (a wildcard) to `on_beat`, from `start()` to `stop()`."""

    def __init__(self, nc: NATS, subject: str, on_beat: Callable[[Heartbeat], None]) -> None:
        self.nc = nc
        self.subject = subject
        self.on_beat = on_beat
        self.malformed = 0
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None and not self.nc.is_closed:
            await self._sub.unsubscribe()
        self._sub = None

    async def _on_msg(self, msg: Msg) -> None:
        try:
            hb = Heartbeat.from_bytes(msg.data)
        except EnvelopeError:
            self.malformed += 1
            return
        self.on_beat(hb)
