"""SessionWatcher with a small in-memory change feed: fan-out, ready, restarts, local publishes.

The feed plays rounds of a watch: initial values, the end marker (None), then
live changes until it is told to break. The real bucket behind it is tested in
test_sessions.py; here the watcher's own rules are pinned exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from shared.loops import Backoff
from shared.session_watcher import SessionWatcher
from shared.sessions import Change, SessionConfig, SessionRecord


class Broken(Exception):
    pass


class FakeFeed:
    """Each `changes()` call is one watch: the next initial round, then live items (an exception breaks it)."""

    def __init__(self) -> None:
        self.rounds: asyncio.Queue[list[Change]] = asyncio.Queue()
        self.live: asyncio.Queue[Change | Exception] = asyncio.Queue()
        self.opened = 0

    async def changes(self) -> AsyncIterator[Change | None]:
        self.opened += 1
        for change in await self.rounds.get():
            yield change
        yield None
        while True:
            item = await self.live.get()
            if isinstance(item, Exception):
                raise item
            yield item


def rec(sid: str, fps: int = 10) -> SessionRecord:
    config = SessionConfig(fps_limit=fps)
    return SessionRecord(sid=sid, token_hash="0" * 64, config=config, created_at=0, last_active_at=0)


def seen_by(log: list[tuple[str, int | None]]):  # type: ignore[no-untyped-def]
    def listener(sid: str, record: SessionRecord | None) -> None:
        log.append((sid, record.config.fps_limit if record is not None else None))

    return listener


async def until(predicate, timeout_s: float = 5) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_initial_values_then_ready_then_changes_reach_every_listener() -> None:
    feed, sync_log, async_log = FakeFeed(), [], []
    watcher = SessionWatcher(feed, Backoff(0.01, 0.02))

    async def async_listener(sid: str, record: SessionRecord | None) -> None:
        await asyncio.sleep(0)
        async_log.append((sid, record.config.fps_limit if record else None))

    await watcher.subscribe(seen_by(sync_log))
    await watcher.subscribe(async_listener)
    feed.rounds.put_nowait([Change("a", rec("a", 5), 1), Change("b", rec("b", 6), 2)])
    task = asyncio.create_task(watcher.run())
    assert await watcher.wait_ready(5)
    assert sync_log == [("a", 5), ("b", 6)]
    feed.live.put_nowait(Change("a", rec("a", 7), 3))
    feed.live.put_nowait(Change("b", None, 4))
    await until(lambda: len(async_log) == 4)
    assert sync_log == async_log == [("a", 5), ("b", 6), ("a", 7), ("b", None)]
    assert watcher.records == {"a": rec("a", 7)}
    task.cancel()


async def test_ready_waits_for_the_end_of_the_initial_values() -> None:
    feed = FakeFeed()
    watcher = SessionWatcher(feed)
    task = asyncio.create_task(watcher.run())
    assert not await watcher.wait_ready(0.05)  # no initial round yet: the watch has not opened
    feed.rounds.put_nowait([])
    assert await watcher.wait_ready(5)  # an empty bucket is ready at once
    task.cancel()


async def test_a_late_listener_first_gets_the_current_records() -> None:
    feed, late = FakeFeed(), []
    watcher = SessionWatcher(feed)
    feed.rounds.put_nowait([Change("a", rec("a", 5), 1), Change("b", rec("b"), 2)])
    task = asyncio.create_task(watcher.run())
    await watcher.wait_ready(5)
    feed.live.put_nowait(Change("b", None, 3))
    await until(lambda: "b" not in watcher.records)
    async with watcher.subscribed(seen_by(late)):
        feed.live.put_nowait(Change("a", rec("a", 9), 4))
        await until(lambda: len(late) == 2)
    feed.live.put_nowait(Change("a", rec("a", 1), 5))  # unsubscribed: not delivered
    await until(lambda: watcher.records["a"].config.fps_limit == 1)
    assert late == [("a", 5), ("a", 9)]
    task.cancel()


async def test_a_restart_delivers_only_what_changed_and_the_deletes_it_missed() -> None:
    feed, log = FakeFeed(), []
    watcher = SessionWatcher(feed, Backoff(0.01, 0.02))
    await watcher.subscribe(seen_by(log))
    feed.rounds.put_nowait([Change("same", rec("same"), 1), Change("changed", rec("changed", 5), 2)])
    feed.rounds.put_nowait([Change("same", rec("same"), 1), Change("changed", rec("changed", 6), 7)])
    task = asyncio.create_task(watcher.run())
    await watcher.wait_ready(5)
    feed.live.put_nowait(Change("gone", rec("gone", 4), 3))  # created live; not in the second round
    await until(lambda: "gone" in watcher.records)
    log.clear()
    feed.live.put_nowait(Broken("nats reconnecting"))  # the watch breaks; `gone` is deleted meanwhile
    await until(lambda: feed.opened == 2 and "gone" not in watcher.records)
    assert sorted(log) == [("changed", 6), ("gone", None)]  # `same` is not delivered again
    task.cancel()


async def test_a_published_write_applies_at_once_and_is_not_delivered_again() -> None:
    feed, log = FakeFeed(), []
    watcher = SessionWatcher(feed)
    await watcher.subscribe(seen_by(log))
    feed.rounds.put_nowait([Change("a", rec("a", 5), 1)])
    task = asyncio.create_task(watcher.run())
    await watcher.wait_ready(5)
    await watcher.publish(Change("a", rec("a", 8), 3))  # written here: every listener has it now
    assert log == [("a", 5), ("a", 8)]
    feed.live.put_nowait(Change("a", rec("a", 6), 2))  # an older write arriving late: not a step back
    feed.live.put_nowait(Change("a", rec("a", 8), 3))  # the watch's copy of ours: already delivered
    feed.live.put_nowait(Change("a", rec("a", 9), 4))
    await until(lambda: watcher.records["a"].config.fps_limit == 9)
    assert log == [("a", 5), ("a", 8), ("a", 9)]
    feed.live.put_nowait(Change("a", None, 5))
    await until(lambda: "a" not in watcher.records)
    await watcher.publish(Change("a", rec("a", 9), 4))  # an update that lost the race with the delete
    assert "a" not in watcher.records and log[-1] == ("a", None)
    task.cancel()


async def test_a_failing_listener_does_not_blind_the_others() -> None:
    feed, log = FakeFeed(), []
    watcher = SessionWatcher(feed)

    def broken(sid: str, record: SessionRecord | None) -> None:
        raise RuntimeError("listener bug")

    await watcher.subscribe(broken)
    await watcher.subscribe(seen_by(log))
    feed.rounds.put_nowait([Change("a", rec("a", 5), 1)])
    task = asyncio.create_task(watcher.run())
    await watcher.wait_ready(5)
    assert log == [("a", 5)]
    task.cancel()


async def test_run_returns_when_stop_is_set_even_between_retries() -> None:
    feed = FakeFeed()
    watcher = SessionWatcher(feed, Backoff(30, 30))
    stop = asyncio.Event()
    feed.rounds.put_nowait([])
    task = asyncio.create_task(watcher.run(stop))
    await watcher.wait_ready(5)
    feed.live.put_nowait(Broken("gone"))
    await until(lambda: feed.opened == 1 and feed.live.empty())
    stop.set()  # waiting out a 30 s backoff now
    await asyncio.wait_for(task, 2)
