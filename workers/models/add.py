"""`sightwire models add PATH`: register a detector file or an Ultralytics export folder.

What a user usually has is the folder `yolo export format=openvino` writes
(`<name>.xml`, `<name>.bin`, `metadata.yaml`); `metadata.yaml` carries the
class names, the input size and the task, so nobody has to type labels. The
decoder family follows from the output shape (OpenVINO reads the graph; nothing
is compiled): `[1, 4+C, N]` is YOLOv8/YOLO11, `[1, N, 5+C]` is YOLOX when N is
one row per grid cell of strides 8/16/32, YOLOv5 when three anchors per cell.
The files are copied into the model store with a manifest (workers/models/store.py).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import openvino as ov
import yaml

from workers.models import store
from workers.models.labels import COCO80
from workers.models.registry import ModelError
from workers.settings import WorkerSettings

MODEL_SUFFIXES = (".xml", ".onnx", ".tflite")
MAX_TEXT_BYTES = 1024 * 1024  # metadata.yaml and label files
STRIDES = (8, 16, 32)


@dataclass(frozen=True, slots=True)
class Metadata:
    """The parts of an Ultralytics `metadata.yaml` we use."""

    labels: list[str] | None = None
    imgsz: tuple[int, int] | None = None  # (height, width)
    task: str | None = None


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise ModelError(f"{path}: larger than {MAX_TEXT_BYTES} bytes; not a metadata or label file")
    return path.read_text(errors="replace")


def _names(raw: object, where: Path) -> list[str]:
    """`names:` as Ultralytics writes it (a {index: name} map) or a plain list."""
    if isinstance(raw, dict):
        try:
            ordered = sorted((int(k), str(v)) for k, v in raw.items())
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}: `names` keys must be class indices") from exc
        if [i for i, _ in ordered] != list(range(len(ordered))):
            raise ModelError(f"{where}: `names` must number the classes 0..N-1 without gaps")
        return [name for _, name in ordered]
    if isinstance(raw, list):
        return [str(v) for v in raw]
    raise ModelError(f"{where}: `names` must be a map or a list of class names")


def read_metadata(path: Path) -> Metadata:
    try:
        doc = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(doc, dict):
        raise ModelError(f"{path}: expected a mapping")
    imgsz = doc.get("imgsz")
    size: tuple[int, int] | None = None
    if isinstance(imgsz, int):
        size = (imgsz, imgsz)
    elif isinstance(imgsz, list) and len(imgsz) == 2 and all(isinstance(v, int) for v in imgsz):
        size = (imgsz[0], imgsz[1])
    names = _names(doc["names"], path) if "names" in doc else None
    task = doc.get("task")
    return Metadata(names, size, str(task) if task is not None else None)


def read_labels(path: Path) -> list[str]:
    """A label file: YAML with `names:` (or a list), else one class name per line."""
    text = _read_text(path)
    if path.suffix in (".yaml", ".yml"):
        doc = yaml.safe_load(text)
        return _names(doc.get("names") if isinstance(doc, dict) else doc, path)
    return [line.strip() for line in text.splitlines() if line.strip()]


def locate(path: Path) -> tuple[Path, Path | None]:
    """The model file and the `metadata.yaml` beside it (None when absent)."""
    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in MODEL_SUFFIXES and p.is_file())
        if len(found) != 1:
            raise ModelError(f"{path}: expected one model file ({', '.join(MODEL_SUFFIXES)}), found {len(found)}")
        model = found[0]
    elif path.suffix.lower() in MODEL_SUFFIXES:
        model = path
    else:
        raise ModelError(f"{path}: not a model file (expected {', '.join(MODEL_SUFFIXES)})")
    meta = folder / "metadata.yaml"
    return model, meta if meta.is_file() else None


def model_files(model: Path) -> list[Path]:
    """The files a model needs: an IR's .xml has its weights in the .bin beside it."""
    if model.suffix.lower() != ".xml":
        return [model]
    weights = model.with_suffix(".bin")
    if not weights.is_file():
        raise ModelError(f"{model}: its weights {weights.name} are missing")
    return [model, weights]


def _static(shape: ov.PartialShape, what: str) -> list[int] | None:
    if shape.is_dynamic:
        return None
    dims = [int(d) for d in shape.to_shape()]
    if len(dims) != 4 and what == "input":
        raise ModelError(f"the model's input has shape {dims}; a detector takes [1, 3, H, W]")
    return dims


def infer_family(output: list[int], height: int, width: int) -> tuple[str, int]:
    """(family, number of classes) from a detector's output shape; ModelError when unknown."""
    if len(output) != 3 or output[0] != 1:
        raise ModelError(f"output shape {output} is not a YOLO detection head ([1, 4+C, N] or [1, N, 5+C])")
    _, a, b = output
    if 5 <= a < b:
        return "yolov8", a - 4
    cells = sum((height // s) * (width // s) for s in STRIDES)
    if b >= 6 and a == cells:
        return "yolox", b - 5
    if b >= 6 and a == 3 * cells:
        return "yolov5", b - 5
    raise ModelError(f"output shape {output} matches no known family for a {width}x{height} input; pass --family")


def classes_of(family: str, output: list[int]) -> int:
    return output[1] - 4 if family == "yolov8" else output[2] - 5


@dataclass(frozen=True, slots=True)
class Request:
    path: Path
    name: str | None = None
    family: str | None = None
    labels_file: Path | None = None


def _default_name(path: Path) -> str:
    raw = path.name if path.is_dir() else path.stem
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", raw).lstrip("._-")[:64]
    if not store.valid_name(name):
        raise ModelError(f"cannot make a model name from {path.name!r}; pass --name")
    return name


def inspect(model: Path, meta: Metadata) -> tuple[int, int, list[int]]:
    """(height, width, output shape), reading the graph only."""
    try:
        graph = ov.Core().read_model(str(model))
    except RuntimeError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip() and "Exception from" not in line]
        raise ModelError(f"{model}: OpenVINO cannot read it: {(lines or ['?'])[0][:200]}") from exc
    if len(graph.inputs) != 1:
        raise ModelError(f"{model}: a detector has one input, this model has {len(graph.inputs)}")
    dims = _static(graph.inputs[0].get_partial_shape(), "input")
    height, width = (dims[2], dims[3]) if dims else (meta.imgsz or (640, 640))
    if dims is None:
        graph.reshape({graph.inputs[0]: ov.PartialShape([1, 3, height, width])})
    output = _static(graph.outputs[0].get_partial_shape(), "output")
    if output is None:
        raise ModelError(f"{model}: its output shape stays dynamic at {width}x{height}")
    return height, width, output


def build_manifest(req: Request, model: Path, meta: Metadata) -> store.Manifest:
    if meta.task is not None and meta.task != "detect":
        raise ModelError(f"{req.path}: metadata.yaml says task {meta.task!r}; only detection models can be added")
    height, width, output = inspect(model, meta)
    family, classes = infer_family(output, height, width) if req.family is None else (req.family, 0)
    classes = classes or classes_of(family, output)
    labels = read_labels(req.labels_file) if req.labels_file else meta.labels
    if labels is None:
        if classes != len(COCO80):
            raise ModelError(f"{req.path}: the model has {classes} classes and no names; pass --labels FILE")
        labels = list(COCO80)
    if len(labels) != classes:
        raise ModelError(f"{req.path}: {len(labels)} class names given, but the model outputs {classes} classes")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    fields: dict[str, Any] = {"family": family, "labels": labels, "width": width, "height": height}
    try:
        return store.Manifest(
            name=req.name or _default_name(req.path), file=model.name, sha256=digest, source=str(req.path), **fields
        )
    except ValueError as exc:  # pydantic's ValidationError: a bad name, too many or too long labels
        raise ModelError(f"{req.path}: {str(exc).splitlines()[0]}: {exc}") from exc


def add(req: Request, settings: WorkerSettings) -> tuple[store.Manifest, Path]:
    model, meta_path = locate(req.path)
    files = model_files(model) + ([meta_path] if meta_path else [])
    meta = read_metadata(meta_path) if meta_path else Metadata()
    manifest = build_manifest(req, model, meta)
    return manifest, store.save(settings.model_store_dir, manifest, files)


def cli_add(settings: WorkerSettings, args: argparse.Namespace) -> int:
    """Register, print one line on success and one line (the reason) on failure."""
    req = Request(Path(args.path), args.name, cast(str | None, args.family), args.labels)
    try:
        manifest, folder = add(req, settings)
    except (ModelError, OSError) as exc:
        print(f"models add: {exc}")
        return 2
    print(
        f"added {manifest.name}: {manifest.family} detector, {len(manifest.labels)} classes, "
        f"{manifest.width}x{manifest.height} input -> {folder}\n"
        f"run it: SIGHTWIRE_DETECTOR_MODEL={manifest.name} sightwire up"
    )
    return 0
