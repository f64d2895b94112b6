"""The models a worker can run, and where each one's file comes from.

A `ModelSpec` says everything the worker needs beyond the file itself: which
decoder reads the output (`family`), how to build the input tensor (`InputSpec`),
the labels and, for depth, which way the values point. Files resolve in a fixed
order: `settings.model_dir`, then the user cache, then the copies shipped inside
the package (workers/models/default), then a verified download of the pinned
URL (through `settings.model_mirror` when set). Specs without a pinned checksum
are "bring your own file": never downloaded unverified. Models registered with
`sightwire models add` live in the model store (workers/models/store.py) and
shadow a built-in spec of the same name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workers.models import packaged
from workers.models.download import DownloadError, fetch_verified, mirrored
from workers.models.labels import COCO80
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)

Task = Literal["detector", "depth"]
Family = Literal["yolox", "yolov8", "yolov5", "pydnet", "midas"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelError(RuntimeError):
    """An unknown model name, or a model file that cannot be found or fetched."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How a decoded BGR uint8 frame becomes the model's input tensor."""

    width: int
    height: int
    layout: Literal["NCHW", "NHWC"]
    colour: Literal["BGR", "RGB"]
    resize: Literal["letterbox_topleft", "letterbox_center", "stretch"]
    scale: float = 1.0  # applied to 0..255 pixel values
    mean: tuple[float, float, float] | None = None  # after scaling, in `colour` order
    std: tuple[float, float, float] | None = None
    pad_value: int = 114


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    task: Task
    family: Family
    filename: str
    url: str | None
    sha256: str | None
    input: InputSpec
    labels: tuple[str, ...] = ()
    larger_is_farther: bool = True
    output_index: int = 0  # which output the decoder reads (PyDNet: 0 = finest)
    location: Path | None = None  # a registered model's file in the model store

    @property
    def pullable(self) -> bool:
        return bool(self.url and self.sha256)


_ULTRALYTICS_INPUT = InputSpec(640, 640, "NCHW", "RGB", "letterbox_center", scale=1 / 255)

SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yolox_nano",
            task="detector",
            family="yolox",
            filename="yolox_nano.onnx",
            url="https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/"
            "0f785c070ce8da070aeaeef46c0da7904ff7012e/model/yolox_nano.onnx",
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            input=InputSpec(416, 416, "NCHW", "BGR", "letterbox_topleft"),
            labels=COCO80,
        ),
        ModelSpec("yolov8n", "detector", "yolov8", "yolov8n.onnx", None, None, _ULTRALYTICS_INPUT, COCO80),
        ModelSpec("yolo11n", "detector", "yolov8", "yolo11n.onnx", None, None, _ULTRALYTICS_INPUT, COCO80),
        ModelSpec("yolov5n", "detector", "yolov5", "yolov5n.onnx", None, None, _ULTRALYTICS_INPUT, COCO80),
        ModelSpec(
            name="pydnet",
            task="depth",
            family="pydnet",
            filename="pydnet.tflite",
            url="https://github.com/FilippoAleotti/mobilePydnet/raw/"
            "0fc3030630cd76ef8f0a64da43818340ee3dfb65/Android/app/src/main/assets/optimized_pydnet++.tflite",
            sha256="ba97991edb4a516096557aedf56e61bf4aa4c30e34d6a38f061ef449ecf16bc7",
            input=InputSpec(640, 448, "NHWC", "RGB", "stretch", scale=1 / 255),
            larger_is_farther=True,
        ),
        ModelSpec(
            name="midas_small",
            task="depth",
            family="midas",
            filename="model-small.onnx",
            url="https://github.com/isl-org/MiDaS/releases/download/v2_1/model-small.onnx",
            sha256=None,  # not pinned yet: place the file in SIGHTWIRE_MODEL_DIR
            input=InputSpec(256, 256, "NCHW", "RGB", "stretch", 1 / 255, IMAGENET_MEAN, IMAGENET_STD),
            larger_is_farther=False,  # inverse relative depth
        ),
    )
}


def spec_of(name: str, task: Task | None = None, settings: WorkerSettings | None = None) -> ModelSpec:
    """The spec called `name`: a model registered in the store (with `settings`), else a built-in one."""
    from workers.models import store  # store builds specs: imported here to keep the module graph acyclic

    registered = store.load(settings.model_store_dir, name) if settings is not None else None
    spec = registered or SPECS.get(name)
    if spec is None:
        known = sorted(SPECS) + (store.names(settings.model_store_dir) if settings is not None else [])
        raise ModelError(
            f"unknown model {name!r}; known: {', '.join(known)} (register your own with `sightwire models add PATH`)"
        )
    if task is not None and spec.task != task:
        raise ModelError(f"model {name!r} is a {spec.task} model, not a {task} model")
    return spec


def find_local(spec: ModelSpec, settings: WorkerSettings) -> Path | None:
    """A registered model's file; else the first existing file in model_dir, then the cache,
    then the package's own copy; None if none has it."""
    if spec.location is not None:
        return spec.location if spec.location.is_file() else None
    for folder in (settings.model_dir, settings.model_cache_dir):
        if folder is not None and (folder / spec.filename).is_file():
            return folder / spec.filename
    return packaged.path_of(spec.filename) if settings.model_packaged else None


def places(spec: ModelSpec, settings: WorkerSettings) -> list[str]:
    """Where `find_local` looks, in order, for a message that says so."""
    if spec.location is not None:
        return [str(spec.location)]
    where = [f"SIGHTWIRE_MODEL_DIR={settings.model_dir}" if settings.model_dir else "SIGHTWIRE_MODEL_DIR (unset)"]
    where.append(str(settings.model_cache_dir))
    if settings.model_packaged:
        where.append("the package's defaults")
    return where


def fix_for(spec: ModelSpec) -> str:
    """What a user can do about a missing model file."""
    if spec.location is not None:
        return f"register it again: `sightwire models add PATH --name {spec.name}`"
    fixes = [f"`sightwire models pull {spec.name}`"] if spec.pullable else []
    fixes += [
        f"set SIGHTWIRE_MODEL_DIR to a folder holding {spec.filename}",
        f"`sightwire models add PATH --name {spec.name}`",
    ]
    return "fix: " + ", or ".join(fixes)


def pull(spec: ModelSpec, settings: WorkerSettings) -> Path:
    """Download the pinned file into the cache, verified; raise ModelError if impossible."""
    if not spec.url or not spec.sha256:
        raise ModelError(
            f"{spec.name}: {spec.filename} not found in {', '.join(places(spec, settings))} and it has no pinned "
            f"download; {fix_for(spec)}"
        )
    url = mirrored(spec.url, settings.model_mirror)
    log.info("downloading model", extra={"model": spec.name, "url": url})
    try:
        return fetch_verified(url, spec.sha256, settings.model_cache_dir / spec.filename)
    except DownloadError as exc:
        raise ModelError(str(exc)) from exc


def resolve(spec: ModelSpec, settings: WorkerSettings) -> Path:
    """The model's file: local if present, else pulled when downloads are allowed."""
    local = find_local(spec, settings)
    if local is not None:
        return local
    if spec.location is not None:
        raise ModelError(f"{spec.name}: registered file {spec.location} is missing; {fix_for(spec)}")
    if not settings.model_download:
        raise ModelError(
            f"{spec.name}: {spec.filename} not found in {', '.join(places(spec, settings))}, "
            f"and downloads are off; {fix_for(spec)}"
        )
    return pull(spec, settings)


def cli_list(settings: WorkerSettings) -> int:
    """`sightwire models list`: every known model, its task and where its file is."""
    from workers.models import store

    configured = {settings.detector_model, settings.depth_model}
    registered = {n: s for n in store.names(settings.model_store_dir) if (s := store.load(settings.model_store_dir, n))}
    print(f"{'name':<13} {'task':<9} {'family':<7} {'in use':<6} where")
    for spec in {**SPECS, **registered}.values():
        local = find_local(spec, settings)
        where = str(local) if local else ("not found (pullable)" if spec.pullable else "not found (bring the file)")
        used = "yes" if spec.name in configured else ""
        print(f"{spec.name:<13} {spec.task:<9} {spec.family:<7} {used:<6} {where}")
    return 0


def cli_pull(settings: WorkerSettings, names: list[str]) -> int:
    """`sightwire models pull [names]`: make the models (default: the configured ones) available."""
    failed = False
    for name in names or [settings.detector_model, settings.depth_model]:
        try:
            spec = spec_of(name, settings=settings)
            local = find_local(spec, settings)
            path = local if local is not None else pull(spec, settings)
        except ModelError as exc:
            failed = True
            print(f"{name}: FAILED: {exc}")
            continue
        print(f"{name}: {'present' if local else 'pulled'} {path}")
    return 1 if failed else 0
