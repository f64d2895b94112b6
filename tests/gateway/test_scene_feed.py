"""The live SCENE feed on a real nats-server: a result read while `BEHIND` newer ones wait, and
stored `BEHIND_AGE_S` or longer ago, is superseded; a fresh burst from upstream is not."""

from __future__ import annotations

import asyncio
import time

from nats.js import JetStreamContext

from gateway.scene_feed import BEHIND_AGE_S, NatsSceneFeed, superseded
from shared import subjects
from tests.support import scene


async def read_four(js: JetStreamContext, clock_offset_s: float) -> list[tuple[int | None, bool]]:
    """Publish four results, let the feed read all of them from NATS before taking any (a gateway
    that has not got round to them yet), then take them with the clock `clock_offset_s` ahead."""
    feed = await NatsSceneFeed(js, 64, 100, clock=lambda: time.time() + clock_offset_s).open("s1")
    try:
        for seq in (1, 2, 3, 4):  # each is pushed to the feed as soon as it is stored: num_pending stays 0
            await js.publish(subjects.scene("s1"), scene.result(seq))
        got = []
        async with asyncio.timeout(10):
            while feed.last_seq[0] < 4:
                await asyncio.sleep(0.01)
            async for msg in feed.messages():
                got.append((msg.seq, msg.superseded))
                if len(got) == 4:
                    break
    finally:
        await feed.close()
    return got


async def test_results_that_waited_with_newer_ones_behind_them_are_superseded(js: JetStreamContext):
    # the hub skips the first two for every viewer at once; the last pair goes out
    assert await read_four(js, clock_offset_s=10.0) == [(1, True), (2, True), (3, False), (4, False)]


async def test_a_fresh_burst_from_upstream_is_not_superseded(js: JetStreamContext):
    # four results stored together (a detector catching up after a stall) and read at once
    assert await read_four(js, clock_offset_s=-10.0) == [(1, False), (2, False), (3, False), (4, False)]


def test_two_newer_messages_and_the_age_make_a_gateway_behind():
    assert not superseded(0, 60.0)
    assert not superseded(1, 60.0)  # a pair released together: both go out
    assert not superseded(5, BEHIND_AGE_S / 2)  # a fresh burst: all go out
    assert superseded(2, BEHIND_AGE_S) and superseded(9, 60.0)
