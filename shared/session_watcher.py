"""The one watch of the sw-sessions bucket in a process, fanned out to the parts that follow it.

Ingest (camera manager, WebRTC peers), the scene stage, the notifier and the
gateway (hubs, directory) all follow session records. Each used to run its
own watch with its own retry constant, and each noticed different things
after a reconnect (deletions made while the watch was down were found by one,
missed by the others). One `SessionWatcher` per process now runs the watch,
restarted with one bounded backoff (`shared.loops`), and delivers every change
to its listeners, in bucket order, by calling them: nothing is buffered here.

- `ready` is set once the first initial values are all in (a process can wait
  for a full picture before acting on it).
- After a restart the initial values come again: records unchanged since are
  not delivered twice, and a session that vanished meanwhile is delivered as
  deleted (its delete was never seen).
- `publish()` delivers a record this process just wrote at once, through the
  same path the watch takes; when the watch brings the same revision (or an
  older one) later, it is not delivered again. So a config change takes effect
  here the same way whoever wrote it, and at once where it was written.
- A listener that subscribes late first gets the current records, then changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Protocol

from shared.loops import Backoff, retrying
from shared.sessions import Change, SessionRecord

log = logging.getLogger(__name__)

WATCH_RETRY_FIRST_S = 1.0
WATCH_RETRY_MAX_S = 10.0
MAX_DELETED = 4096

# (sid, the record now or None when deleted); may be sync or async
Listener = Callable[[str, SessionRecord | None], Awaitable[None] | None]


class ChangeFeed(Protocol):
    """Where changes come from (`shared.sessions.SessionStore` is one)."""

    def changes(self) -> AsyncGenerator[Change | None, None]:
        """Every current record, None when they are all in, then each change; ends or raises when broken."""
        ...


class SessionWatcher:
    def __init__(self, feed: ChangeFeed, backoff: Backoff | None = None) -> None:
        self.feed = feed
        self.backoff = backoff or Backoff(WATCH_RETRY_FIRST_S, WATCH_RETRY_MAX_S)
        self.ready = asyncio.Event()
        self.records: dict[str, SessionRecord] = {}  # the current records, as last delivered
        self._revisions: dict[str, int] = {}
        self._deleted: dict[str, int] = {}  # revisions of recent deletes, oldest first
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()  # one change at a time, to every listener, in order

    # ---- listeners ----

    async def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Deliver the current records to `listener`, then every change; returns the unsubscribe."""
        async with self._lock:
            for sid, record in list(self.records.items()):
                await self._call(listener, sid, record)
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    @contextlib.asynccontextmanager
    async def subscribed(self, listener: Listener) -> AsyncIterator[None]:
        unsubscribe = await self.subscribe(listener)
        try:
            yield
        finally:
            unsubscribe()

    async def wait_ready(self, timeout_s: float) -> bool:
        """True once the initial values are in; False if that took longer than `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.ready.wait()
        return self.ready.is_set()

    async def publish(self, change: Change) -> None:
        """A record this process just wrote: delivered now, and not again when the watch brings it."""
        await self._apply(change, live=True)

    # ---- the watch ----

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch until `stop` is set or cancelled, restarting a broken watch after the backoff."""
        await retrying(self._watch_once, "session watch", self.backoff, stop)

    async def _watch_once(self, healthy: Callable[[], None]) -> None:
        seen: set[str] | None = set()  # keys of the initial values; None once they are all in
        async with contextlib.aclosing(self.feed.changes()) as changes:
            async for change in changes:
                if change is not None:
                    if seen is not None:
                        seen.add(change.sid)
                    await self._apply(change, live=seen is None)
                elif seen is not None:
                    await self._forget_missing(seen)
                    seen = None
                    self.ready.set()
                    healthy()

    async def _forget_missing(self, seen: set[str]) -> None:
        """Sessions known before a restart but not in the bucket now were deleted while no watch ran."""
        for sid in set(self.records) - seen:
            await self._apply(Change(sid, None, 0), live=False)

    async def _apply(self, change: Change, *, live: bool) -> None:
        """Deliver one change unless it is already known: in the live part of a watch, by revision
        (older or equal: already delivered, e.g. published here); among initial values, by content
        (the bucket's current value is authoritative, but an unchanged one was delivered before)."""
        async with self._lock:
            sid, record = change.sid, change.record
            known = self._revisions.get(sid, self._deleted.get(sid))
            if live and known is not None and change.revision <= known:
                return
            if not live and self.records.get(sid) == record:
                if record is not None:
                    self._revisions[sid] = change.revision
                return
            if record is None:
                self.records.pop(sid, None)
                self._revisions.pop(sid, None)
                self._bury(sid, change.revision)
            else:
                self.records[sid] = record
                self._revisions[sid] = change.revision
            for listener in list(self._listeners):
                await self._call(listener, sid, record)

    def _bury(self, sid: str, revision: int) -> None:
        """Remember a delete's revision (bounded), so that an older write published late stays deleted."""
        self._deleted[sid] = revision
        if len(self._deleted) > MAX_DELETED:
            del self._deleted[next(iter(self._deleted))]

    @staticmethod
    async def _call(listener: Listener, sid: str, record: SessionRecord | None) -> None:
        try:
            result = listener(sid, record)
            if inspect.isawaitable(result):
                await result
        except Exception:  # one broken listener must not blind the others
            log.exception("session listener failed", extra={"sid": sid})
