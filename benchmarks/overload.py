"""Overload: what a detector does with 4x more frames than it can process (issue 13).

Live video wants the newest frame, not a queue. This runs one real detector
process on an embedded nats-server, measures its capacity C (frames/s), then
offers 4 x C spread over several sessions, each frame stamped with its capture
time and the default staleness limit, for `--seconds`, once per value of
FRAMES' `max_msgs_per_subject` given (the frames a session may have waiting).
Per run it reports capture-to-result latency (p50/p95/p99, measured on the
RESULTS side), results/s, drops by reason from the worker's heartbeats
(`stale`, `evicted`), and RSS of the worker and nats-server sampled over time.

    python -m benchmarks.overload --seconds 60 --per-subject 16 4 2 1 --json overload.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from nats.aio.msg import Msg

from benchmarks.pipeline import _start_worker, _stop_worker
from shared import subjects
from shared.envelopes import Detections, Frame, Heartbeat, now_ns
from shared.images import jpeg_size
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings

SESSIONS = 4
MAX_AGE_MS = 2000  # the session default: older frames are dropped as stale
PHOTO = "000000000139.jpg"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Observer:
    """Result latencies (capture -> result received) and the worker's latest heartbeat counters."""

    def __init__(self) -> None:
        self.latency_ms: list[float] = []
        self.results = 0
        self.errors = 0
        self.dropped: dict[str, int] = {}  # the worker's drops by reason, from its latest heartbeat
        self.event = asyncio.Event()

    async def on_result(self, msg: Msg) -> None:
        if subjects.kind_of(msg.subject) != subjects.ResultKind.DET:
            self.errors += 1
            return
        det = Detections.from_bytes(msg.data)
        self.latency_ms.append((now_ns() - det.captured_at_ns) / 1e6)
        self.results += 1
        self.event.set()

    async def on_beat(self, msg: Msg) -> None:
        self.dropped = {reason.value: n for reason, n in Heartbeat.from_bytes(msg.data).dropped.items()}


def frame(sid: str, seq: int, jpeg: bytes) -> Frame:
    now = now_ns()
    width, height = jpeg_size(jpeg)
    return Frame(sid, seq, now, now, width, height, "bench", jpeg, f"{sid}-{seq}", depth=False, max_age_ms=MAX_AGE_MS)


async def capacity(js: Any, obs: Observer, jpeg: bytes, n: int = 40) -> float:
    """Frames/s the detector sustains (back to back, no staleness)."""
    start_count, started = obs.results, time.monotonic()
    for i in range(n):
        f = frame(f"cap{i}", i, jpeg)  # one frame per session: no per-subject limit applies
        f.max_age_ms = 3_600_000
        await js.publish(subjects.frames(f.sid), f.to_bytes())
    async with asyncio.timeout(300):
        while obs.results - start_count < n:
            assert not obs.errors, "the detector answered with error results"
            obs.event.clear()
            await obs.event.wait()
    return n / (time.monotonic() - started)


async def offer(js: Any, jpeg: bytes, fps: float, seconds: float, tag: str) -> int:
    """`fps` frames/s in total, round-robin over SESSIONS sessions, for `seconds`."""
    sent, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * fps) + 1
        while sent < due:
            sid = f"{tag}-{sent % SESSIONS}"
            await js.publish(subjects.frames(sid), frame(sid, sent // SESSIONS, jpeg).to_bytes())
            sent += 1
        await asyncio.sleep(0.005)
    return sent


async def run_one(per_subject: int, factor: float, seconds: float, jpeg: bytes, model_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sightwire-overload-") as tmp:
        async with EmbeddedNatsServer(Path(tmp) / "nats") as server:
            settings = NatsSettings(nats_url=server.url, frames_max_msgs_per_subject=per_subject)
            nc = await connect(settings, "bench-overload")
            js = nc.jetstream()
            await provision(js, settings)
            obs = Observer()
            await nc.subscribe(subjects.RESULTS_ALL, cb=obs.on_result)
            await nc.subscribe("sw.heartbeat.detector.*", cb=obs.on_beat)
            os.environ["SIGHTWIRE_FRAMES_MAX_MSGS_PER_SUBJECT"] = str(per_subject)
            os.environ["SIGHTWIRE_HEARTBEAT_INTERVAL_S"] = "1"
            worker = _start_worker("detector", server.url, model_dir, Path(tmp) / "detector.log")
            try:
                await capacity(js, obs, jpeg, n=24)  # warm-up: compilation and first inferences
                cap = await capacity(js, obs, jpeg, n=120)
                obs.latency_ms.clear()
                base = dict(obs.dropped)
                rss: list[tuple[float, float, float]] = []

                async def sample() -> None:
                    t0 = time.monotonic()
                    while True:
                        assert server.pid is not None
                        rss.append((time.monotonic() - t0, rss_mb(worker.pid), rss_mb(server.pid)))
                        await asyncio.sleep(5)

                sampler = asyncio.create_task(sample())
                sent = await offer(js, jpeg, factor * cap, seconds, f"p{per_subject}")
                await asyncio.sleep(3)  # the last results and a heartbeat
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                drops = Counter({k: v - base.get(k, 0) for k, v in obs.dropped.items()})
                lat = np.array(obs.latency_ms or [0.0])
                return {
                    "frames_max_msgs_per_subject": per_subject,
                    "capacity_fps": round(cap, 2),
                    "offered_fps": round(sent / seconds, 2),
                    "results_fps": round(len(obs.latency_ms) / seconds, 2),
                    "latency_ms": {
                        p: round(float(np.percentile(lat, q)), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))
                    },
                    "drops": {k: v for k, v in drops.items() if v},
                    "frames_in": sent,
                    "error_results": obs.errors,
                    "rss_mb": [{"t_s": round(t), "worker": round(w), "nats": round(n)} for t, w, n in rss],
                }
            finally:
                _stop_worker(worker)
                await drain_quietly(nc, 5)


def table(runs: list[dict[str, Any]]) -> str:
    rows = ["per_subject  cap_fps  offered  results/s  p50_ms  p95_ms  p99_ms  drops  worker_rss_mb(first->last)"]
    for r in runs:
        lat, rss = r["latency_ms"], r["rss_mb"]
        mem = f"{rss[0]['worker']}->{rss[-1]['worker']}" if rss else "-"
        rows.append(
            f"{r['frames_max_msgs_per_subject']:>11}  {r['capacity_fps']:>7}  {r['offered_fps']:>7}  "
            f"{r['results_fps']:>9}  {lat['p50']:>6}  {lat['p95']:>6}  {lat['p99']:>6}  {r['drops']}  {mem}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--factor", type=float, default=4.0, help="Offered load / measured capacity.")
    parser.add_argument("--per-subject", type=int, nargs="+", default=[16, 2, 1])
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SIGHTWIRE_MODEL_DIR", "../shared/models"))
    )
    parser.add_argument("--photo", type=Path, default=Path("../shared/data/coco") / PHOTO)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    jpeg = args.photo.read_bytes()
    runs = [asyncio.run(run_one(k, args.factor, args.seconds, jpeg, args.model_dir)) for k in args.per_subject]
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
