"""In-process baselines for the pipeline benchmark.

(a) `RawBench`: preprocessed tensors through an `AsyncInferQueue` of the
    optimal size, compiled with the worker kind's hint: the model's ceiling;
(b) `InProcessBench`: the worker's own `Runner` (JPEG checks + decode,
    preprocessing, engine, output decode/NMS) under the worker's in-flight
    bound, minus NATS: what a worker could reach if messaging were free. Like
    the worker, it compiles the model with its preprocessing fused in.
Both are set up once and then timed in rounds, so the caller can interleave
rounds with the pipeline's and compare them under the same machine load.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import openvino as ov

from shared.envelopes import Frame, now_ns
from workers.engine import Engine, compile_model
from workers.images import decode_jpeg
from workers.models.registry import ModelSpec
from workers.preprocess import fit, fused_input, to_tensor
from workers.runner import Runner
from workers.settings import WorkerKind, WorkerSettings
from workers.tasks import TASKS
from workers.threads import prestarted_pool


class RawBench:
    def __init__(
        self,
        path: Path,
        spec: ModelSpec,
        hint: str,
        jpegs: list[bytes],
        *,
        fused: bool = False,
        rewrite_stem: bool = True,
    ) -> None:
        """`fused`: the worker's compiled model, fed the letterboxed uint8 image (workers/fused.py);
        `rewrite_stem=False`: the file's own graph, without the Focus rewrite (workers/focus.py)."""
        images = [decode_jpeg(j, 10**9) for j in jpegs]
        self.tensors = [fused_input(fit(i, spec.input)[0]) if fused else to_tensor(i, spec.input)[0] for i in images]
        compiled = compile_model(path, spec.input, "CPU", hint, 0, None, fused=fused, rewrite_stem=rewrite_stem)
        self.queue = ov.AsyncInferQueue(compiled, 0)
        self.requests = len(self.queue)
        self.round(2 * self.requests)  # warm-up: first inferences allocate

    def round(self, n: int) -> float:
        """Inferences per second over `n` back-to-back inferences."""
        started = time.perf_counter()
        for i in range(n):
            self.queue.start_async({0: self.tensors[i % len(self.tensors)]})
        self.queue.wait_all()
        return n / (time.perf_counter() - started)


class InProcessBench:
    def __init__(
        self, kind: WorkerKind, engine: Engine, spec: ModelSpec, settings: WorkerSettings, jpegs: list[bytes]
    ) -> None:
        self.engine = engine
        task = TASKS[kind](spec, settings, fused=engine.fused)
        self.runner = Runner(task, engine, prestarted_pool(2 * engine.size, "cpu"))
        self.jpegs = jpegs
        self.slots = asyncio.Semaphore(2 * engine.size)  # the worker's in-flight bound
        self.times_ms: list[float] = []

    @classmethod
    async def create(
        cls, kind: WorkerKind, path: Path, spec: ModelSpec, settings: WorkerSettings, jpegs: list[bytes]
    ) -> InProcessBench:
        engine = await asyncio.to_thread(
            Engine.load, path, spec.input, hint=settings.hint(kind), output_index=spec.output_index, fused=True
        )
        bench = cls(kind, engine, spec, settings, jpegs)
        await bench.round(2 * engine.size)
        bench.times_ms.clear()
        return bench

    async def _one(self, i: int) -> None:
        async with self.slots:
            t0 = time.perf_counter()
            jpeg = self.jpegs[i % len(self.jpegs)]
            await self.runner.run(Frame("bench", i, now_ns(), now_ns(), 0, 0, "bench", jpeg))
            self.times_ms.append((time.perf_counter() - t0) * 1000)

    async def round(self, n: int) -> float:
        """Frames per second over `n` frames kept `2 x requests` in flight."""
        started = time.perf_counter()
        await asyncio.gather(*(self._one(i) for i in range(n)))
        return n / (time.perf_counter() - started)

    def median_ms(self) -> float:
        return float(np.median(self.times_ms))

    def close(self) -> None:
        self.engine.close()
