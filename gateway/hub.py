"""Session hubs: one SCENE + EVENTS reader per session per gateway process, many viewers.

However many viewers a session has on this gateway, one hub reads the session's
finished messages once (`sw.scene.<sid>` and `sw.events.<sid>.>`, through the
`SceneFeed` it is given) and offers each message to every viewer's
`ClientSubscription` (`gateway.fanout`), which never blocks. The hub keeps no
analytic state: the scene stage made each message once (DESIGN.md section 7), so
every viewer on every replica gets the same bytes for the same `seq`, and a slow
viewer slows nobody else.

Lifecycle: a hub is created by the first `subscribe()` of a session and closed
`hub_grace_s` after its last viewer leaves (a page reload reuses it). When the
session ends (DELETE, expiry, elsewhere via the KV watch) `session_closed`
sends every viewer a final `closed` event. A change of the session's
`fps_limit` applies to every viewer at once: the registry listens to the
process's watch of the sw-sessions bucket, which also delivers the changes
this process writes itself (PATCH and WebSocket `config_update` alike).

Resume (`last_event_id`): the subscription holds live messages while
`gateway.replay` reads the missed ones back from SCENE, then joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from gateway import replay
from gateway.fanout import ClientSubscription, DeliveryCounters, LatencyWindow, OutMessage
from gateway.ports import HubTotals, LiveFeed, SceneFeed, SessionSource
from shared.envelopes import now_ns
from shared.errors import ErrorCode
from shared.sessions import SessionConfig, SessionRecord

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

HUB_STOP_TIMEOUT_S = 2.0


def closed_message(code: str, message: str) -> OutMessage:
    """The final event of a stream; event id 0 = not a SCENE message (no SSE `id:`)."""
    payload = {"type": "session_closed", "error": message, "error_code": str(code), "timestamp": time.time()}
    return OutMessage(0, "closed", payload)


def unavailable_message() -> OutMessage:
    """A non-final error: results pause while the message broker is unreachable."""
    payload = {
        "type": "error",
        "error": "message broker unavailable; results resume when it is back",
        "error_code": str(ErrorCode.UNAVAILABLE),
        "frame_id": None,
        "timestamp": time.time(),
    }
    return OutMessage(0, "error", payload)


class SessionHub:
    """The one SCENE/EVENTS reader of a session in this process, and its viewers."""

    def __init__(self, registry: HubRegistry, sid: str, config: SessionConfig) -> None:
        self.registry = registry
        self.sid = sid
        self.config = config
        self.subs: set[ClientSubscription] = set()
        self.counters = DeliveryCounters()
        self.latency = LatencyWindow()
        self.results = 0
        self.events = 0
        self.coalesced = 0  # superseded results skipped for every viewer at once
        self.dropped: Counter[str] = Counter()
        self.closed = False
        self._feed: LiveFeed | None = None
        self._task: asyncio.Task[None] | None = None
        self._linger: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None

    async def start(self, feed: SceneFeed) -> None:
        self._feed = await feed.open(self.sid)
        self._task = asyncio.create_task(self._read(self._feed), name=f"hub-{self.sid}")

    def link_lost(self) -> None:
        """The broker link is down: every viewer hears it now (a non-final error) rather than
        wondering why results stopped; the stream stays open and resumes when the link is back."""
        for sub in tuple(self.subs):
            sub.offer(unavailable_message())

    async def relink(self, feed: SceneFeed) -> None:
        """The link is back: read on from right after the last message the old feed read (an
        ordered consumer would reset itself only after its heartbeat check, many seconds later)."""
        if self.closed or self._feed is None or self._task is None:
            return
        old_feed, old_task = self._feed, self._task
        try:
            self._feed = await feed.open(self.sid, after=old_feed)
        except Exception as exc:  # still unreachable: the old feed's own recovery stays in charge
            self._feed = old_feed
            log.warning("scene feed not reopened", extra={"sid": self.sid, "error": repr(exc)})
            return
        old_task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(old_task, HUB_STOP_TIMEOUT_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old_feed.close(), HUB_STOP_TIMEOUT_S)
        self._task = asyncio.create_task(self._read(self._feed), name=f"hub-{self.sid}")

    async def _read(self, feed: LiveFeed) -> None:
        """Read until closed; if the feed dies instead, end the viewers' streams so they
        reconnect (and resume with Last-Event-ID) rather than wait forever on a dead hub."""
        try:
            async for msg in feed.messages():
                self.publish(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the feed failed
            log.warning("scene feed failed", extra={"sid": self.sid, "error": repr(exc)})
        if not self.closed:
            final = closed_message(ErrorCode.UNAVAILABLE, "result stream interrupted; reconnect to resume")
            self._ending = asyncio.create_task(self.registry.abandon(self, final), name=f"hub-end-{self.sid}")

    def publish(self, out: OutMessage) -> None:
        """Offer one message to every viewer: O(1) per viewer, never blocks.

        A result already superseded by a newer one waiting in the stream (this process
        fell behind) is skipped for every viewer at once, as latest-wins would skip it
        for each: a busy gateway catches up instead of lagging further behind. Errors
        and events are always offered.
        """
        if out.kind == "detection_result":
            self.results += 1
            if out.superseded and self.subs:
                self.coalesced += 1
                self.counters.skipped += len(self.subs)
                self.registry.counters.skipped += len(self.subs)
                return
        elif out.kind == "event":
            self.events += 1
        for sub in tuple(self.subs):
            sub.offer(out)

    def apply_config(self, config: SessionConfig) -> None:
        """A new session config: its fps applies to every viewer at once."""
        self.config = config
        for sub in self.subs:
            sub.set_session_fps(config.analysis_fps)

    def add(self, sub: ClientSubscription) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self.subs.add(sub)

    def remove(self, sub: ClientSubscription) -> None:
        self.subs.discard(sub)
        if not self.subs and not self.closed and self._linger is None:
            self._linger = asyncio.create_task(self._close_when_idle(), name=f"hub-linger-{self.sid}")

    async def _close_when_idle(self) -> None:
        await asyncio.sleep(self.registry.settings.hub_grace_s)
        if not self.subs:
            self._linger = None
            await self.registry.retire(self)

    async def finish(self, final: OutMessage | None) -> None:
        """Stop reading; send `final` to every viewer first. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if final is not None:
            for sub in list(self.subs):
                sub.close(final)
        if self._linger is not None and self._linger is not asyncio.current_task():
            self._linger.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, HUB_STOP_TIMEOUT_S)
        if self._feed is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._feed.close(), HUB_STOP_TIMEOUT_S)
            self.dropped["bad_message"] += getattr(self._feed, "dropped", 0)

    def all_dropped(self) -> Counter[str]:
        """Messages not sent: unreadable SCENE/EVENTS bodies."""
        live = getattr(self._feed, "dropped", 0) if not self.closed else 0
        return self.dropped + Counter({"bad_message": live})

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self.subs),
            "clients_by_transport": dict(Counter(s.transport for s in self.subs)),
            "results": self.results,
            "events": self.events,
            "coalesced": self.coalesced,
            "delivered": self.counters.delivered,
            "skipped": self.counters.skipped,
            "errors_dropped": sum(s.errors_dropped for s in self.subs),
            "events_dropped": sum(s.events_dropped for s in self.subs),
            "dropped": dict(self.all_dropped()),
            "latency_ms": self.latency.percentiles(),
        }


class HubRegistry:
    """All hubs of this gateway process (`runtime.hubs`).

    Collaborators are passed in: the settings, where finished messages come from
    (`feed`) and where session records are read and followed (`sessions`).
    """

    def __init__(self, settings: GatewaySettings, feed: SceneFeed, sessions: SessionSource) -> None:
        self.settings = settings
        self.feed = feed
        self.sessions = sessions
        self.counters = DeliveryCounters()
        self.latency = LatencyWindow()
        self.dropped: Counter[str] = Counter()
        self._hubs: dict[str, SessionHub] = {}
        self._lock = asyncio.Lock()
        self._unfollow: Callable[[], None] | None = None
        self._relink: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._unfollow = await self.sessions.subscribe(self._on_record)

    async def close(self) -> None:
        """Gateway shutdown: every viewer gets a final event (it may resume on another replica)."""
        self._closing = True
        final = closed_message(ErrorCode.UNAVAILABLE, "gateway shutting down; reconnect to resume")
        for hub in list(self._hubs.values()):
            await self._finish(hub, final)
        if self._relink is not None:
            self._relink.cancel()
        if self._unfollow is not None:
            self._unfollow()

    @asynccontextmanager
    async def subscribe(
        self, sid: str, transport: str, delivery_fps: int, last_event_id: int | None = None
    ) -> AsyncIterator[ClientSubscription]:
        """A viewer of `sid` for the duration of the block.

        No await lies between finding the hub and joining it (a lingering hub could close
        in between), and a resuming viewer is in replay mode before it joins, so that no
        live message reaches it ahead of the missed ones.
        """
        resume = last_event_id if last_event_id is not None and await self.feed.resumable(last_event_id) else None
        hub = await self._hub_for(sid)
        session_fps = hub.config.analysis_fps if hub is not None else delivery_fps
        sub = self._new_subscription(sid, transport, delivery_fps, session_fps, hub)
        replayer: asyncio.Task[int] | None = None
        try:
            if hub is None:
                sub.close(self._refusal())
            else:
                if resume is not None:
                    sub.begin_replay(resume)
                hub.add(sub)
                if resume is not None:
                    replayer = self._start_replay(hub, sub, resume)
            yield sub
        finally:
            if replayer is not None:
                replayer.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(replayer, HUB_STOP_TIMEOUT_S)
            if hub is not None:
                hub.remove(sub)

    def link_changed(self, up: bool) -> None:
        """The broker link went down (tell every viewer) or came back (reopen every hub's feed)."""
        if not up:
            for hub in tuple(self._hubs.values()):
                hub.link_lost()
            return
        if self._relink is None or self._relink.done():
            self._relink = asyncio.create_task(self._relink_all(), name="hub-relink")

    async def _relink_all(self) -> None:
        for hub in tuple(self._hubs.values()):
            await hub.relink(self.feed)

    async def session_closed(self, sid: str, code: str, message: str) -> None:
        """The session ended: its viewers here get a final event and the hub stops."""
        hub = self._hubs.get(sid)
        if hub is not None:
            await self._finish(hub, closed_message(code, message))

    def session_stats(self, sid: str) -> dict[str, Any]:
        hub = self._hubs.get(sid)
        if hub is None:
            return {"clients": 0, "clients_by_transport": {}, "results": 0, "events": 0, "delivered": 0, "skipped": 0}
        return hub.stats()

    def global_stats(self) -> HubTotals:
        by_transport: Counter[str] = Counter()
        dropped = Counter(self.dropped)
        for hub in self._hubs.values():
            by_transport.update(s.transport for s in hub.subs)
            dropped.update(hub.all_dropped())
        return {
            "sessions": len(self._hubs),
            "clients": sum(by_transport.values()),
            "clients_by_transport": dict(by_transport),
            "delivered": self.counters.delivered,
            "skipped": self.counters.skipped,
            "dropped": {k: v for k, v in dropped.items() if v},
            "latency_ms": self.latency.percentiles(),
        }

    async def retire(self, hub: SessionHub) -> None:
        """Close a hub without viewers (after its grace period)."""
        await self._finish(hub, None)

    async def abandon(self, hub: SessionHub, final: OutMessage) -> None:
        """Close a hub whose feed died; its viewers get `final`."""
        await self._finish(hub, final)

    # ---- internals ----

    def _new_subscription(
        self, sid: str, transport: str, delivery_fps: int, session_fps: int, hub: SessionHub | None
    ) -> ClientSubscription:
        process, mine = self.counters, hub.counters if hub is not None else DeliveryCounters()
        process_lag, hub_lag = self.latency, hub.latency if hub is not None else LatencyWindow(1)

        def delivered(sub: ClientSubscription, msg: OutMessage) -> None:
            process.delivered += 1
            mine.delivered += 1
            if msg.captured_at_ns:
                lag_ms = (now_ns() - msg.captured_at_ns) / 1e6
                process_lag.add(lag_ms)
                hub_lag.add(lag_ms)

        def skipped(sub: ClientSubscription, msg: OutMessage) -> None:
            process.skipped += 1
            mine.skipped += 1

        return ClientSubscription(
            sid,
            transport,
            delivery_fps,
            session_fps,
            self.settings.client_buffer,
            delivered,
            skipped,
            event_buffer=self.settings.client_event_buffer,
        )

    def _refusal(self) -> OutMessage:
        if self._closing:
            return closed_message(ErrorCode.UNAVAILABLE, "gateway shutting down; reconnect to resume")
        return closed_message(ErrorCode.SESSION_CLOSED, "session closed")

    async def _hub_for(self, sid: str) -> SessionHub | None:
        """The running hub of `sid`, started if needed; None if the session is gone."""
        async with self._lock:
            hub = self._hubs.get(sid)
            if hub is not None and not hub.closed:
                return hub
            if self._closing:
                return None
            found = await self.sessions.get(sid)
            if found is None or found[0].status == "closed":
                return None
            hub = SessionHub(self, sid, found[0].config)
            await hub.start(self.feed)
            self._hubs[sid] = hub
            return hub

    def _start_replay(self, hub: SessionHub, sub: ClientSubscription, after: int) -> asyncio.Task[int]:
        put_timeout_s = self.settings.send_timeout_s * self.settings.max_send_timeouts
        job = replay.copy_into(sub, self.feed.replay(hub.sid, after), put_timeout_s)
        return asyncio.create_task(job, name=f"replay-{hub.sid}")

    async def _finish(self, hub: SessionHub, final: OutMessage | None) -> None:
        owned = self._hubs.get(hub.sid) is hub
        if owned:
            del self._hubs[hub.sid]
        await hub.finish(final)
        if owned:  # its counts move to the process total once
            self.dropped.update(hub.dropped)

    async def _on_record(self, sid: str, record: SessionRecord | None) -> None:
        hub = self._hubs.get(sid)
        if hub is None:
            return
        if record is None or record.status == "closed":
            code = record.error_code if record is not None and record.error_code else ErrorCode.SESSION_CLOSED
            message = record.error_message if record is not None and record.error_message else "session closed"
            await self._finish(hub, closed_message(code, message))
            return
        hub.apply_config(record.config)
