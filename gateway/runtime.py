"""The lifecycle shell of a gateway process: builds the parts, starts them, stops them in order.

`GatewayRuntime` is an async context manager with an explicit `status`
(new -> starting -> running -> stopping -> closed). Entering connects to NATS,
provisions the streams, and builds the parts, handing each the collaborators
it needs (none of them imports this module):
- `sessions` (`shared.session_watcher.SessionWatcher`): the one watch of
  sw-sessions in this process, which the directory's mirror, the janitor and
  the hubs all follow; start-up waits (bounded) for its initial values;
- `directory` (`gateway.directory.SessionDirectory`): the sw-sessions store, this
  process's mirror of it, activity touches;
- `intake` (`gateway.intake.FrameIntake`): frames pushed by clients;
- `hubs` (`gateway.hub.HubRegistry`): the SCENE/EVENTS fan-out to viewers;
- `janitor` (`gateway.janitor.Janitor`): session endings and idle expiry;
- `heartbeats`: liveness and counters of the pipeline's processes.
Leaving (or `close()`) is the ordered shutdown: stop intake and end result
streams with a final event, stop the background tasks, drain NATS. Everything
shared between replicas lives in NATS; what the parts hold is local to this
process and dropped when a session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import Counter
from types import TracebackType

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from gateway import metrics
from gateway.directory import SessionDirectory
from gateway.heartbeats import HeartbeatMonitor
from gateway.hub import HubRegistry
from gateway.intake import FrameIntake
from gateway.janitor import Janitor
from gateway.scene_feed import NatsSceneFeed
from gateway.settings import GatewaySettings
from shared import subjects
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionRecord, SessionStore

log = logging.getLogger(__name__)

TASK_STOP_TIMEOUT_S = 2.0
SESSIONS_READY_TIMEOUT_S = 5.0


class Status(enum.StrEnum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    CLOSED = "closed"


class GatewayRuntime:
    """The live state of one gateway process (stored at `app.state.runtime` while running)."""

    nc: NATS
    js: JetStreamContext
    sessions: SessionWatcher
    directory: SessionDirectory
    intake: FrameIntake
    hubs: HubRegistry
    janitor: Janitor
    heartbeats: HeartbeatMonitor

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.status = Status.NEW
        self.started_at = time.time()
        self.counters: Counter[str] = Counter()  # API-level events for /stats and /metrics
        self.metrics = metrics.registry_for(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False  # self.nc exists
        self._built = False  # the parts exist, so shutdown must stop them

    async def __aenter__(self) -> GatewayRuntime:
        try:
            await self.start()
        except BaseException:
            await self.close()  # a half-made start is undone in the same order
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self.status is not Status.NEW:
            raise RuntimeError(f"gateway runtime cannot start when {self.status}")
        self.status = Status.STARTING
        self.nc = await connect(self.settings, f"gateway-{self.settings.instance_id}", on_link=self._on_link)
        self._connected = True
        self.js = self.nc.jetstream()
        await provision(self.js, self.settings)
        self._build(SessionStore(await self.js.key_value(subjects.SESSIONS_BUCKET)))
        await self.heartbeats.start()
        await self.sessions.subscribe(self._session_changed)
        await self.hubs.start()
        self._tasks = [
            asyncio.create_task(self.sessions.run(), name="session-watch"),
            asyncio.create_task(self.janitor.run(), name="session-janitor"),
        ]
        if not await self.sessions.wait_ready(SESSIONS_READY_TIMEOUT_S):
            log.warning("session records not all read at start-up; serving anyway")
        self.status = Status.RUNNING
        log.info("gateway runtime started", extra={"instance": self.settings.instance_id})

    def _build(self, store: SessionStore) -> None:
        """The parts, each given what it needs."""
        s = self.settings
        self._built = True
        self.sessions = SessionWatcher(store)
        self.directory = SessionDirectory(store, self.sessions, s)
        self.intake = FrameIntake(s, self.nc, self.js, self.counters, self.directory.touch, lambda: self.accepting)
        feed = NatsSceneFeed(self.js, s.replay_batch, s.replay_max_events)
        self.hubs = HubRegistry(s, feed, self.directory)
        self.heartbeats = HeartbeatMonitor(self.nc)
        self.janitor = Janitor(
            self.directory, self.hubs, self.forget, s.session_ttl_s, s.janitor_interval_s, self.counters
        )

    async def _session_changed(self, sid: str, record: SessionRecord | None) -> None:
        """Mirror it, then let the janitor close local streams of a session ended elsewhere."""
        previous = self.directory.mirror(sid, record)
        await self.janitor.on_change(sid, record, previous)

    def _on_link(self, up: bool) -> None:
        """Viewers hear of a broker outage at once and read on from where they were when it ends."""
        if self._built and self.status is Status.RUNNING:
            self.hubs.link_changed(up)

    @property
    def accepting(self) -> bool:
        return self.status is Status.RUNNING

    async def stop_intake(self) -> None:
        """First shutdown step: refuse new work, end result streams with a final event."""
        if self.status in (Status.STOPPING, Status.CLOSED):
            return
        self.status = Status.STOPPING
        if self._built:
            await self.hubs.close()

    async def close(self) -> None:
        """Ordered shutdown; idempotent and bounded."""
        if self.status is Status.CLOSED:
            return
        await self.stop_intake()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), TASK_STOP_TIMEOUT_S)
        if self._built:
            await self.heartbeats.stop()
        if self._connected:
            await drain_quietly(self.nc, self.settings.drain_timeout_s)
        self.status = Status.CLOSED
        log.info("gateway runtime closed")

    # ---- what routes and stats read ----

    @property
    def open_sessions(self) -> int:
        return self.directory.open_sessions

    @property
    def nats_connected(self) -> bool:
        return self._connected and self.nc.is_connected

    def forget(self, sid: str) -> None:
        """Drop this process's state of a session that has ended (the mirror follows the KV watch)."""
        self.intake.forget(sid)
        self.directory.forget(sid)
