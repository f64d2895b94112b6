"""A 3-node cluster with R3 streams: the FRAMES stream leader is killed -9 under load.

A producer publishes frames at a steady rate (a frame counts as acked when its
PubAck arrives; a failed publish is retried with the same `Nats-Msg-Id`, so
the retry cannot duplicate it), a real detector worker processes them. After
the leader dies, a new one is elected; every acked frame must still get its
detection (nothing acked lost) and nothing may be counted twice. The time
until publishing and results resume is printed for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import nats
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import Frame, now_ns
from shared.jetstream import provision
from shared.settings import NatsSettings
from tests.faults.cluster import Node, cluster
from tests.faults.results import results_of
from tests.support.pipeline import jpeg_of, start_workers
from tests.support.procs import ComponentRunner

SID = "leaderkill"
RATE_HZ = 4.0
PHOTO = "000000000139.jpg"


async def provisioned(js: JetStreamContext, settings: NatsSettings, timeout_s: float = 60) -> None:
    """Provision once the cluster has a JetStream meta leader (elected a few seconds after start)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await provision(js, settings)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def leader_node(js: JetStreamContext, nodes: list[Node], stream: str) -> Node:
    info = await js.stream_info(stream)
    assert info.cluster is not None and info.cluster.leader
    return next(n for n in nodes if n.name == info.cluster.leader)


class Producer:
    """Frames at RATE_HZ; each retried (same msg id) until JetStream acks it."""

    def __init__(self, js: JetStreamContext, jpeg: bytes) -> None:
        self.js, self.jpeg = js, jpeg
        self.acked: dict[int, float] = {}  # seq -> monotonic time of its PubAck
        self.failed_publishes = 0
        self.seq = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.seq += 1
            await self._publish(self.seq, stop)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1 / RATE_HZ):
                    await stop.wait()

    async def _publish(self, seq: int, stop: asyncio.Event) -> None:
        now = now_ns()
        frame = Frame(SID, seq, now, now, 640, 480, "upload", self.jpeg, f"f{seq}", depth=False, max_age_ms=600_000)
        headers = {"Nats-Msg-Id": subjects.frame_msg_id(SID, seq)}
        while not stop.is_set():
            try:
                await self.js.publish(subjects.frames(SID), frame.to_bytes(), timeout=2, headers=headers)
            except Exception:
                self.failed_publishes += 1
                await asyncio.sleep(0.1)
                continue
            self.acked[seq] = time.monotonic()
            return


async def test_stream_leader_killed_under_load(tmp_path: Path, model_dir: Path, coco_dir: Path) -> None:
    async with cluster(tmp_path / "cluster") as nodes:
        urls = ",".join(n.url for n in nodes)
        settings = NatsSettings(nats_url=urls, stream_replicas=3, frames_max_msgs_per_subject=1000)
        nc = await nats.connect(urls.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        runner = ComponentRunner(
            base_env={
                "SIGHTWIRE_NATS_URL": urls,
                "SIGHTWIRE_STREAM_REPLICAS": "3",
                "SIGHTWIRE_FRAMES_MAX_MSGS_PER_SUBJECT": "1000",
                "SIGHTWIRE_MODEL_DIR": str(model_dir),
                "SIGHTWIRE_LOG_JSON": "true",
                "XDG_CACHE_HOME": str(tmp_path / "cache"),
            },
            log_dir=tmp_path / "logs",
        )
        try:
            js = nc.jetstream(timeout=5)
            await provisioned(js, settings)
            await start_workers(runner, nc)
            producer = Producer(js, jpeg_of(coco_dir / PHOTO))
            stop = asyncio.Event()
            task = asyncio.create_task(producer.run(stop))
            await asyncio.sleep(4)
            victim = await leader_node(js, nodes, subjects.FRAMES_STREAM)
            before = producer.seq
            await victim.kill()
            killed, killed_wall_ns = time.monotonic(), time.time_ns()
            await asyncio.sleep(10)
            stop.set()
            await asyncio.wait_for(task, 30)
            after_kill = [s for s, t in producer.acked.items() if t > killed]
            assert after_kill, "publishing never resumed"
            publish_back_s = min(producer.acked[s] for s in after_kill) - killed
            new_leader = await leader_node(js, nodes, subjects.FRAMES_STREAM)
            assert new_leader is not victim

            alive = ",".join(n.url for n in nodes if n is not victim)
            finished: dict[int, int] = {}
            results = await results_of(alive, SID, set(producer.acked), 120, finished)
            missing = sorted(set(producer.acked) - set(results))
            first_after = min(after_kill)
            results_back_s = (finished.get(first_after, killed_wall_ns) - killed_wall_ns) / 1e9
            print(
                f"\nleader kill ({victim.name} -> {new_leader.name}): {len(producer.acked)} frames acked "
                f"({before} before the kill), {len(missing)} without a result, "
                f"{producer.failed_publishes} publish attempts failed and were retried; "
                f"publishing resumed after {publish_back_s:.2f} s, results after {results_back_s:.2f} s"
            )
            assert not missing, f"acked frames without a result: {missing}"
            assert all(results[s] == "det" for s in producer.acked)
        finally:
            runner.stop_all()
            await nc.close()
        assert os.path.isdir(tmp_path / "cluster" / "n0")
