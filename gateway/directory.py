"""The session directory of one gateway process: the sw-sessions store and this process's mirror of it.

Every replica can serve every session, so the record lives in the KV bucket;
what this process keeps is a mirror (`records`, fed by a watch of the bucket,
for `/stream/stats` and the janitor's sweep), the throttle of activity writes
(`touch`), and the two-step ending of a session (`end`). Changes seen by the
watch go to one listener (the janitor), which closes local streams of sessions
ended elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from nats.js.errors import KeyWrongLastSequenceError

from shared.errors import ErrorCode
from shared.sessions import SessionRecord, SessionStore, open_watcher

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

WATCH_RETRY_S = 1.0

# (sid, the record now or None if deleted, the record this process knew before)
ChangeListener = Callable[[str, SessionRecord | None, SessionRecord | None], Awaitable[None]]


class SessionDirectory:
    """Store + mirror + touch + watch of the sw-sessions bucket."""

    def __init__(self, store: SessionStore, settings: GatewaySettings) -> None:
        self.store = store
        self.settings = settings
        self.records: dict[str, SessionRecord] = {}  # mirror of sw-sessions, fed by the watch
        self._touched: dict[str, float] = {}

    # ---- reads and writes ----

    async def get(self, sid: str) -> tuple[SessionRecord, int] | None:
        return await self.store.get(sid)

    def watch(self) -> AsyncIterator[tuple[str, SessionRecord | None]]:
        """Every current record, then each change (None = deleted): what the hubs follow."""
        return self.store.watch()

    async def create(self, record: SessionRecord) -> None:
        await self.store.create(record)
        self.records[record.sid] = record

    async def update(self, sid: str, change: Callable[[SessionRecord], SessionRecord]) -> SessionRecord | None:
        stored = await self.store.update(sid, change)
        if stored is not None:
            self.records[sid] = stored
        return stored

    async def end(self, sid: str, code: ErrorCode, message: str, only_if_idle_since: float | None = None) -> bool:
        """Close then delete a session; False if it was gone, or touched after `only_if_idle_since`.

        Both writes are compare-and-set on the revision the decision was based on, so a
        concurrent touch or a second janitor wins. A record left `closed` but not deleted
        (a replica died between the two writes) is deleted by the next sweep.
        """
        found = await self.store.get(sid)
        if found is None:
            return False
        record, revision = found
        if only_if_idle_since is not None and record.last_active_at >= only_if_idle_since:
            return False
        kv = self.store.kv
        try:
            if record.status != "closed":
                update = {"status": "closed", "error_code": code.value, "error_message": message}
                closed = record.model_copy(update=update)
                revision = await kv.update(sid, closed.to_bytes(), last=revision)
            await kv.delete(sid, last=revision)
        except KeyWrongLastSequenceError:
            return False  # touched or ended concurrently: that writer wins
        return True

    @property
    def open_sessions(self) -> int:
        return sum(1 for record in self.records.values() if record.status != "closed")

    # ---- activity ----

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
            await self.store.update(sid, _mark_active)
        except Exception as exc:  # NATS errors of many kinds; a later touch retries
            log.warning("session touch failed", extra={"sid": sid, "error": repr(exc)})

    def forget(self, sid: str) -> None:
        """Drop this process's activity state of a session that has ended."""
        self._touched.pop(sid, None)

    # ---- the watch ----

    async def follow(self, listener: ChangeListener) -> None:
        """Mirror sw-sessions for the life of the process, resubscribing after errors."""
        while True:
            try:
                await self._watch_once(listener)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # watcher broken by a reconnect: start a fresh one
                log.warning("session watch failed", extra={"error": repr(exc)})
            await asyncio.sleep(WATCH_RETRY_S)

    async def apply(self, sid: str, record: SessionRecord | None, listener: ChangeListener) -> None:
        """Mirror one change, then tell the listener what it was."""
        previous = self.records.pop(sid, None) if record is None else self.records.get(sid)
        if record is not None:
            self.records[sid] = record
        await listener(sid, record, previous)

    async def _watch_once(self, listener: ChangeListener) -> None:
        """Initial values first: sessions that vanished while no watch ran are closed too."""
        watcher = await open_watcher(self.store.kv)
        seen: set[str] | None = set()
        try:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    if seen is not None:
                        for sid in set(self.records) - seen:
                            await self.apply(sid, None, listener)
                    seen = None
                    continue
                deleted = entry.operation in ("DEL", "PURGE") or not entry.value
                record = None if deleted else _parse(entry.value)
                if seen is not None and record is not None:
                    seen.add(entry.key)
                await self.apply(entry.key, record, listener)
        finally:
            await watcher.stop()


def _mark_active(record: SessionRecord) -> SessionRecord:
    if record.status == "closed":
        return record
    return record.model_copy(update={"last_active_at": time.time()})


def _parse(value: bytes) -> SessionRecord | None:
    try:
        return SessionRecord.from_bytes(value)
    except ValueError:
        log.warning("unreadable session record in sw-sessions")
        return None
