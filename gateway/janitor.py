"""Session endings: DELETE, idle expiry, and endings done by another replica.

Any replica may end any session. The ending is two compare-and-set KV writes
(`Directory.end`): first the record is marked `closed` with the reason (so every
watcher, ingest included, learns *why*), then it is deleted. A concurrent touch
or a second janitor makes the CAS fail, and the session is left alone. Every
replica watches the bucket and closes its local streams (with a final event)
when a session it serves is closed or deleted elsewhere (`on_change`).

The janitor is given its collaborators (the directory, the hubs as a
`StreamCloser`, what else to forget about an ended session), so it is tested
with small in-memory fakes of those interfaces.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from gateway.ports import Directory, StreamCloser
from shared.errors import ErrorCode
from shared.loops import every
from shared.sessions import SessionRecord

log = logging.getLogger(__name__)

MESSAGES = {
    ErrorCode.SESSION_EXPIRED: "session expired (idle)",
    ErrorCode.SESSION_CLOSED: "session closed",
}


class Janitor:
    def __init__(
        self,
        directory: Directory,
        streams: StreamCloser,
        forget: Callable[[str], None],
        session_ttl_s: float,
        interval_s: float,
        counters: Counter[str],
    ) -> None:
        self.directory = directory
        self.streams = streams
        self.forget = forget
        self.session_ttl_s = session_ttl_s
        self.interval_s = interval_s
        self.counters = counters

    async def end_session(self, sid: str, code: ErrorCode, only_if_idle_since: float | None = None) -> bool:
        """End a session everywhere; False if it was gone or touched after `only_if_idle_since`."""
        if not await self.directory.end(sid, code, MESSAGES[code], only_if_idle_since):
            return False
        await self._close_local(sid, code)
        log.info("session ended", extra={"sid": sid, "code": code.value})
        return True

    async def sweep(self, now: float | None = None) -> int:
        """End every session idle for longer than the TTL; returns how many this replica ended."""
        cutoff = (time.time() if now is None else now) - self.session_ttl_s
        idle = [sid for sid, rec in list(self.directory.records.items()) if rec.last_active_at < cutoff]
        ended = 0
        for sid in idle:
            if await self.end_session(sid, ErrorCode.SESSION_EXPIRED, only_if_idle_since=cutoff):
                ended += 1
                self.counters["sessions_expired"] += 1
        return ended

    async def run(self) -> None:
        """Sweep forever; a failed sweep (NATS blip) is logged once and retried after a backoff."""
        await every(self.interval_s, self.sweep, "session sweep")

    async def on_change(self, sid: str, record: SessionRecord | None, previous: SessionRecord | None) -> None:
        """A change seen by the directory's watch: close local streams of a session ended elsewhere."""
        was_open = previous is not None and previous.status != "closed"
        if record is not None and record.status != "closed":
            return
        if record is None and not was_open:
            return  # already closed here (or never seen): nothing is open locally
        code = ErrorCode.SESSION_CLOSED
        if record is not None and record.error_code and record.error_code in ErrorCode.__members__:
            code = ErrorCode(record.error_code)
        await self._close_local(sid, code)

    async def _close_local(self, sid: str, code: ErrorCode) -> None:
        self.forget(sid)
        await self.streams.session_closed(sid, code, MESSAGES.get(code, "session closed"))
