"""Everything a gateway process holds while it runs, built in the app lifespan.

One object owns the NATS connection, the session store, the result hubs, the
heartbeat monitor and the background tasks (janitor, session watch), so that
start-up and the ordered shutdown are written in one place: stop intake, close
result streams with a final event, stop the tasks, drain NATS. Per-session
state kept here (upload rate buckets, seq counters, activity throttling) is
local to this process and dropped when the session ends; everything shared
between replicas lives in the sw-sessions KV bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from gateway import janitor, metrics
from gateway.heartbeats import HeartbeatMonitor
from gateway.settings import GatewaySettings
from gateway.uploads import TokenBucket, UploadState
from shared import subjects
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.sessions import SessionRecord, SessionStore

if TYPE_CHECKING:
    from gateway.hub import HubRegistry

log = logging.getLogger(__name__)

TASK_STOP_TIMEOUT_S = 2.0
PNG_REENCODES = 2


class GatewayRuntime:
    """The live state of one gateway process (stored at `app.state.runtime`)."""

    nc: NATS
    js: JetStreamContext
    sessions: SessionStore
    hubs: HubRegistry
    heartbeats: HeartbeatMonitor

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.accepting = False
        self.records: dict[str, SessionRecord] = {}  # mirror of sw-sessions, fed by the watch
        self.counters: Counter[str] = Counter()  # API-level events for /stats and /metrics
        self._uploads: dict[str, UploadState] = {}
        self._touched: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.metrics = metrics.registry_for(self)
        self.png_slots = asyncio.Semaphore(PNG_REENCODES)  # bounds memory of concurrent PNG decodes

    async def start(self) -> None:
        from gateway.hub import HubRegistry  # imported here: hub.py imports this module for its types

        self.nc = await connect(self.settings, f"gateway-{self.settings.instance_id}")
        self.js = self.nc.jetstream()
        await provision(self.js, self.settings)
        self.sessions = SessionStore(await self.js.key_value(subjects.SESSIONS_BUCKET))
        self.heartbeats = HeartbeatMonitor(self.nc)
        await self.heartbeats.start()
        self.hubs = HubRegistry(self)
        await self.hubs.start()
        self._tasks = [
            asyncio.create_task(janitor.watch_sessions(self), name="session-watch"),
            asyncio.create_task(janitor.run_janitor(self), name="session-janitor"),
        ]
        self.accepting = True
        log.info("gateway runtime started", extra={"instance": self.settings.instance_id})

    async def stop_intake(self) -> None:
        """First shutdown step: refuse new work, end result streams with a final event."""
        self.accepting = False
        if hasattr(self, "hubs"):
            await self.hubs.close()

    async def close(self) -> None:
        """Ordered shutdown; idempotent and bounded."""
        if self._closed:
            return
        self._closed = True
        await self.stop_intake()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), TASK_STOP_TIMEOUT_S)
        if hasattr(self, "heartbeats"):
            await self.heartbeats.stop()
        if hasattr(self, "nc"):
            await drain_quietly(self.nc, self.settings.drain_timeout_s)
        log.info("gateway runtime closed")

    @property
    def open_sessions(self) -> int:
        return sum(1 for record in self.records.values() if record.status != "closed")

    @property
    def nats_connected(self) -> bool:
        return hasattr(self, "nc") and self.nc.is_connected

    def upload_state(self, sid: str) -> UploadState:
        state = self._uploads.get(sid)
        if state is None:
            bucket = TokenBucket(self.settings.upload_rate_per_s, self.settings.upload_burst)
            state = self._uploads[sid] = UploadState(bucket)
        return state

    def upload_counters(self, sid: str) -> dict[str, int]:
        state = self._uploads.get(sid)
        return dict(state.counts) if state else {}

    def forget(self, sid: str) -> None:
        """Drop this process's state of a session that has ended (`records` follows the KV watch)."""
        self._uploads.pop(sid, None)
        self._touched.pop(sid, None)

    @property
    def touch_interval_s(self) -> float:
        """Throttle of activity writes, never coarser than a quarter of the idle TTL."""
        return min(self.settings.touch_interval_s, self.settings.session_ttl_s / 4)

    async def touch(self, sid: str) -> None:
        """Record activity on a session: at most one KV write per session per `touch_interval_s`.

        Called on uploads, API calls on the session and while results are being
        delivered to connected clients. A failed write is logged, never raised:
        activity bookkeeping must not fail the request that caused it.
        """
        now = time.monotonic()
        if now - self._touched.get(sid, float("-inf")) < self.touch_interval_s:
            return
        self._touched[sid] = now
        try:
            await self.sessions.update(sid, _mark_active)
        except Exception as exc:  # NATS errors of many kinds; a later touch retries
            log.warning("session touch failed", extra={"sid": sid, "error": repr(exc)})


def _mark_active(record: SessionRecord) -> SessionRecord:
    if record.status == "closed":
        return record
    return record.model_copy(update={"last_active_at": time.time()})
