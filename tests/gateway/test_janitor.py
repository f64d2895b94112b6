"""The janitor with small in-memory fakes of its collaborators (the directory and the hubs).

The CAS writes themselves are the directory's (tested against real NATS in
test_sessions.py); here: who is swept, what is counted, which local streams
are closed with which code, and that a change seen by the watch closes only
what was open here.
"""

from __future__ import annotations

import time
from collections import Counter

from gateway.janitor import Janitor
from shared.errors import ErrorCode
from shared.sessions import SessionRecord


class FakeDirectory:
    def __init__(self, records: dict[str, SessionRecord], refuse: set[str] | None = None) -> None:
        self.records = records
        self.refuse = refuse or set()  # sessions touched concurrently: the CAS fails
        self.ended: list[tuple[str, ErrorCode, str, float | None]] = []

    async def touch(self, sid: str) -> None:
        pass

    async def end(self, sid: str, code: ErrorCode, message: str, only_if_idle_since: float | None = None) -> bool:
        if sid in self.refuse or sid not in self.records:
            return False
        self.ended.append((sid, code, message, only_if_idle_since))
        del self.records[sid]
        return True


class FakeStreams:
    def __init__(self) -> None:
        self.closed: list[tuple[str, str, str]] = []

    async def session_closed(self, sid: str, code: str, message: str) -> None:
        self.closed.append((sid, code, message))


def record(sid: str, idle_s: float, status: str = "active", error_code: str | None = None) -> SessionRecord:
    now = time.time()
    return SessionRecord(
        sid=sid, token_hash="0" * 64, last_active_at=now - idle_s, status=status, error_code=error_code
    )  # type: ignore[call-arg]


def janitor(directory: FakeDirectory, streams: FakeStreams, forgotten: list[str], counters: Counter[str]) -> Janitor:
    return Janitor(directory, streams, forgotten.append, session_ttl_s=60, interval_s=1, counters=counters)


async def test_sweep_ends_only_idle_sessions_and_counts_them():
    directory = FakeDirectory({"busy": record("busy", 5), "idle": record("idle", 120), "raced": record("raced", 300)})
    directory.refuse = {"raced"}  # touched by someone else between the read and the write
    streams, forgotten, counters = FakeStreams(), [], Counter[str]()
    ended = await janitor(directory, streams, forgotten, counters).sweep()
    assert ended == 1 and counters["sessions_expired"] == 1
    ((sid, code, message, cutoff),) = directory.ended
    assert (sid, code, message) == ("idle", ErrorCode.SESSION_EXPIRED, "session expired (idle)")
    assert cutoff is not None and cutoff <= time.time() - 60
    assert streams.closed == [("idle", ErrorCode.SESSION_EXPIRED, "session expired (idle)")]
    assert forgotten == ["idle"]


async def test_end_session_closes_local_streams_only_when_it_ended_the_session():
    directory = FakeDirectory({"s1": record("s1", 0)})
    streams, forgotten = FakeStreams(), []
    jan = janitor(directory, streams, forgotten, Counter())
    assert await jan.end_session("s1", ErrorCode.SESSION_CLOSED)
    assert not await jan.end_session("s1", ErrorCode.SESSION_CLOSED)  # already gone
    assert streams.closed == [("s1", ErrorCode.SESSION_CLOSED, "session closed")] and forgotten == ["s1"]


async def test_a_change_seen_by_the_watch_closes_what_was_open_here():
    streams, forgotten = FakeStreams(), []
    jan = janitor(FakeDirectory({}), streams, forgotten, Counter())
    await jan.on_change("a", record("a", 0), None)  # created: nothing to close
    await jan.on_change("b", record("b", 0, status="closed", error_code="SESSION_EXPIRED"), record("b", 0))
    await jan.on_change("c", None, record("c", 0))  # deleted elsewhere while open here
    await jan.on_change("d", None, None)  # deleted, never seen here
    await jan.on_change("e", None, record("e", 0, status="closed"))  # already closed here
    assert streams.closed == [
        ("b", ErrorCode.SESSION_EXPIRED, "session expired (idle)"),
        ("c", ErrorCode.SESSION_CLOSED, "session closed"),
    ]
    assert forgotten == ["b", "c"]
