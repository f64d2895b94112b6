"""The model store: detectors registered with `sightwire models add`, one folder each.

`<store>/<name>/model.json` (the manifest) sits beside the copied model files.
The manifest is everything a worker needs beyond the file (family, labels,
input size), so `SIGHTWIRE_DETECTOR_MODEL=<name>` needs nothing else. A folder
is written under a temporary name and renamed into place, so a half-copied
model is never visible. Manifests are validated (pydantic, bounded) when read:
the store is a file boundary too.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from workers.models.registry import InputSpec, ModelError, ModelSpec

MANIFEST = "model.json"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_LABELS = 1000

Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DetectorFamily = Literal["yolox", "yolov8", "yolov5"]


class Manifest(BaseModel):
    """What `models add` learnt about a model, kept beside its files."""

    name: str = Field(pattern=NAME_PATTERN)
    task: Literal["detector"] = "detector"
    family: DetectorFamily
    file: str = Field(pattern=r"^[^/\\]{1,200}$")
    labels: list[Label] = Field(max_length=MAX_LABELS)
    width: int = Field(ge=32, le=4096)
    height: int = Field(ge=32, le=4096)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str = Field("", max_length=4096)


def input_for(family: DetectorFamily, width: int, height: int) -> InputSpec:
    """YOLOX: BGR 0..255 letterboxed top-left; Ultralytics: RGB 0..1 letterboxed centred (MODELS.md)."""
    if family == "yolox":
        return InputSpec(width, height, "NCHW", "BGR", "letterbox_topleft")
    return InputSpec(width, height, "NCHW", "RGB", "letterbox_center", scale=1 / 255)


def spec_from(manifest: Manifest, folder: Path) -> ModelSpec:
    return ModelSpec(
        name=manifest.name,
        task=manifest.task,
        family=manifest.family,
        filename=manifest.file,
        url=None,
        sha256=manifest.sha256,
        input=input_for(manifest.family, manifest.width, manifest.height),
        labels=tuple(manifest.labels),
        location=folder / manifest.file,
    )


def valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None


def names(store_dir: Path) -> list[str]:
    if not store_dir.is_dir():
        return []
    return sorted(p.name for p in store_dir.iterdir() if valid_name(p.name) and (p / MANIFEST).is_file())


def read_manifest(folder: Path) -> Manifest:
    try:
        return Manifest.model_validate_json((folder / MANIFEST).read_bytes()[: 1024 * 1024])
    except (OSError, ValidationError) as exc:
        raise ModelError(f"model store entry {folder} is unreadable ({type(exc).__name__}); add it again") from exc


def load(store_dir: Path, name: str) -> ModelSpec | None:
    """The registered model `name`, or None when the store has no such entry."""
    if not valid_name(name):
        return None
    folder = store_dir / name
    if not (folder / MANIFEST).is_file():
        return None
    return spec_from(read_manifest(folder), folder)


def save(store_dir: Path, manifest: Manifest, files: list[Path]) -> Path:
    """Copy `files` and the manifest into `<store>/<name>/`, replacing an entry of that name."""
    store_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{manifest.name}.", dir=store_dir))
    try:
        for source in files:
            shutil.copyfile(source, staging / source.name)
        (staging / MANIFEST).write_text(json.dumps(manifest.model_dump(), indent=1))
        final = store_dir / manifest.name
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
