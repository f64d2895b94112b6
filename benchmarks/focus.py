"""`python -m benchmarks.focus`: what the Focus stem rewrite (workers/focus.py) buys, FP and INT8.

One invocation: NNCF quantizes the detector twice on the same calibration
photos, from the file's own graph and from the rewritten one (as `sightwire
models optimize --int8` now does); then raw OpenVINO throughput (THROUGHPUT
hint, benchmarks/raw.py) of FP and INT8, each original and rewritten, each fed
float tensors (`raw`, the issue's (a)) and as the worker runs it (`fused`:
uint8 image in, workers/fused.py), all eight in interleaved rounds so machine
load hits them alike; ratios are medians of per-round ratios. Last, OpenVINO's
per-layer counters (PERF_COUNT) give the stem's own time in each: every layer
executed up to and including the first convolution, averaged over inferences
of one request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import openvino as ov

from benchmarks.raw import RawBench
from workers.engine import read_model
from workers.fused import fuse_preprocessing
from workers.models.registry import ModelSpec, resolve, spec_of
from workers.optimize import quantize
from workers.settings import WorkerSettings

REPO = Path(__file__).resolve().parent.parent
PRECISIONS = ("fp", "int8")
INPUTS = ("raw", "fused")
STEMS = ("original", "rewritten")


@dataclass
class Variant:
    name: str
    path: Path
    fused: bool
    rewrite_stem: bool
    fps: list[float] = field(default_factory=list)
    stem_layers: list[tuple[str, str, float]] = field(default_factory=list)  # (layer, kernel, microseconds)
    total_us: float = 0.0


def stem_profile(variant: Variant, spec: ModelSpec, tensor: np.ndarray, n: int) -> None:
    """Per-layer times (PERF_COUNT) of the layers up to the first convolution, mean over `n` inferences."""
    core = ov.Core()
    model = read_model(core, variant.path, spec.input, rewrite_stem=variant.rewrite_stem)
    model = fuse_preprocessing(model, spec.input) if variant.fused else model
    compiled = core.compile_model(model, "CPU", {"PERF_COUNT": True, "PERFORMANCE_HINT": "THROUGHPUT"})
    request = compiled.create_infer_request()
    request.infer({0: tensor})
    sums: dict[tuple[int, str, str], float] = {}
    for _ in range(n):
        request.infer({0: tensor})
        for i, layer in enumerate(request.profiling_info):
            key = (i, f"{layer.node_type} {layer.node_name}", layer.exec_type)
            sums[key] = sums.get(key, 0.0) + layer.real_time.total_seconds() * 1e6 / n
    variant.total_us = round(sum(sums.values()), 1)
    for (_, layer, kernel), us in sorted(sums.items()):
        if us > 0:
            variant.stem_layers.append((layer, kernel, round(us, 1)))
        if layer.startswith("Convolution "):
            break


def median_ratio(a: list[float], b: list[float]) -> float:
    return round(statistics.median(x / y for x, y in zip(a, b, strict=True)), 3)


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = WorkerSettings()
    spec = spec_of(args.model, "detector", settings)
    fp = resolve(spec, settings)
    photos = sorted(args.coco_dir.glob("*.jpg"))
    calibration, evaluation = photos[: args.calibration], photos[args.calibration :] or photos
    jpegs = [p.read_bytes() for p in evaluation[:16]]
    with tempfile.TemporaryDirectory(prefix="focus-bench-") as tmp:
        int8 = {rewrite: Path(tmp) / f"int8_{rewrite}.xml" for rewrite in (False, True)}
        for rewrite, out in int8.items():
            quantize(fp, spec, calibration, out, rewrite_stem=rewrite)
        files = {"fp": {False: fp, True: fp}, "int8": int8}
        variants = [
            Variant(f"{precision}/{feed}/{stem}", files[precision][stem == STEMS[1]], feed == "fused", stem == STEMS[1])
            for precision in PRECISIONS
            for feed in INPUTS
            for stem in STEMS
        ]
        benches = [
            RawBench(v.path, spec, "THROUGHPUT", jpegs, fused=v.fused, rewrite_stem=v.rewrite_stem) for v in variants
        ]
        for _ in range(args.rounds):
            for variant, bench in zip(variants, benches, strict=True):
                variant.fps.append(round(bench.round(args.frames), 1))
        for variant, bench in zip(variants, benches, strict=True):
            stem_profile(variant, spec, bench.tensors[0], args.profile)
    fps = {v.name: v.fps for v in variants}
    ratios = {}
    for feed in INPUTS:
        for precision in PRECISIONS:
            ratios[f"{precision}/{feed}: rewritten / original"] = median_ratio(
                fps[f"{precision}/{feed}/rewritten"], fps[f"{precision}/{feed}/original"]
            )
        for stem in STEMS:
            ratios[f"{feed}: int8/{stem} / fp/original"] = median_ratio(
                fps[f"int8/{feed}/{stem}"], fps[f"fp/{feed}/original"]
            )
    return {
        "model": spec.name,
        "frames_per_round": args.frames,
        "rounds": args.rounds,
        "requests": benches[0].requests,
        "median_fps": {name: statistics.median(values) for name, values in fps.items()},
        "ratios": ratios,
        "variants": [asdict(v) | {"path": str(v.path)} for v in variants],
    }


def print_report(report: dict[str, object]) -> None:
    fps = report["median_fps"]
    assert isinstance(fps, dict)
    print(f"{report['model']}: raw OpenVINO, THROUGHPUT hint, median of {report['rounds']} interleaved rounds")
    for name, value in fps.items():
        print(f"  {name:<24}{value:>8.1f} frames/s")
    ratios = report["ratios"]
    assert isinstance(ratios, dict)
    for key, ratio in ratios.items():
        print(f"  {key}: {ratio:.3f}x")
    variants = report["variants"]
    assert isinstance(variants, list)
    for v in variants:
        stem = sum(us for _, _, us in v["stem_layers"])
        print(f"  stem of {v['name']}: {stem:.0f} us of {v['total_us']:.0f} us per inference (PERF_COUNT)")
        for layer, kernel, us in v["stem_layers"]:
            print(f"      {us:>8.1f} us  {kernel:<24}{layer}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Focus stem rewrite: FP and INT8 throughput, original vs rewritten.")
    p.add_argument("--model", default="yolox_nano")
    p.add_argument("--frames", type=int, default=120, help="inferences per round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument("--calibration", type=int, default=20, help="photos NNCF calibrates on (the rest are benched)")
    p.add_argument("--profile", type=int, default=30, help="inferences averaged for the per-layer counters")
    p.add_argument("--coco-dir", type=Path, default=REPO.parent / "shared" / "data" / "coco")
    p.add_argument("--json", type=Path, default=None, help="also write the report here")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    report = run(args)
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
