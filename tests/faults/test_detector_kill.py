"""kill -9 of a detector mid-stream: every accepted frame gets a result or a counted drop.

Known gap, asserted as a bound and reported: a frame that the killed detector
held unacked and that FRAMES discarded before it could be redelivered leaves
no trace. nats-server handles a removed message that a consumer had pending
like an ack (its ack floor moves past it, `num_ack_pending` drops; checked
against the server: fetch without acking, then overflow the subject), so the
new detector's consumer info cannot tell it from a frame answered before the
kill, and the frame itself is gone. At most the frames the server had
delivered to the killed detector and it had not finished: measured from the
server (the durable's last delivered stream seq when the new one starts, which
includes a frame handed to a pull request still open at the kill), not from
the publisher's view (that missed one such frame in a run: 4 unaccounted, 3
"in flight").

Frames are published at a steady rate (accepted = PubAck received). The
detector is killed while frames are in flight; while no detector runs, FRAMES
keeps only `frames_max_msgs_per_subject` frames of the session and discards
the rest. A new detector starts; it redelivers the killed one's unacked frames
and counts what FRAMES discarded (reason "evicted", workers/evictions.py).
The books must balance exactly: accepted = distinct results + counted drops.
(The gateway/scene side of issue 13's item 6, out-of-order delivery to
viewers, belongs to the scene stage; this checks RESULTS.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import Frame, Heartbeat, now_ns
from shared.jetstream import provision
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings
from shared.telemetry import DropReason
from tests.faults.results import results_of
from tests.support.pipeline import jpeg_of
from tests.support.procs import ComponentRunner

SID = "detkill"
RATE_HZ = 3.0
PER_SUBJECT = 8
PHOTO = "000000000139.jpg"
# RESULTS kept for 10 minutes: the books are checked after the run (the default keeps a minute)
WORKER_ENV = {
    "SIGHTWIRE_DRAIN_TIMEOUT_S": "1",
    "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.5",
    "SIGHTWIRE_RESULTS_MAX_AGE_S": "600",
}


class Beats:
    """The latest heartbeat of each detector instance."""

    def __init__(self) -> None:
        self.latest: dict[str, Heartbeat] = {}

    async def on_beat(self, msg: Any) -> None:
        beat = Heartbeat.from_bytes(msg.data)
        self.latest[beat.instance] = beat

    def processed(self, instance: str) -> int:
        return self.latest[instance].processed if instance in self.latest else 0

    def dropped(self, instance: str) -> dict[DropReason, int]:
        return dict(self.latest[instance].dropped)

    def total_dropped(self, reason: DropReason) -> int:
        return sum(b.dropped.get(reason, 0) for b in self.latest.values())


async def publish(js: JetStreamContext, jpeg: bytes, seq: int) -> None:
    now = now_ns()
    frame = Frame(SID, seq, now, now, 640, 480, "upload", jpeg, f"f{seq}", depth=False, max_age_ms=600_000)
    await js.publish(subjects.frames(SID), frame.to_bytes(), headers={"Nats-Msg-Id": subjects.frame_msg_id(SID, seq)})


async def until(check: Any, timeout_s: float, what: Any) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what() if callable(what) else what} not within {timeout_s} s"
        await asyncio.sleep(0.1)


async def test_detector_kill_accounting(
    nats_server: EmbeddedNatsServer, components: ComponentRunner, coco_dir: Path
) -> None:
    settings = NatsSettings(
        nats_url=nats_server.url,
        frames_max_msgs_per_subject=PER_SUBJECT,
        consumer_ack_wait_s=3.0,
        results_max_age_s=600,
    )
    nc = NATS()
    await nc.connect(nats_server.url)
    beats = Beats()
    try:
        js = nc.jetstream()
        await provision(js, settings)
        await nc.subscribe("sw.heartbeat.detector.*", cb=beats.on_beat)
        env = {**WORKER_ENV, "SIGHTWIRE_FRAMES_MAX_MSGS_PER_SUBJECT": str(PER_SUBJECT)}
        first = components.start("worker", "detector", env={**env, "SIGHTWIRE_INSTANCE_ID": "det-1"})
        await until(lambda: "det-1" in beats.latest, 90, "first detector up")
        jpeg = jpeg_of(coco_dir / PHOTO)
        seq = 0
        for _ in range(6):  # a calm start: the first detector keeps up
            seq += 1
            await publish(js, jpeg, seq)
            await asyncio.sleep(1 / RATE_HZ)
        await until(lambda: beats.processed("det-1") == seq, 60, "calm frames processed")
        assert not beats.dropped("det-1")
        for _ in range(3):  # frames in flight ...
            seq += 1
            await publish(js, jpeg, seq)
        components.kill(first)  # ... when it dies
        killed_at = seq
        for _ in range(int(8 * RATE_HZ)):  # 8 s without a detector: FRAMES keeps PER_SUBJECT, discards the rest
            seq += 1
            await publish(js, jpeg, seq)
            await asyncio.sleep(1 / RATE_HZ)
        delivered_to_det1 = (await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)).delivered
        components.start("worker", "detector", env={**env, "SIGHTWIRE_INSTANCE_ID": "det-2"})
        stop = asyncio.Event()

        async def keep_publishing() -> None:
            nonlocal seq
            while not stop.is_set():
                seq += 1
                await publish(js, jpeg, seq)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1 / RATE_HZ):
                        await stop.wait()

        producer = asyncio.create_task(keep_publishing())
        await until(lambda: beats.processed("det-2") >= 3, 120, "second detector working")
        working_at = time.monotonic()
        stop.set()
        await producer
        accepted = set(range(1, seq + 1))
        results: dict[int, str] = {}
        deadline, last_total, steady_since = time.monotonic() + 90, -1, time.monotonic()
        while time.monotonic() < deadline:  # until balanced, or steady once the new detector has settled
            results = await results_of(nats_server.url, SID, accepted, 2)
            total = len(results) + beats.total_dropped(DropReason.EVICTED)
            if total != last_total:
                last_total, steady_since = total, time.monotonic()
            settled = time.monotonic() - working_at > 2 * 3.0 + 5 + 1  # its start-up pending list is settled
            if total >= len(accepted) or (settled and time.monotonic() - steady_since > 5):
                break
        await asyncio.sleep(1.5)  # one more heartbeat: nothing further may be counted
        evicted = beats.total_dropped(DropReason.EVICTED)
        state = (await js.stream_info(subjects.RESULTS_STREAM)).state
        dropped = beats.dropped("det-2")
        print(
            f"\ndetector kill: {len(accepted)} frames accepted ({killed_at} before the kill), "
            f"{len(results)} results ({sum(1 for v in results.values() if v != 'det')} errors), "
            f"{evicted} counted as evicted, drops by reason {dropped}, "
            f"unaccounted {len(accepted) - len(results) - evicted}; "
            f"without a result: {sorted(accepted - set(results))}; det-1 processed "
            f"{beats.processed('det-1')} of {killed_at} before the kill"
        )
        assert set(results) <= accepted
        unaccounted = len(accepted) - len(results) - evicted
        # Exact but for one known gap (see the module docstring): a frame the killed detector held
        # unacked that FRAMES then discarded before redelivery; at most the frames the server had
        # delivered to it (one session on a fresh stream: stream seq = frame seq) less those it finished.
        in_flight_at_kill = delivered_to_det1.stream_seq - beats.processed("det-1")
        last_to_det1 = delivered_to_det1.stream_seq
        print(f"frames delivered to det-1 and not finished: {in_flight_at_kill} (seq <= {last_to_det1})")
        assert 0 <= unaccounted <= in_flight_at_kill, (unaccounted, len(results), evicted, len(accepted), state)
        assert set(dropped) == {DropReason.EVICTED} and evicted >= int(8 * RATE_HZ) - PER_SUBJECT
    finally:
        await nc.close()
