"""Settings of the detector and depth workers (env prefix `SIGHTWIRE_`).

One class serves both kinds so that `sightwire worker detector|depth` and
`sightwire models list|pull` read the same model configuration. Built once in
`shared.cli` and passed down; nothing here reads the environment later.

Performance hints (OpenVINO), chosen per worker kind:
- detector: THROUGHPUT. The detector sees every frame of every session, so the
  binding constraint is aggregate frames per second; THROUGHPUT runs several
  CPU streams in parallel (~+50 % frames/s on 2 cores for YOLOX-Nano) at a
  per-frame latency that stays well under one frame interval.
- depth: LATENCY. Depth is sampled (`depth_fps`) and the gateway fuses the
  freshest map; one map delivered sooner beats more maps delivered later, and
  PyDNet at ~65 ms/frame benefits from all cores working on one frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from shared.settings import CommonSettings, HeartbeatSettings, user_cache_dir

PerformanceHint = Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"]
PrecisionHint = Literal["default", "f32", "bf16", "f16"]
WorkerKind = Literal["detector", "depth"]


def _default_model_cache() -> Path:
    return user_cache_dir() / "models"


def _default_compiled_cache() -> Path:
    return user_cache_dir() / "openvino"


def _default_model_store() -> Path:
    """`$XDG_DATA_HOME/sightwire/models`, else `~/.local/share/sightwire/models`: models the user
    added are data, not a cache that may be wiped."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sightwire" / "models"


class WorkerSettings(CommonSettings, HeartbeatSettings):
    """Model resolution, OpenVINO, post-processing and consumer tuning of a worker."""

    model_dir: Path | None = Field(None, description="Directory searched first for model files.")
    model_cache_dir: Path = Field(default_factory=_default_model_cache, description="Where pulled models go.")
    model_mirror: str | None = Field(
        None, description="Base URL replacing the origin of pinned model URLs (corporate mirror)."
    )
    model_download: bool = Field(True, description="Pull a missing pinned model at worker start-up.")
    model_packaged: bool = Field(
        True, description="Use the models shipped inside the package (yolox_nano, pydnet) when no other copy is found."
    )
    model_store_dir: Path = Field(
        default_factory=_default_model_store, description="Where `sightwire models add` keeps registered models."
    )
    detector_model: str = Field("yolox_nano", description="Model spec of the detector (`sightwire models list`).")
    depth_model: str = Field("pydnet", description="Model spec of the depth worker.")

    device: str = Field(
        "CPU",
        max_length=200,
        description="OpenVINO device: CPU, GPU, NPU, AUTO, a priority list (GPU,CPU) or any OpenVINO device string.",
    )
    detector_device: str | None = Field(
        None, max_length=200, description="The detector's device when it differs from SIGHTWIRE_DEVICE (e.g. GPU)."
    )
    depth_device: str | None = Field(
        None, max_length=200, description="The depth worker's device when it differs from SIGHTWIRE_DEVICE."
    )
    ov_cache: bool = Field(True, description="OpenVINO compiled-model cache: a restart skips compilation.")
    ov_cache_dir: Path = Field(default_factory=_default_compiled_cache, description="Where compiled models are cached.")
    precision_hint: PrecisionHint = Field(
        "default", description="OpenVINO INFERENCE_PRECISION_HINT; default = the device's (bf16 on recent CPUs)."
    )
    detector_hint: PerformanceHint = Field(
        "THROUGHPUT", description="OpenVINO performance hint of the detector (it sees every frame)."
    )
    depth_hint: PerformanceHint = Field(
        "LATENCY", description="OpenVINO performance hint of depth (sampled; freshest map wanted)."
    )
    infer_requests: int = Field(0, ge=0, le=64, description="0 = OpenVINO's optimal number for the hint.")
    detector_nice: int = Field(0, ge=0, le=19, description="CPU priority (Unix nice) of the detector worker.")
    depth_nice: int = Field(
        10, ge=0, le=19, description="CPU priority (Unix nice) of the depth worker: it yields the CPU to the detector."
    )

    score_threshold: float = Field(
        0.25, ge=0, le=1, description="Lowest score published; the gateway filters per session above it."
    )
    nms_iou: float = Field(0.45, gt=0, le=1, description="IoU above which class-wise NMS suppresses a box.")
    max_detections: int = Field(100, ge=1, le=1000, description="Most boxes published per frame.")
    depth_grid_w: int = Field(80, ge=4, le=640, description="Width of the published depth grid.")
    depth_grid_h: int = Field(56, ge=4, le=480, description="Height of the published depth grid.")

    default_max_frame_age_ms: int = Field(2000, ge=1, description="Staleness limit when Frame.max_age_ms is 0.")
    fetch_batch: int = Field(8, ge=1, le=256, description="Frames pulled per fetch.")
    fetch_timeout_s: float = Field(1.0, gt=0, le=30, description="One pull's wait; bounds shutdown latency.")
    publish_timeout_s: float = Field(5.0, gt=0, le=60)
    nak_delay_s: float = Field(1.0, ge=0, le=60, description="Redelivery delay after a failed result publish.")

    @field_validator("model_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`SIGHTWIRE_MODEL_DIR=` (empty) means unset, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    def model_name(self, kind: WorkerKind) -> str:
        return self.detector_model if kind == "detector" else self.depth_model

    def device_for(self, kind: WorkerKind) -> str:
        return (self.detector_device if kind == "detector" else self.depth_device) or self.device

    def compiled_cache_dir(self) -> Path | None:
        return self.ov_cache_dir if self.ov_cache else None

    def hint(self, kind: WorkerKind) -> PerformanceHint:
        return self.detector_hint if kind == "detector" else self.depth_hint

    def nice(self, kind: WorkerKind) -> int:
        return self.detector_nice if kind == "detector" else self.depth_nice
