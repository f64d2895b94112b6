"""`python -m benchmarks.scene`: throughput and added latency of one scene instance.

One embedded nats-server and one real `sightwire worker scene` process; N upload sessions in
sw-sessions; detection envelopes (5 boxes of 5 classes, swaying) published straight to RESULTS, so the
number is the scene stage's own, without models. Two measurements in one run:
- saturation: every session's frames are stored in RESULTS first, then the sessions are created;
  frames/s = SCENE messages per second while the worker works through the backlog;
- paced: N sessions at F fps each; the stage's latency per frame is the time from the RESULTS
  publish to the SCENE message arriving at a subscriber, next to the broker-only hop measured
  the same way (a core subscriber on the RESULTS subject) as the baseline. The difference is
  what the scene stage adds to capture-to-client latency (before it, the gateway fused in-line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nats.aio.msg import Msg

from shared import subjects
from shared.envelopes import Box, Detections, Heartbeat, now_ns
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionRecord, SessionStore, SourceSpec
from shared.settings import NatsSettings


def det(sid: str, seq: int) -> Detections:
    at = now_ns()
    x = [0.05 + 0.18 * k + 0.03 * math.sin(seq / 20) for k in range(5)]  # swaying, always in view
    boxes = [Box(x[k], 0.2, x[k] + 0.1, 0.6, 0.9, k, "obj") for k in range(5)]
    return Detections(sid, seq, at, at, at, "bench", "fake", 640, 480, boxes)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bench(sessions: int, frames: int, fps: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedNatsServer(Path(tmp) / "nats") as server:
            settings = NatsSettings(nats_url=server.url)
            nc = await connect(settings, "bench-scene")
            js = nc.jetstream()
            await provision(js, settings)
            env = {**os.environ, "SIGHTWIRE_NATS_URL": server.url, "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.5"}
            env["XDG_CACHE_HOME"] = tmp
            proc = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped by pid below
                [sys.executable, "-m", "shared.cli", "worker", "scene"], env=env, stderr=subprocess.DEVNULL
            )
            try:
                await run_bench(nc, js, sessions, frames, fps, seconds)
            finally:
                os.kill(proc.pid, signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 30)
                await drain_quietly(nc, 5)


async def run_bench(nc, js, sessions: int, frames: int, fps: float, seconds: float) -> None:  # type: ignore[no-untyped-def]
    store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
    sids = [f"bench{i:03d}" for i in range(sessions)]
    owned = asyncio.Event()
    received: dict[tuple[str, int], float] = {}
    hop: dict[tuple[str, int], float] = {}
    sent: dict[tuple[str, int], float] = {}

    async def on_beat(msg: Msg) -> None:
        if Heartbeat.from_bytes(msg.data).counters.get("sessions") == sessions:
            owned.set()

    async def on_scene(msg: Msg) -> None:
        data = json.loads(msg.data)["data"]
        received[(subjects.sid_of(msg.subject), data["seq"])] = time.perf_counter()

    async def on_result(msg: Msg) -> None:
        d = Detections.from_bytes(msg.data)
        hop[(d.sid, d.seq)] = time.perf_counter()

    await nc.subscribe("sw.heartbeat.scene.*", cb=on_beat)
    await nc.subscribe(subjects.SCENE_ALL, cb=on_scene)
    await nc.subscribe(subjects.RESULTS_ALL, cb=on_result)

    # saturation: the RESULTS are stored before the sessions exist; once created, the scene worker
    # claims them and works through the backlog (it reads each session from its first message)
    bodies = [(sid, seq, det(sid, seq).to_bytes()) for seq in range(1, frames + 1) for sid in sids]
    for sid, _seq, body in bodies:
        await js.publish(subjects.results(sid, subjects.ResultKind.DET), body)
    start = time.perf_counter()
    for sid in sids:
        record = SessionRecord(sid=sid, token_hash="unused", source=SourceSpec(type="upload"))  # noqa: S106
        await store.create(record)
    await asyncio.wait_for(owned.wait(), 120)
    claimed = time.perf_counter()
    while len(received) < len(bodies):
        if time.perf_counter() - claimed > 300:
            break
        await asyncio.sleep(0.02)
    first, done = min(received.values()), max(received.values())
    print(
        f"saturation: {len(received)}/{len(bodies)} frames of {sessions} sessions written to SCENE in "
        f"{done - first:.2f} s = {len(received) / (done - first):.0f} frames/s "
        f"(all sessions owned {claimed - start:.2f} s after creation)"
    )

    # paced: N sessions at fps, stage latency vs the broker-only hop
    received.clear()
    hop.clear()
    seq0 = frames + 1
    ticks = int(seconds * fps)
    for k in range(ticks):
        tick = time.perf_counter()
        for sid in sids:
            key = (sid, seq0 + k)
            sent[key] = time.perf_counter()
            await js.publish(subjects.results(sid, subjects.ResultKind.DET), det(sid, seq0 + k).to_bytes())
        await asyncio.sleep(max(0.0, 1 / fps - (time.perf_counter() - tick)))
    await asyncio.sleep(2.0)
    stage = [(received[k] - sent[k]) * 1000 for k in sent if k in received]
    broker = [(hop[k] - sent[k]) * 1000 for k in sent if k in hop]
    print(f"paced: {sessions} sessions x {fps:g} fps for {seconds:g} s, {len(stage)}/{len(sent)} delivered")
    print("| path | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, values in (("RESULTS publish -> core subscriber (broker hop)", broker),
                         ("RESULTS publish -> SCENE subscriber (scene stage)", stage)):  # fmt: skip
        print(f"| {name} | {statistics.median(values):.1f} | {pct(values, 0.95):.1f} | {pct(values, 0.99):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--frames", type=int, default=100, help="frames per session in the saturation run")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(bench(args.sessions, args.frames, args.fps, args.seconds))


if __name__ == "__main__":
    main()
