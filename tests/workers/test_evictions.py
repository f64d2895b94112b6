"""Frames that FRAMES discards before delivery are counted, exactly, from the delivery sequences."""

from __future__ import annotations

from collections import Counter

from nats.aio.client import Client as NATS

from shared import subjects
from shared.jetstream import provision
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings
from workers.evictions import EvictionCounter


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def drop(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n


def test_gaps_between_first_deliveries() -> None:
    tally = Tally()
    counter = EvictionCounter(tally)
    counter.prime(0, 100)
    counter.see(1, 103, 1)  # stream 101, 102 discarded
    counter.see(2, 103, 2)  # a redelivery of ours: no stream seq of its own
    counter.see(3, 106, 1)  # 104, 105 discarded
    counter.see(6, 110, 1)  # consumer 4, 5 went to another replica: not ours to count
    counter.see(7, 111, 1)
    assert tally.counts["evicted"] == 4 and counter.evicted == 4


def test_frames_pending_at_start_that_never_come_back_are_counted() -> None:
    tally = Tally()
    counter = EvictionCounter(tally)
    counter.prime(10, 50, pending=3)  # a dead replica held 3 frames (stream seqs <= 50)
    counter.see(11, 48, 2)  # one comes back
    counter.see(12, 55, 1)  # 51..54 discarded before delivery
    counter.see(13, 56, 1)
    assert counter.settle() == 2  # the other two were discarded in flight
    assert tally.counts["evicted"] == 4 + 2


async def test_real_stream_discards_are_counted_across_two_replicas(nats_server: EmbeddedNatsServer) -> None:
    settings = NatsSettings(nats_url=nats_server.url, frames_max_msgs_per_subject=2)
    nc = NATS()
    await nc.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await provision(js, settings)
        replicas = [Tally(), Tally()]
        counters = [EvictionCounter(t) for t in replicas]
        for counter in counters:
            info = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
            counter.prime(info.delivered.consumer_seq or 0, info.delivered.stream_seq or 0)
        subs = [
            await js.pull_subscribe_bind(subjects.DETECTOR_DURABLE, stream=subjects.FRAMES_STREAM) for _ in counters
        ]
        for seq in range(1, 11):  # session a: 10 frames, only 2 kept
            await js.publish(subjects.frames("a"), b"frame", headers={"Nats-Msg-Id": f"a:{seq}"})
            if seq % 4 == 0:  # session b: 2 frames interleaved, both kept
                await js.publish(subjects.frames("b"), b"frame", headers={"Nats-Msg-Id": f"b:{seq}"})
        delivered = 0
        for _ in range(4):  # one replica takes every frame: the count is exact
            (msg,) = await subs[0].fetch(1, timeout=5)
            counters[0].observe(msg)
            await msg.ack()
            delivered += 1
        assert (delivered, replicas[0].counts["evicted"]) == (4, 8)  # 12 frames in = 4 delivered + 8 evicted
        for seq in range(12, 22):  # 10 more of session a; the two replicas then take turns
            await js.publish(subjects.frames("a"), b"frame", headers={"Nats-Msg-Id": f"a:{seq}"})
        for turn in range(2):
            (msg,) = await subs[turn % 2].fetch(1, timeout=5)
            counters[turn % 2].observe(msg)
            await msg.ack()
        evicted = sum(t.counts["evicted"] for t in replicas)
        assert 8 < evicted <= 8 + 8  # never counted twice; a shared window is a lower bound
    finally:
        await nc.close()
