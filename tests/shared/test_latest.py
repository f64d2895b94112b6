"""The one "latest wins" slot: newest wins, every replaced item counted and reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shared.latest import LatestSlot


async def test_newest_wins_and_replacements_are_counted_and_reported() -> None:
    replaced: list[int] = []
    slot: LatestSlot[int] = LatestSlot(replaced.append)
    assert slot.put(0)
    assert [slot.put(i) for i in range(1, 5)] == [False] * 4
    assert await slot.get(0.1) == 4
    assert replaced == [0, 1, 2, 3] and slot.replaced == 4
    assert await slot.get(0.05) is None


async def test_get_wakes_on_put_from_another_thread_and_on_close() -> None:
    slot: LatestSlot[str] = LatestSlot()
    loop = asyncio.get_running_loop()
    waiter = asyncio.create_task(slot.get(5))
    await asyncio.to_thread(lambda: loop.call_soon_threadsafe(slot.put, "frame"))
    assert await waiter == "frame"
    closing = asyncio.create_task(slot.get(5))
    slot.close()
    assert await closing is None and slot.closed
    assert not slot.put("late")
    assert await slot.get(0.01) is None


async def test_an_item_waiting_at_close_is_still_delivered() -> None:
    slot: LatestSlot[str] = LatestSlot()
    slot.put("last")
    slot.close()
    assert await slot.get(5) == "last"
    assert await slot.get(5) is None


async def test_take_and_evict_for_a_consumer_that_reads_when_it_may() -> None:
    skipped: list[str] = []
    slot: LatestSlot[str] = LatestSlot(skipped.append)
    assert slot.take() is None and not slot.pending
    slot.put("a")
    assert slot.pending and slot.take() == "a" and not slot.pending
    slot.put("b")
    assert slot.evict() == "b" and skipped == ["b"] and slot.replaced == 1
    assert slot.evict() is None and slot.replaced == 1
    assert await slot.get(0.01) is None  # an evicted item is not delivered


def test_take_if_asks_only_when_something_waits_and_takes_only_when_allowed() -> None:
    slot: LatestSlot[int] = LatestSlot()
    asked: list[bool] = []

    def allowed(answer: bool) -> Callable[[], bool]:
        def ask() -> bool:
            asked.append(answer)
            return answer

        return ask

    assert slot.take_if(allowed(True)) is None and asked == []  # nothing waits: the token is not spent
    slot.put(7)
    assert slot.take_if(allowed(False)) is None and slot.pending  # refused: still waiting
    assert slot.take_if(allowed(True)) == 7 and not slot.pending
    assert asked == [False, True]
