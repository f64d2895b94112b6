"""Session endings: DELETE, idle expiry, and endings done by another replica.

Any replica may end any session. The ending is two KV writes, both
compare-and-set on the revision the decision was based on: first the record is
marked `closed` with the reason (so every watcher, ingest included, learns
*why*), then it is deleted. A concurrent touch or a second janitor makes the
CAS fail, and the session is left alone. Every replica watches the bucket and
closes its local result streams (with a final event) when a session it serves
is closed or deleted elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from nats.js.errors import KeyWrongLastSequenceError

from shared.errors import ErrorCode
from shared.sessions import SessionRecord, open_watcher

if TYPE_CHECKING:
    from gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

WATCH_RETRY_S = 1.0
MESSAGES = {
    ErrorCode.SESSION_EXPIRED: "session expired (idle)",
    ErrorCode.SESSION_CLOSED: "session closed",
}


async def end_session(
    runtime: GatewayRuntime, sid: str, code: ErrorCode, only_if_idle_since: float | None = None
) -> bool:
    """Close then delete a session; False if it was gone, or touched after `only_if_idle_since`.

    A record left `closed` but not deleted (a replica died between the two
    writes) is deleted by the next sweep.
    """
    found = await runtime.sessions.get(sid)
    if found is None:
        return False
    record, revision = found
    if only_if_idle_since is not None and record.last_active_at >= only_if_idle_since:
        return False
    kv = runtime.sessions.kv
    try:
        if record.status != "closed":
            closed = record.model_copy(
                update={"status": "closed", "error_code": code.value, "error_message": MESSAGES[code]}
            )
            revision = await kv.update(sid, closed.to_bytes(), last=revision)
        await kv.delete(sid, last=revision)
    except KeyWrongLastSequenceError:
        return False  # touched or ended concurrently: that writer wins
    await _close_local(runtime, sid, code)
    log.info("session ended", extra={"sid": sid, "code": code.value})
    return True


async def _close_local(runtime: GatewayRuntime, sid: str, code: ErrorCode) -> None:
    runtime.forget(sid)
    await runtime.hubs.session_closed(sid, code, MESSAGES.get(code, "session closed"))


async def sweep(runtime: GatewayRuntime, now: float | None = None) -> int:
    """End every session idle for longer than the TTL; returns how many this replica ended."""
    cutoff = (time.time() if now is None else now) - runtime.settings.session_ttl_s
    idle = [sid for sid, rec in list(runtime.records.items()) if rec.last_active_at < cutoff]
    ended = 0
    for sid in idle:
        if await end_session(runtime, sid, ErrorCode.SESSION_EXPIRED, only_if_idle_since=cutoff):
            ended += 1
            runtime.counters["sessions_expired"] += 1
    return ended


async def run_janitor(runtime: GatewayRuntime) -> None:
    """Sweep forever; one failed sweep (NATS blip) is logged and retried next round."""
    while True:
        await asyncio.sleep(runtime.settings.janitor_interval_s)
        try:
            await sweep(runtime)
        except Exception as exc:  # the janitor must outlive transient NATS errors
            log.warning("session sweep failed", extra={"error": repr(exc)})


async def apply_change(runtime: GatewayRuntime, sid: str, record: SessionRecord | None) -> None:
    """Mirror one KV change; close local streams of a session that was ended elsewhere."""
    previous = runtime.records.pop(sid, None) if record is None else runtime.records.get(sid)
    if record is not None:
        runtime.records[sid] = record
    was_open = previous is not None and previous.status != "closed"
    if record is not None and record.status != "closed":
        return
    if record is None and not was_open:
        return  # already closed here (or never seen): nothing is open locally
    code = ErrorCode.SESSION_CLOSED
    if record is not None and record.error_code and record.error_code in ErrorCode.__members__:
        code = ErrorCode(record.error_code)
    await _close_local(runtime, sid, code)


async def watch_sessions(runtime: GatewayRuntime) -> None:
    """Follow sw-sessions for the life of the process, resubscribing after errors."""
    while True:
        try:
            await _watch_once(runtime)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # watcher broken by a reconnect: start a fresh one
            log.warning("session watch failed", extra={"error": repr(exc)})
        await asyncio.sleep(WATCH_RETRY_S)


async def _watch_once(runtime: GatewayRuntime) -> None:
    """Initial values first: sessions that vanished while no watch ran are closed too."""
    watcher = await open_watcher(runtime.sessions.kv)
    seen: set[str] | None = set()
    try:
        async for entry in watcher:
            if entry is None:  # end of the initial values
                if seen is not None:
                    for sid in set(runtime.records) - seen:
                        await apply_change(runtime, sid, None)
                seen = None
                continue
            deleted = entry.operation in ("DEL", "PURGE") or not entry.value
            record = None if deleted else _parse(entry.value)
            if seen is not None and record is not None:
                seen.add(entry.key)
            await apply_change(runtime, entry.key, record)
    finally:
        await watcher.stop()


def _parse(value: bytes) -> SessionRecord | None:
    try:
        return SessionRecord.from_bytes(value)
    except ValueError:
        log.warning("unreadable session record in sw-sessions")
        return None
