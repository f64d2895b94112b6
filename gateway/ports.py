"""The interfaces gateway parts hand each other, so that no part imports the runtime.

`GatewayRuntime` (the lifecycle shell) builds the parts and passes each the
collaborators it needs; the parts name them by these protocols only. That keeps
the import graph of `gateway` acyclic (tests/gateway/test_imports.py checks it)
and lets hubs, the janitor and the stats be tested with small
in-memory fakes of these interfaces instead of a whole running gateway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol, TypedDict

from shared.errors import ErrorCode
from shared.session_watcher import Listener
from shared.sessions import SessionRecord

if TYPE_CHECKING:
    from gateway.fanout import OutMessage
    from gateway.heartbeats import HeartbeatMonitor
    from gateway.settings import GatewaySettings


class SessionSource(Protocol):
    """Reading and following the sw-sessions bucket (`gateway.directory.SessionDirectory` is one)."""

    async def get(self, sid: str) -> tuple[SessionRecord, int] | None: ...

    async def subscribe(self, listener: Listener) -> Callable[[], None]:
        """The current records, then each change, until the returned unsubscribe is called."""
        ...


class LiveFeed(Protocol):
    """One session's live SCENE and EVENTS messages, from now on, in stream order."""

    def messages(self) -> AsyncIterator[OutMessage]:
        """Ends (or raises) only when the underlying subscription fails."""
        ...

    async def close(self) -> None: ...


class SceneFeed(Protocol):
    """Where hubs read finished client messages (`gateway.scene_feed.NatsSceneFeed`)."""

    async def open(self, sid: str, after: LiveFeed | None = None) -> LiveFeed:
        """From new messages on; given the feed it replaces (after a broker outage), right after
        the last message that feed read, so nothing published meanwhile is missed."""
        ...

    async def resumable(self, last_event_id: int) -> bool:
        """False for an id the SCENE stream never issued."""
        ...

    def replay(self, sid: str, after: int) -> AsyncIterator[OutMessage]:
        """The session's SCENE messages after `after`, oldest first, until caught up."""
        ...


class StreamCloser(Protocol):
    """What the janitor needs of the hubs: end a session's streams here with a final event."""

    async def session_closed(self, sid: str, code: str, message: str) -> None: ...


class Directory(Protocol):
    """What the janitor and the intake need of the session directory (`gateway.directory`)."""

    records: dict[str, SessionRecord]

    async def touch(self, sid: str) -> None: ...

    async def end(self, sid: str, code: ErrorCode, message: str, only_if_idle_since: float | None = None) -> bool: ...


class HubTotals(TypedDict):
    """The hubs of this process together (`HubStats.global_stats()`), read by `/stream/stats` and `/metrics`."""

    sessions: int
    clients: int
    clients_by_transport: dict[str, int]
    delivered: int
    skipped: int
    dropped: dict[str, int]  # by `DropReason` value (bad_message)
    latency_ms: dict[str, float | None]  # p50, p95, p99 (None before any result) and count


class HubStats(Protocol):
    def global_stats(self) -> HubTotals: ...


class StatsSource(Protocol):
    """What `/stream/stats` and `/metrics` read (`GatewayRuntime` is one)."""

    settings: GatewaySettings
    started_at: float
    counters: Counter[str]
    heartbeats: HeartbeatMonitor

    @property
    def hubs(self) -> HubStats: ...

    @property
    def nats_connected(self) -> bool: ...

    @property
    def open_sessions(self) -> int: ...
