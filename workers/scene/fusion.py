"""Distance per detected object from one detection frame and one relative depth map (DESIGN.md section 5).

Monocular depth models give depth only up to an unknown scale, so metres come
from geometry wherever we can get them:

1. `depth_rel` (0 = nearest, 1 = farthest in this frame): the median of the
   depth grid over the central half of the box (the centre avoids background
   pixels at the box edges), normalised by the frame's 2nd..98th percentile.
2. `size_prior`: for classes of known typical height, the pinhole model
   `f_px = (W/2) / tan(hfov/2)`, `d = f_px * H_class / h_box_px`. Boxes cut by
   the top or bottom edge of the frame are not used (their height is too small).
3. `depth_scaled`: for other classes, the depth model's raw value (made
   proportional to distance: raw when larger is farther, 1/raw otherwise) times
   a per-session scale, fitted to the objects that got a size prior (median of
   their ratios per frame, exponential moving average over frames in log space).
4. `calibration`: a user calibration (`distance = scale * depth_rel + offset_m`)
   overrides both when a depth map is available.
Otherwise `distance_m` is None and `distance_source` is "none".

Everything here is pure and cheap (numpy on a grid of about 80x56); the scene
stage calls it off the event loop, with the detection's capture time as `now_ns`
so that a replay after failover fuses exactly as the first pass did. Error
bounds are in the project README. (Moved here from the gateway: the scale is
per-session state that depends on frame order, so it has one owner.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shared.boxes import Box
from shared.clock import NS_PER_S, s_to_ns
from shared.envelopes import DepthMap
from shared.sessions import Calibration

DistanceSource = Literal["size_prior", "depth_scaled", "calibration", "none"]

# Typical full height in metres of objects seen upright (adult person, passenger car, ...).
SIZE_PRIORS_M: dict[str, float] = {
    "person": 1.70,
    "bicycle": 1.05,
    "motorcycle": 1.20,
    "car": 1.50,
    "bus": 3.20,
    "truck": 3.20,
    "horse": 1.65,
    "cow": 1.40,
    "elephant": 3.00,
    "giraffe": 4.80,
    "stop sign": 0.75,
}
EDGE_MARGIN = 0.01  # a box this close to the top or bottom edge is treated as cut off
CENTRAL_FRACTION = 0.5  # the central half (per axis) of a box is sampled for depth
MIN_DEPTH_REL_RANGE = 1e-6


@dataclass(frozen=True, slots=True)
class DepthGrid:
    """A decoded depth map with the percentiles that normalise it."""

    values: np.ndarray  # float32, shape (grid_h, grid_w)
    larger_is_farther: bool
    captured_at_ns: int
    lo: float
    hi: float

    @classmethod
    def from_envelope(cls, depth: DepthMap) -> DepthGrid:
        values = np.frombuffer(depth.grid, dtype="<f2").astype(np.float32).reshape(depth.grid_h, depth.grid_w)
        finite = values[np.isfinite(values)]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 0.0)
        return cls(values, depth.larger_is_farther, depth.captured_at_ns, float(lo), float(hi))


@dataclass(frozen=True, slots=True)
class ObjectDistance:
    depth_rel: float | None
    distance_m: float | None
    distance_source: DistanceSource


def focal_px(width_px: int, hfov_deg: float) -> float:
    """Pinhole focal length in pixels from the horizontal field of view."""
    return (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def is_cut_off(box: Box, margin: float = EDGE_MARGIN) -> bool:
    """True when the frame cuts the box vertically, so its pixel height understates the object."""
    return box.y1 <= margin or box.y2 >= 1.0 - margin


def prior_distance(box: Box, height_px: int, f_px: float) -> float | None:
    """`f_px * H_class / h_box_px` for classes with a size prior and whole boxes; else None."""
    prior = SIZE_PRIORS_M.get(box.label)
    box_h_px = box.height * height_px
    if prior is None or box_h_px < 2.0 or is_cut_off(box):
        return None
    return f_px * prior / box_h_px


def box_depth_raw(grid: DepthGrid, box: Box, fraction: float = CENTRAL_FRACTION) -> float | None:
    """Median raw depth over the central `fraction` of the box (at least one grid cell)."""
    gh, gw = grid.values.shape
    cx, cy = box.center
    hw, hh = box.width * fraction / 2, box.height * fraction / 2
    x0, x1 = _cells(cx - hw, cx + hw, gw)
    y0, y1 = _cells(cy - hh, cy + hh, gh)
    patch = grid.values[y0:y1, x0:x1]
    patch = patch[np.isfinite(patch)]
    return float(np.median(patch)) if patch.size else None


def _cells(lo: float, hi: float, n: int) -> tuple[int, int]:
    start = min(n - 1, max(0, math.floor(lo * n)))
    end = min(n, max(start + 1, math.ceil(hi * n)))
    return start, end


def depth_rel(grid: DepthGrid, raw: float) -> float:
    """Raw depth -> 0 (nearest in this frame) .. 1 (farthest), clipped."""
    span = grid.hi - grid.lo
    if span < MIN_DEPTH_REL_RANGE:
        return 0.5
    rel = (raw - grid.lo) / span
    if not grid.larger_is_farther:
        rel = 1.0 - rel
    return min(1.0, max(0.0, rel))


def distance_proxy(raw: float, larger_is_farther: bool) -> float | None:
    """A value proportional to distance (up to the session scale), or None if unusable."""
    if not math.isfinite(raw) or raw <= 0:
        return None
    return raw if larger_is_farther else 1.0 / raw


class ScaleEstimator:
    """Per-session metres-per-proxy-unit, smoothed in log space, forgotten when stale."""

    def __init__(self, alpha: float = 0.3, max_age_ns: int = 30 * NS_PER_S) -> None:
        self.alpha = alpha
        self.max_age_ns = max_age_ns
        self._log_scale: float | None = None
        self._updated_at_ns: int | None = None

    def state(self) -> dict[str, float | int | None]:
        """The smoothed scale and when it was last fitted, for the session checkpoint."""
        return {"log_scale": self._log_scale, "updated_at_ns": self._updated_at_ns}

    def restore(self, state: Mapping[str, float | int | None]) -> None:
        """From `state()`, or from a checkpoint written before times were nanoseconds (`updated_at`, seconds)."""
        log_scale, updated_at_ns = state.get("log_scale"), state.get("updated_at_ns")
        self._log_scale = float(log_scale) if log_scale is not None else None
        if updated_at_ns is None and (updated_at_s := state.get("updated_at")) is not None:
            updated_at_ns = s_to_ns(updated_at_s)
        self._updated_at_ns = int(updated_at_ns) if updated_at_ns is not None else None

    def update(self, ratios: list[float], now_ns: int) -> None:
        usable = [r for r in ratios if r > 0 and math.isfinite(r)]
        if not usable:
            return
        frame_log = math.log(float(np.median(usable)))
        if self._log_scale is None or self._stale(now_ns):
            self._log_scale = frame_log
        else:
            self._log_scale = (1 - self.alpha) * self._log_scale + self.alpha * frame_log
        self._updated_at_ns = now_ns

    def scale(self, now_ns: int) -> float | None:
        if self._log_scale is None or self._stale(now_ns):
            return None
        return math.exp(self._log_scale)

    def _stale(self, now_ns: int) -> bool:
        return self._updated_at_ns is None or now_ns - self._updated_at_ns > self.max_age_ns


@dataclass(frozen=True, slots=True)
class Camera:
    """What fusion needs from the session config and the frame."""

    width: int
    height: int
    hfov_deg: float
    calibration: Calibration | None = None


def fuse_frame(
    boxes: list[Box], camera: Camera, grid: DepthGrid | None, scale: ScaleEstimator, now_ns: int
) -> list[ObjectDistance]:
    """Distances for every object of one frame; updates the session scale from the size-prior objects."""
    f_px = focal_px(camera.width, camera.hfov_deg)
    raws = [box_depth_raw(grid, b) if grid is not None else None for b in boxes]
    priors = [prior_distance(b, camera.height, f_px) for b in boxes]
    if grid is not None:
        scale.update(_ratios(priors, raws, grid.larger_is_farther), now_ns)
    current_scale = scale.scale(now_ns)
    out = []
    for raw, prior in zip(raws, priors, strict=True):
        rel = depth_rel(grid, raw) if grid is not None and raw is not None else None
        out.append(_choose(rel, raw, prior, grid, camera.calibration, current_scale))
    return out


def _ratios(priors: list[float | None], raws: list[float | None], larger_is_farther: bool) -> list[float]:
    ratios = []
    for prior, raw in zip(priors, raws, strict=True):
        proxy = distance_proxy(raw, larger_is_farther) if raw is not None else None
        if prior is not None and proxy is not None:
            ratios.append(prior / proxy)
    return ratios


def _choose(
    rel: float | None,
    raw: float | None,
    prior: float | None,
    grid: DepthGrid | None,
    calibration: Calibration | None,
    scale: float | None,
) -> ObjectDistance:
    if calibration is not None and rel is not None:
        return ObjectDistance(rel, max(0.0, calibration.scale * rel + calibration.offset_m), "calibration")
    if prior is not None:
        return ObjectDistance(rel, prior, "size_prior")
    proxy = distance_proxy(raw, grid.larger_is_farther) if raw is not None and grid is not None else None
    if proxy is not None and scale is not None:
        return ObjectDistance(rel, scale * proxy, "depth_scaled")
    return ObjectDistance(rel, None, "none")
