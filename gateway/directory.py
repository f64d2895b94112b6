"""The session directory of one gateway process: the sw-sessions store and this process's mirror of it.

Every replica can serve every session, so the record lives in the KV bucket;
what this process keeps is a mirror (`records`, for `/stream/stats` and the
janitor's sweep, fed by `mirror` from the process's one `SessionWatcher`), the
throttle of activity writes (`touch`), and the two-step ending of a session
(`end`). A record this process creates or changes is handed to the watcher at
once (`publish`), so it takes effect here (mirror, hubs) through the same path
as a change made by another replica, whichever API made it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from nats.js.errors import KeyWrongLastSequenceError

from shared.errors import ErrorCode
from shared.session_watcher import Listener, SessionWatcher
from shared.sessions import Change, SessionRecord, SessionStore

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class SessionDirectory:
    """Store + mirror + touch + watch of the sw-sessions bucket."""

    def __init__(self, store: SessionStore, watcher: SessionWatcher, settings: GatewaySettings) -> None:
        self.store = store
        self.watcher = watcher
        self.settings = settings
        self.records: dict[str, SessionRecord] = {}  # mirror of sw-sessions, fed by the watch
        self._touched: dict[str, float] = {}

    # ---- reads and writes ----

    async def get(self, sid: str) -> tuple[SessionRecord, int] | None:
        return await self.store.get(sid)

    async def subscribe(self, listener: Listener) -> Callable[[], None]:
        """The current records, then each change (None = deleted): what the hubs follow."""
        return await self.watcher.subscribe(listener)

    async def create(self, record: SessionRecord) -> None:
        revision = await self.store.create(record)
        await self.watcher.publish(Change(record.sid, record, revision))

    async def update(self, sid: str, change: Callable[[SessionRecord], SessionRecord]) -> SessionRecord | None:
        """Change a record (compare-and-set); it takes effect in this process before this returns."""
        stored = await self.store.update_revision(sid, change)
        if stored is None:
            return None
        await self.watcher.publish(stored)
        return stored.record

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

    # ---- the mirror ----

    def mirror(self, sid: str, record: SessionRecord | None) -> SessionRecord | None:
        """Mirror one change seen by the watcher; returns the record this process knew before."""
        previous = self.records.pop(sid, None) if record is None else self.records.get(sid)
        if record is not None:
            self.records[sid] = record
        return previous


def _mark_active(record: SessionRecord) -> SessionRecord:
    if record.status == "closed":
        return record
    return record.model_copy(update={"last_active_at": time.time()})
