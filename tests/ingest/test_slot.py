"""The one-frame slot between a capture thread and the publisher: newest wins, drops counted."""

from __future__ import annotations

import asyncio

from ingest.slot import LatestSlot


async def test_newest_wins_and_overwrites_are_counted() -> None:
    dropped: list[int] = []
    slot: LatestSlot[int] = LatestSlot(lambda: dropped.append(1))
    for i in range(5):
        slot.put(i)
    assert await slot.get(0.1) == 4
    assert len(dropped) == 4
    assert await slot.get(0.05) is None


async def test_get_wakes_on_put_from_another_thread_and_on_close() -> None:
    slot: LatestSlot[str] = LatestSlot(lambda: None)
    loop = asyncio.get_running_loop()
    waiter = asyncio.create_task(slot.get(5))
    await asyncio.to_thread(lambda: loop.call_soon_threadsafe(slot.put, "frame"))
    assert await waiter == "frame"
    closing = asyncio.create_task(slot.get(5))
    slot.close()
    assert await closing is None and slot.closed
    slot.put("late")
    assert await slot.get(0.01) is None
