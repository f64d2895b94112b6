"""`python -m benchmarks.throughput --frames N`: detector and depth throughput, raw vs pipeline.

All three measurements run in one invocation on the same machine and the same
COCO photos: (a) raw OpenVINO, (b) the worker's in-process path, (c) a real
worker process behind an embedded nats-server. They are set up once and timed
in interleaved rounds (a, b, c, a, b, c, ...), never concurrently, so that a
change in machine load hits all three alike; the table reports medians and the
per-round ratios say what the pipeline costs on top of the model.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import openvino as ov

from benchmarks.pipeline import pipeline
from benchmarks.raw import InProcessBench, RawBench
from workers.models.registry import resolve, spec_of
from workers.settings import WorkerKind, WorkerSettings

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    kind: WorkerKind
    model: str
    hint: str
    frames: int
    requests: int = 0
    raw: list[float] = field(default_factory=list)
    inproc: list[float] = field(default_factory=list)
    pipe: list[float] = field(default_factory=list)
    inproc_ms: float = 0.0
    pipe_ms: float = 0.0
    errors: int = 0


async def measure(kind: WorkerKind, n: int, rounds: int, jpegs: list[bytes], settings: WorkerSettings) -> Row:
    spec = spec_of(settings.model_name(kind), kind)
    path = resolve(spec, settings)
    row = Row(kind, spec.name, settings.hint(kind), n)
    raw = await asyncio.to_thread(RawBench, path, spec, row.hint, jpegs)
    inproc = await InProcessBench.create(kind, path, spec, settings, jpegs)
    row.requests = raw.requests
    try:
        async with pipeline(kind, jpegs, settings.model_dir or path.parent) as pipe:
            for _ in range(rounds):
                row.raw.append(await asyncio.to_thread(raw.round, n))
                row.inproc.append(await inproc.round(n))
                row.pipe.append(await pipe.round(n))
            row.pipe_ms = pipe.median_ms()
            row.errors = pipe.tally.errors
    finally:
        inproc.close()
    row.inproc_ms = inproc.median_ms()
    return row


def ratio(num: list[float], den: list[float]) -> float:
    """Median of per-round ratios: each round's numbers were taken under the same load."""
    return statistics.median(n / d for n, d in zip(num, den, strict=True))


def print_table(rows: list[Row]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nOpenVINO {ov.get_version()} | {platform.machine()} | {os.cpu_count()} CPUs | load avg {load}")
    head = (
        f"{'worker':<9}{'model':<12}{'hint':<12}{'req':>4}{'frames':>7}{'(a) raw':>9}{'(b) +pre/post':>15}"
        f"{'(c) pipeline':>14}{'c/a':>6}{'c/b':>6}{'b/a':>6}{'b ms':>7}{'c ms':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        a, b, c = (statistics.median(v) for v in (r.raw, r.inproc, r.pipe))
        print(
            f"{r.kind:<9}{r.model:<12}{r.hint:<12}{r.requests:>4}{r.frames:>7}{a:>9.1f}{b:>15.1f}{c:>14.1f}"
            f"{ratio(r.pipe, r.raw):>6.2f}{ratio(r.pipe, r.inproc):>6.2f}{ratio(r.inproc, r.raw):>6.2f}"
            f"{r.inproc_ms:>7.1f}{r.pipe_ms:>7.1f}"
        )
        print(f"{'  best round':<44}{max(r.raw):>9.1f}{max(r.inproc):>15.1f}{max(r.pipe):>14.1f}")
    if any(r.errors for r in rows):
        print(f"error results in the pipeline: { {r.kind: r.errors for r in rows} }")
    print(
        "(a)(b)(c): frames per second, median of rounds; ratios: median of per-round ratios;\n"
        "b ms / c ms: median time of one frame inside the worker path (decode + infer + post-process)"
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Detector and depth throughput: raw OpenVINO vs the pipeline.")
    p.add_argument("--frames", type=int, default=300, help="frames per detector round")
    p.add_argument("--depth-frames", type=int, default=None, help="frames per depth round (default frames/4)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds per measurement")
    p.add_argument("--coco-dir", type=Path, default=REPO.parent / "shared" / "data" / "coco")
    p.add_argument("--kinds", nargs="+", default=["detector", "depth"], choices=["detector", "depth"])
    return p.parse_args()


async def main() -> None:
    args = parse_args()
    settings = WorkerSettings()
    if settings.model_dir is None:
        settings = settings.model_copy(update={"model_dir": REPO.parent / "shared" / "models"})
    jpegs = [p.read_bytes() for p in sorted(args.coco_dir.glob("*.jpg"))]
    frames = {"detector": args.frames, "depth": args.depth_frames or max(8, args.frames // 4)}
    rows = []
    for kind in args.kinds:
        print(f"measuring {kind}: {args.rounds} rounds of {frames[kind]} frames each for (a), (b), (c)", flush=True)
        rows.append(await measure(kind, frames[kind], args.rounds, jpegs, settings))
    print_table(rows)


if __name__ == "__main__":
    asyncio.run(main())
