"""The bounded in-flight set: slots, waiting for a slot, bounded shutdown."""

from __future__ import annotations

import asyncio

from workers.inflight import InFlight


async def test_slots_free_up_as_tasks_finish() -> None:
    inflight = InFlight(2)
    release = asyncio.Event()

    async def job() -> None:
        await release.wait()

    inflight.spawn(job())
    inflight.spawn(job())
    assert inflight.free == 0 and len(inflight) == 2
    release.set()
    await inflight.wait_for_slot(5)
    assert inflight.free >= 1
    assert await inflight.finish(5) == 0 and len(inflight) == 0


async def test_finish_cancels_stragglers_after_the_timeout() -> None:
    inflight = InFlight(1)
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    inflight.spawn(stuck())
    assert await inflight.finish(0.05) == 1
    assert len(inflight) == 0
