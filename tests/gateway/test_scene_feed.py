"""The live SCENE feed on a real nats-server: a result read while `BEHIND` newer ones wait is superseded."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from gateway.scene_feed import NatsSceneFeed, superseded
from shared import subjects
from tests.support import scene


async def test_results_with_newer_ones_already_read_into_the_feed_are_superseded(js: JetStreamContext):
    feed = await NatsSceneFeed(js, 64, 100).open("s1")
    try:
        for seq in (1, 2, 3, 4):  # each is pushed to the feed as soon as it is stored: num_pending stays 0
            await js.publish(subjects.scene("s1"), scene.result(seq))
        async with asyncio.timeout(10):
            while feed.last_seq[0] < 4:  # all four read from NATS, none taken yet (a gateway behind)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            got = []
            async for msg in feed.messages():
                got.append((msg.seq, msg.superseded))
                if len(got) == 4:
                    break
    finally:
        await feed.close()
    # the hub skips the first two for every viewer at once; the last pair goes out (a burst of two is
    # what the scene stage's reorder window releases, not a gateway falling behind)
    assert got == [(1, True), (2, True), (3, False), (4, False)]


def test_one_newer_message_waiting_is_a_pair_and_two_are_a_gateway_behind():
    assert not superseded(0, 0)
    assert not superseded(1, 0) and not superseded(0, 1)  # a pair released together: both go out
    assert superseded(2, 0) and superseded(0, 2) and superseded(5, 1)
