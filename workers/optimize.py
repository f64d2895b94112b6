"""`sightwire models optimize NAME --int8 --calibration DIR`: post-training INT8 quantization.

NNCF (OpenVINO's own compression library) does the quantization: it runs the
FP model on the calibration photos, picks per-tensor ranges and writes
fake-quantize nodes that OpenVINO's CPU plugin executes as INT8 kernels. We do
not hand-roll any of that. NNCF pulls in SciPy and scikit-learn (~180 MB), so
it is the optional extra `sightwire[optimize]`, imported only here.

The IR (`<stem>_int8.xml/.bin`, float input of the model's own shape) is
registered in the model store as `<name>-int8` (workers/models/store.py), so
`SIGHTWIRE_DETECTOR_MODEL=yolox_nano-int8` runs it like any other model, with the
same fused preprocessing as the FP file; `--output DIR` keeps a copy there too.
Agreement is measured on the registered model, loaded through the registry. In the same run the command
measures what the user is trading: raw throughput of FP vs INT8 (interleaved
rounds, THROUGHPUT hint, median of per-round ratios) and box agreement on the
evaluation photos: boxes are matched one to one (same class, IoU >= 0.5,
highest FP score first); agreement = matched / FP boxes (the FP detections the
INT8 model also finds), and the other direction, matched / INT8 boxes, is
reported beside it, so extra boxes show too. Both use the worker's publish
threshold and the product's compile settings. It prints a table and can write the numbers as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import openvino as ov

from shared.envelopes import Box
from workers.engine import Engine, compile_model, input_shape, read_model
from workers.focus import rewrite_focus
from workers.images import decode_jpeg
from workers.models import store
from workers.models.registry import ModelError, ModelSpec, resolve, spec_of
from workers.preprocess import to_tensor
from workers.settings import WorkerSettings
from workers.tasks import DetectorTask

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg"}
MAX_IMAGES = 1000
MATCH_IOU = 0.5
BENCH_ROUNDS = 3
INT8_SUFFIX = "-int8"


class OptimizeError(RuntimeError):
    """The optimization cannot run (missing extra, no images, not a detector...)."""


@dataclass
class Report:
    model: str
    int8_path: str
    registered_as: str  # the INT8 model's name in the store: SIGHTWIRE_DETECTOR_MODEL=<this>
    calibration_images: int
    eval_images: int
    fp_fps: float
    int8_fps: float
    speedup: float
    fp_boxes: int
    int8_boxes: int
    matched: int
    agreement: float  # matched / fp_boxes
    int8_matched_share: float  # matched / int8_boxes


def images_in(folder: Path) -> list[Path]:
    """The JPEGs of a folder, sorted, at most MAX_IMAGES."""
    if not folder.is_dir():
        raise OptimizeError(f"{folder} is not a directory")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise OptimizeError(f"no .jpg images in {folder}")
    return found[:MAX_IMAGES]


def folded_model(path: Path, spec: ModelSpec, *, rewrite_stem: bool = True) -> ov.Model:
    """The model with a static input and its shape subgraphs constant-folded. `convert_model` runs
    OpenVINO's front-end transformations, which `read_model` does not: on YOLOX's ONNX graph
    (hundreds of ShapeOf/Broadcast nodes) NNCF otherwise places quantizers it should not, and
    agreement with FP fell from 95 % to 57 % of boxes in our measurement. A YOLOX "Focus" stem is
    rewritten before NNCF sees it (workers/focus.py), so the INT8 IR quantizes one strided convolution
    on the image instead of four slices."""
    if path.suffix == ".xml":
        return read_model(ov.Core(), path, spec.input, rewrite_stem=rewrite_stem)
    model = ov.convert_model(str(path), input=input_shape(spec.input))
    return rewrite_focus(model, path.name) if rewrite_stem else model


def quantize(
    path: Path, spec: ModelSpec, calibration: Sequence[Path], output: Path, *, rewrite_stem: bool = True
) -> Path:
    """Quantize the model at `path` to INT8 with NNCF on `calibration`; write the IR; return its .xml.
    (`rewrite_stem=False` quantizes the file's own graph, for benchmarks/focus.py.)"""
    try:
        import nncf
    except ImportError as exc:
        raise OptimizeError("INT8 needs NNCF: pip install 'sightwire[optimize]'") from exc

    def transform(image: Path) -> np.ndarray:
        return to_tensor(decode_jpeg(image.read_bytes(), 10**8), spec.input)[0]

    model = folded_model(path, spec, rewrite_stem=rewrite_stem)
    dataset = nncf.Dataset(list(calibration), transform)
    quantized = nncf.quantize(model, dataset, subset_size=len(calibration), preset=nncf.QuantizationPreset.MIXED)
    output.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(output))
    return output


def int8_name(spec: ModelSpec) -> str:
    """The store name of a model's INT8 version: `yolox_nano` -> `yolox_nano-int8`."""
    name = f"{spec.name[: 64 - len(INT8_SUFFIX)]}{INT8_SUFFIX}"
    if not store.valid_name(name):
        raise OptimizeError(f"cannot make a model store name from {spec.name!r}")
    return name


def register(spec: ModelSpec, ir: Path, source: Path, settings: WorkerSettings) -> ModelSpec:
    """Copy the IR (.xml + .bin) into the model store as `<name>-int8`; return the registered spec."""
    if spec.family not in ("yolox", "yolov8", "yolov5"):
        raise OptimizeError(f"{spec.name}: family {spec.family} cannot be registered as a detector")
    manifest = store.Manifest(
        name=int8_name(spec),
        family=spec.family,
        file=ir.name,
        labels=list(spec.labels),
        width=spec.input.width,
        height=spec.input.height,
        sha256=hashlib.sha256(ir.read_bytes()).hexdigest(),
        source=f"{source} (NNCF INT8)",
    )
    store.save(settings.model_store_dir, manifest, [ir, ir.with_suffix(".bin")])
    return spec_of(manifest.name, "detector", settings)


def throughput(compiled: ov.CompiledModel, tensors: list[np.ndarray], n: int) -> float:
    """Inferences per second over `n` back-to-back asynchronous inferences."""
    queue = ov.AsyncInferQueue(compiled, 0)
    started = time.perf_counter()
    for i in range(n):
        queue.start_async({0: tensors[i % len(tensors)]})
    queue.wait_all()
    return n / (time.perf_counter() - started)


def speed(fp: Path, int8: Path, spec: ModelSpec, images: Sequence[Path], n: int) -> tuple[float, float, float]:
    """(FP fps, INT8 fps, median per-round ratio), rounds interleaved so load hits both alike."""
    tensors = [to_tensor(decode_jpeg(p.read_bytes(), 10**8), spec.input)[0] for p in images[:16]]
    models = [compile_model(p, spec.input, "CPU", "THROUGHPUT", 0, None) for p in (fp, int8)]
    for compiled in models:
        throughput(compiled, tensors, 8)  # warm-up
    rounds: list[tuple[float, float]] = []
    for _ in range(BENCH_ROUNDS):
        fp_fps, int8_fps = (throughput(compiled, tensors, n) for compiled in models)
        rounds.append((fp_fps, int8_fps))
    return (
        statistics.median(r[0] for r in rounds),
        statistics.median(r[1] for r in rounds),
        statistics.median(r[1] / r[0] for r in rounds),
    )


def matches(reference: list[Box], other: list[Box]) -> int:
    """Greedy one-to-one matching, highest reference score first: same class and IoU >= 0.5."""
    free = list(other)
    count = 0
    for box in sorted(reference, key=lambda b: -b.score):
        candidates = [(box.iou(o), i) for i, o in enumerate(free) if o.class_id == box.class_id]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= MATCH_IOU:
            free.pop(best[1])
            count += 1
    return count


def detections(engine: Engine, task: DetectorTask, images: Iterable[Path]) -> list[list[Box]]:
    out = []
    for image in images:
        prepared = task.prepare(image.read_bytes())
        out.append(task.finish(engine.infer_sync(prepared.tensor), prepared.geometry))
    return out


def agreement(
    fp: tuple[Path, ModelSpec], int8: tuple[Path, ModelSpec], settings: WorkerSettings, images: Sequence[Path]
) -> tuple[int, int, int]:
    """(FP boxes, INT8 boxes, matched pairs) over `images`, each model through the worker's own task
    built from its own spec (the INT8 one as the registry gives it)."""
    results = []
    for path, spec in (fp, int8):
        task = DetectorTask(spec, settings, fused=True)
        engine = Engine.load(path, spec.input, hint="LATENCY", requests=1, fused=True)
        try:
            results.append(detections(engine, task, images))
        finally:
            engine.close()
    fp_boxes, int8_boxes = results
    matched = sum(matches(a, b) for a, b in zip(fp_boxes, int8_boxes, strict=True))
    return sum(map(len, fp_boxes)), sum(map(len, int8_boxes)), matched


def optimize(
    name: str,
    settings: WorkerSettings,
    calibration_dir: Path,
    eval_dir: Path | None = None,
    output_dir: Path | None = None,
    bench_frames: int = 200,
) -> Report:
    spec = spec_of(name, settings=settings)
    if spec.task != "detector":
        raise OptimizeError(f"{name} is a {spec.task} model; INT8 agreement is measured on detections")
    calibration = images_in(calibration_dir)
    evaluation = images_in(eval_dir) if eval_dir is not None else calibration
    path = resolve(spec, settings)
    staging = output_dir or Path(tempfile.mkdtemp(prefix="sightwire-int8-"))
    try:
        written = staging / f"{path.stem}_int8.xml"
        log.info("quantizing", extra={"model": name, "images": len(calibration), "output": str(written)})
        quantize(path, spec, calibration, written)
        int8_spec = register(spec, written, path, settings)
    finally:
        if output_dir is None:
            shutil.rmtree(staging, ignore_errors=True)
    target = resolve(int8_spec, settings)  # what the worker will load: the store's copy
    fp_fps, int8_fps, ratio = speed(path, target, spec, evaluation, bench_frames)
    fp_n, int8_n, matched = agreement((path, spec), (target, int8_spec), settings, evaluation)
    return Report(
        model=name,
        int8_path=str(target),
        registered_as=int8_spec.name,
        calibration_images=len(calibration),
        eval_images=len(evaluation),
        fp_fps=round(fp_fps, 1),
        int8_fps=round(int8_fps, 1),
        speedup=round(ratio, 2),
        fp_boxes=fp_n,
        int8_boxes=int8_n,
        matched=matched,
        agreement=round(matched / fp_n, 3) if fp_n else 1.0,
        int8_matched_share=round(matched / int8_n, 3) if int8_n else 1.0,
    )


def print_report(r: Report) -> None:
    print(f"INT8 IR: {r.int8_path}, registered as {r.registered_as}: SIGHTWIRE_DETECTOR_MODEL={r.registered_as}")
    print(
        f"{'model':<12}{'FP fps':>9}{'INT8 fps':>10}{'speed-up':>10}{'FP boxes':>10}{'INT8 boxes':>12}"
        f"{'matched':>9}{'FP found':>10}{'INT8 found':>12}"
    )
    print(
        f"{r.model:<12}{r.fp_fps:>9.1f}{r.int8_fps:>10.1f}{r.speedup:>9.2f}x{r.fp_boxes:>10}{r.int8_boxes:>12}"
        f"{r.matched:>9}{r.agreement:>10.1%}{r.int8_matched_share:>12.1%}"
    )
    print(
        f"calibration: {r.calibration_images} images; evaluation: {r.eval_images} images; speed: raw OpenVINO, "
        f"THROUGHPUT hint, median of {BENCH_ROUNDS} interleaved rounds; agreement: same class, IoU >= {MATCH_IOU}"
    )


def cli_optimize(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """`sightwire models optimize NAME --int8 --calibration DIR [--eval DIR] [--output DIR] [--json PATH]`."""
    if len(args.names) != 1:
        print("models optimize takes exactly one model name")
        return 2
    if not args.int8 or args.calibration is None:
        print("models optimize needs --int8 and --calibration DIR (INT8 is the only optimization offered)")
        return 2
    try:
        report = optimize(args.names[0], settings, args.calibration, args.eval, args.output)
    except (OptimizeError, ModelError) as exc:
        print(f"{args.names[0]}: FAILED: {exc}")
        return 1
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0
