"""HubRegistry with small in-memory fakes of its collaborators: a scene feed and a session source.

No NATS here (test_hub.py runs the same registry on the real server): these
tests pin the hub's own rules (sharing, feed failure, resume overlap, config)
exactly, with messages handed in by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from gateway.fanout import OutMessage
from gateway.hub import HubRegistry
from gateway.settings import GatewaySettings
from shared.session_watcher import Listener
from shared.sessions import SessionConfig, SessionRecord
from tests.support import scene

_END = object()


class FakeLiveFeed:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.closed = False

    async def messages(self) -> AsyncIterator[OutMessage]:
        while (item := await self.queue.get()) is not _END:
            assert isinstance(item, OutMessage)
            yield item

    async def close(self) -> None:
        self.closed = True


class FakeFeed:
    def __init__(self) -> None:
        self.live: dict[str, FakeLiveFeed] = {}
        self.stored: list[OutMessage] = []

    async def open(self, sid: str) -> FakeLiveFeed:
        self.live[sid] = FakeLiveFeed()
        return self.live[sid]

    async def resumable(self, last_event_id: int) -> bool:
        return 0 <= last_event_id <= max((m.event_id for m in self.stored), default=0)

    async def replay(self, sid: str, after: int) -> AsyncIterator[OutMessage]:
        for msg in self.stored:
            if msg.event_id > after:
                yield msg

    def publish(self, sid: str, event_id: int, body: bytes) -> OutMessage:
        msg = OutMessage.from_json(event_id, body)
        self.stored.append(msg)
        self.live[sid].queue.put_nowait(msg)
        return msg


class FakeSessions:
    """Records to read, and listeners told of changes (as the process's session watcher tells them)."""

    def __init__(self, *records: SessionRecord) -> None:
        self.records = {r.sid: r for r in records}
        self.listeners: list[Listener] = []

    async def get(self, sid: str) -> tuple[SessionRecord, int] | None:
        record = self.records.get(sid)
        return (record, 1) if record is not None else None

    async def subscribe(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    async def change(self, sid: str, record: SessionRecord | None) -> None:
        for listener in list(self.listeners):
            result = listener(sid, record)
            if result is not None:
                await result


def session(sid: str, fps: int = 30) -> SessionRecord:
    return SessionRecord(sid=sid, token_hash="0" * 64, config=SessionConfig(fps_limit=fps))


def settings() -> GatewaySettings:
    return GatewaySettings(nats_url="nats://127.0.0.1:1", hub_grace_s=0.05)  # never connected here


async def test_every_viewer_gets_the_one_message_and_a_dead_feed_ends_their_streams():
    feed, sessions = FakeFeed(), FakeSessions(session("s1"))
    hubs = HubRegistry(settings(), feed, sessions)
    await hubs.start()
    async with hubs.subscribe("s1", "sse", 30) as a, hubs.subscribe("s1", "ws", 30) as b:
        sent = feed.publish("s1", 4, scene.result(1))
        assert await a.next(5) is sent and await b.next(5) is sent
        feed.live["s1"].queue.put_nowait(_END)  # the subscription died
        final_a, final_b = await a.next(5), await b.next(5)
    assert final_a is not None and final_a.kind == "closed" and final_a.payload["error_code"] == "UNAVAILABLE"
    assert final_b is final_a
    async with asyncio.timeout(5):  # the hub then closes its feed
        while not feed.live["s1"].closed:
            await asyncio.sleep(0.01)
    assert hubs.global_stats()["sessions"] == 0
    await hubs.close()


async def test_unknown_or_closed_sessions_get_a_final_event_at_once():
    hubs = HubRegistry(settings(), FakeFeed(), FakeSessions())
    async with hubs.subscribe("nope", "sse", 30) as sub:
        msg = await sub.next(1)
    assert msg is not None and msg.kind == "closed" and msg.payload["error_code"] == "SESSION_CLOSED"


async def test_resume_overlapping_the_live_feed_has_no_gap_and_no_duplicate():
    feed, sessions = FakeFeed(), FakeSessions(session("s1"))
    hubs = HubRegistry(settings(), feed, sessions)
    async with hubs.subscribe("s1", "sse", 30) as first:
        feed.publish("s1", 1, scene.result(1))
        assert (await first.next(5)) is not None
        for n in range(2, 5):  # the viewer is away for these...
            feed.publish("s1", n, scene.result(n))
        async with hubs.subscribe("s1", "sse", 30, last_event_id=1) as resumed:
            feed.publish("s1", 5, scene.result(5))  # ...and this one is both live and stored
            got = [await resumed.next(5) for _ in range(4)]
            assert await resumed.next(0.05) is None
    assert [m.event_id for m in got if m is not None] == [2, 3, 4, 5]


async def test_a_session_fps_change_from_the_watch_reaches_every_viewer():
    feed, sessions = FakeFeed(), FakeSessions(session("s1", fps=20))
    hubs = HubRegistry(settings(), feed, sessions)
    await hubs.start()
    async with hubs.subscribe("s1", "sse", 30) as sub:
        assert sub.delivery_fps == 20
        await sessions.change("s1", session("s1", fps=2))
        assert sub.delivery_fps == 2
        await sessions.change("s1", None)  # deleted elsewhere
        final = await sub.next(5)
    assert final is not None and final.kind == "closed"
    await hubs.close()
    assert sessions.listeners == []  # a closed registry follows nothing


async def test_a_result_already_superseded_in_the_stream_is_skipped_for_everyone_at_once():
    feed, sessions = FakeFeed(), FakeSessions(session("s1"))
    hubs = HubRegistry(settings(), feed, sessions)
    async with hubs.subscribe("s1", "sse", 30) as a, hubs.subscribe("s1", "ws", 30) as b:
        live = feed.live["s1"].queue
        for event_id, body, behind in (
            (1, scene.result(1), True),  # read while newer messages waited: nobody will see it
            (2, scene.error("2"), True),  # errors and events always go out
            (0, scene.event("s1", "zone_enter", "ev-1"), True),
            (3, scene.result(3), False),
        ):
            msg = OutMessage.from_json(event_id, body)
            msg.superseded = behind
            live.put_nowait(msg)
        got_a = [await a.next(5) for _ in range(3)]
        got_b = [await b.next(5) for _ in range(3)]
        assert await a.next(0.05) is None
        stats = hubs.session_stats("s1")
    assert [(m.kind, m.event_id) for m in got_a if m] == [("error", 2), ("event", 0), ("detection_result", 3)]
    assert got_b == got_a
    assert stats["results"] == 2 and stats["coalesced"] == 1 and stats["skipped"] == 2  # one result, two viewers
