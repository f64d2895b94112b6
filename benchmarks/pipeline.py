"""(c) Through the pipeline: embedded nats-server, one real worker process, FRAMES in, RESULTS out.

Frames are published with a long staleness limit (this measures capacity, not
freshness) and spread over sessions so that FRAMES' per-subject limit never
discards one. A round's throughput is n / (last result received - first
publish), counted on the RESULTS side by a core subscription. Warm-up frames
are answered before any round, so compilation and first-inference costs are
excluded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import DepthMap, Detections, Frame, now_ns
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings

PER_SESSION = 12
WARMUP = 8
# FRAMES keeps 2 frames per session by default (live video wants the newest); a throughput
# measurement queues a backlog, so its stream (and its worker, which provisions too) keep them all.
BACKLOG = max(PER_SESSION, WARMUP)


@dataclass
class Tally:
    """Arrival times and worker-side processing times of results."""

    arrivals: list[float] = field(default_factory=list)
    processing_ms: list[float] = field(default_factory=list)
    errors: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_result(self, msg: Msg) -> None:
        kind = subjects.kind_of(msg.subject)
        if kind is subjects.ResultKind.ERROR:
            self.errors += 1
        else:
            env = Detections.from_bytes(msg.data) if kind is subjects.ResultKind.DET else DepthMap.from_bytes(msg.data)
            self.processing_ms.append((env.finished_at_ns - env.started_at_ns) / 1e6)
        self.arrivals.append(time.perf_counter())
        self.changed.set()

    async def wait_for(self, count: int, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.arrivals) < count:
                self.changed.clear()
                await self.changed.wait()


def bench_frame(sid: str, seq: int, jpeg: bytes) -> Frame:
    now = now_ns()
    return Frame(sid, seq, now, now, 0, 0, "bench", jpeg, max_age_ms=3_600_000)


@dataclass
class PipelineBench:
    js: JetStreamContext
    jpegs: list[bytes]
    tally: Tally
    rounds_done: int = 0

    async def round(self, n: int) -> float:
        """Results per second for `n` frames published back to back over fresh sessions."""
        self.tally.arrivals.clear()
        tag, self.rounds_done = f"r{self.rounds_done}", self.rounds_done + 1
        started = time.perf_counter()
        for i in range(n):
            sid = f"{tag}-{i // PER_SESSION}"
            jpeg = self.jpegs[i % len(self.jpegs)]
            await self.js.publish(subjects.frames(sid), bench_frame(sid, i, jpeg).to_bytes())
        await self.tally.wait_for(n, 60 + n)
        return n / (self.tally.arrivals[-1] - started)

    def median_ms(self) -> float:
        return float(np.median(self.tally.processing_ms))


def _start_worker(kind: str, nats_url: str, model_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SIGHTWIRE_NATS_URL": nats_url, "SIGHTWIRE_MODEL_DIR": str(model_dir)}
    env["SIGHTWIRE_FRAMES_MAX_MSGS_PER_SUBJECT"] = str(BACKLOG)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "worker", kind], env=env, stdin=subprocess.DEVNULL, stderr=log
        )


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.asynccontextmanager
async def pipeline(kind: str, jpegs: list[bytes], model_dir: Path) -> AsyncIterator[PipelineBench]:
    """A fresh nats-server and one warmed-up `sightwire worker <kind>` process."""
    with tempfile.TemporaryDirectory(prefix="sightwire-bench-") as tmp:
        async with EmbeddedNatsServer(Path(tmp) / "nats") as server:
            settings = NatsSettings(nats_url=server.url, frames_max_msgs_per_subject=BACKLOG)
            nc = await connect(settings, "bench")
            js = nc.jetstream()
            await provision(js, settings)
            tally = Tally()
            await nc.subscribe(subjects.RESULTS_ALL, cb=tally.on_result)
            worker = _start_worker(kind, server.url, model_dir, Path(tmp) / f"{kind}.log")
            try:
                for i in range(WARMUP):
                    await js.publish(subjects.frames("warmup"), bench_frame("warmup", i, jpegs[i]).to_bytes())
                await tally.wait_for(WARMUP, 120)
                tally.processing_ms.clear()
                yield PipelineBench(js, jpegs, tally)
            finally:
                _stop_worker(worker)
                await drain_quietly(nc, 5)
