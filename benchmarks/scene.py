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
  Three paced runs, frame seqs from the wall clock in ms as ingest makes them: `burst` (every
  session publishes at the same instant of each tick: the worst case, where the stage's CPU time
  per frame queues up), `staggered` (sessions spread over the tick, as independent cameras are)
  and `staggered, 1 in K dropped` (every K-th frame of a session never reaches RESULTS, as when
  ingest or the detector drops a stale frame: the reorder window must not hold the frames behind
  such a gap for long). The first second of each run is warm-up and not counted.

`--scene-src DIR` runs the worker from another checkout (e.g. main before a change), so that two
versions can be measured back to back on the same machine.
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


async def bench(sessions: int, frames: int, fps: float, seconds: float, drop_every: int, src: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedNatsServer(Path(tmp) / "nats") as server:
            settings = NatsSettings(nats_url=server.url)
            nc = await connect(settings, "bench-scene")
            js = nc.jetstream()
            await provision(js, settings)
            env = {**os.environ, "SIGHTWIRE_NATS_URL": server.url, "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.5"}
            env["XDG_CACHE_HOME"] = tmp
            if src is not None:
                env["PYTHONPATH"] = str(src)
            proc = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped by pid below
                [sys.executable, "-m", "shared.cli", "worker", "scene"], env=env, stderr=subprocess.DEVNULL, cwd=src
            )
            try:
                await run_bench(nc, js, sessions, frames, fps, seconds, drop_every)
            finally:
                os.kill(proc.pid, signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 30)
                await drain_quietly(nc, 5)


async def run_bench(nc, js, sessions: int, frames: int, fps: float, seconds: float, drop_every: int) -> None:  # type: ignore[no-untyped-def]
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
    print(f"paced: {sessions} sessions x {fps:g} fps for {seconds:g} s each (+1 s warm-up)")
    print("| path | delivered | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    runs = (("burst", False, 0), ("staggered", True, 0), (f"staggered, 1 in {drop_every} dropped", True, drop_every))
    for name, stagger, drop in runs:
        received.clear()
        hop.clear()
        sent.clear()
        await paced(js, sids, fps, seconds, stagger, drop, sent)
        await asyncio.sleep(2.0)
        stage = [(received[k] - sent[k]) * 1000 for k in sent if k in received]
        broker = [(hop[k] - sent[k]) * 1000 for k in sent if k in hop]
        for path, values in ((f"{name}: RESULTS publish -> core subscriber (broker hop)", broker),
                             (f"{name}: RESULTS publish -> SCENE subscriber (scene stage)", stage)):  # fmt: skip
            print(
                f"| {path} | {len(values)}/{len(sent)} | {statistics.median(values):.1f} | {pct(values, 0.95):.1f} "
                f"| {pct(values, 0.99):.1f} |"
            )


async def paced(  # type: ignore[no-untyped-def]
    js, sids: list[str], fps: float, seconds: float, stagger: bool, drop_every: int, sent: dict[tuple[str, int], float]
) -> None:
    """Every session at `fps` for 1 + `seconds` s; seqs = wall-clock ms (shared/sequence.py); only frames
    after the first second go into `sent` (the warm-up settles the reorder window's typical gap)."""
    last = dict.fromkeys(sids, 0)
    start = time.perf_counter()
    ticks = int((1 + seconds) * fps)
    for k in range(ticks):
        for i, sid in enumerate(sids):
            at = start + k / fps + (i / (len(sids) * fps) if stagger else 0.0)
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            seq = last[sid] = max(last[sid] + 1, time.time_ns() // 1_000_000)
            if drop_every and k % drop_every == drop_every - 1:
                continue  # dropped upstream: this seq never reaches RESULTS
            if k >= fps:
                sent[(sid, seq)] = time.perf_counter()
            await js.publish(subjects.results(sid, subjects.ResultKind.DET), det(sid, seq).to_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--frames", type=int, default=100, help="frames per session in the saturation run")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each paced run")
    parser.add_argument("--drop-every", type=int, default=10, help="the third paced run drops every K-th frame")
    parser.add_argument("--scene-src", type=Path, default=None, help="run the scene worker from this checkout")
    args = parser.parse_args()
    asyncio.run(bench(args.sessions, args.frames, args.fps, args.seconds, args.drop_every, args.scene_src))


if __name__ == "__main__":
    main()
