"""`benchmarks.throughput` end to end on one small round: raw OpenVINO, the in-process path and a real
worker behind a real nats-server all measure the same frames (it broke unseen once, when FRAMES began
keeping 2 frames per session and the pipeline's backlog was evicted before the worker took it)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.throughput import measure
from workers.settings import WorkerSettings


async def test_one_depth_round_measures_all_three_paths(model_dir: Path, coco_dir: Path) -> None:
    jpegs = [p.read_bytes() for p in sorted(coco_dir.glob("*.jpg"))[:12]]
    row = await measure("depth", 12, 1, jpegs, WorkerSettings(model_dir=model_dir))
    assert row.model == "pydnet" and row.errors == 0
    assert len(row.raw) == len(row.inproc) == len(row.pipe) == 1
    assert min(row.raw + row.inproc + row.pipe) > 0 and row.pipe_ms > 0
