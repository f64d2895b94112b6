"""Heartbeats go out now and every interval until stopped; listeners decode them and count the malformed."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS

from shared import subjects
from shared.envelopes import Heartbeat, now_ns
from shared.heartbeat import HeartbeatListener, beat_every
from shared.telemetry import DropReason


async def test_beats_reach_a_listener_until_stopped(nc: NATS) -> None:
    heard: list[Heartbeat] = []
    listener = HeartbeatListener(nc, "sw.heartbeat.detector.*", heard.append)
    await listener.start()
    count = 0

    def beat() -> Heartbeat:
        nonlocal count
        count += 1
        return Heartbeat("detector", "d1", now_ns(), processed=count, dropped={DropReason.STALE: count})

    stop = asyncio.Event()
    task = asyncio.create_task(beat_every(nc, beat, 0.05, stop))
    async with asyncio.timeout(10):
        while len(heard) < 3:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    await nc.publish(subjects.heartbeat("detector", "d2"), b"not a heartbeat")
    await nc.publish(subjects.heartbeat("depth", "p1"), beat().to_bytes())  # another subject: not heard
    await nc.flush()
    async with asyncio.timeout(10):
        while listener.malformed == 0:
            await asyncio.sleep(0.01)
    await listener.stop()
    assert [hb.processed for hb in heard[:3]] == [1, 2, 3]
    assert heard[2].dropped == {DropReason.STALE: 3}
    assert {hb.service for hb in heard} == {"detector"} and listener.malformed == 1
