"""Frame -> model input tensor, and the geometry to map model coordinates back.

Every model family wants its own variant (YOLOX: BGR 0..255 letterboxed at the
top-left; Ultralytics: RGB 0..1 letterboxed centred; PyDNet/MiDaS: a plain
stretch), all described by `InputSpec`, so one function serves them all and
the decoders only ever see `Geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from workers.models.registry import InputSpec


@dataclass(frozen=True, slots=True)
class Geometry:
    """Frame size and the affine map frame -> model input: x_in = x * ratio_x + pad_x."""

    width: int
    height: int
    ratio_x: float
    ratio_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0


def fit(image: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Geometry]:
    """Resize (letterbox or stretch) a BGR image to the model's input size."""
    h, w = image.shape[:2]
    if spec.resize == "stretch":
        resized = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
        return resized, Geometry(w, h, spec.width / w, spec.height / h)
    ratio = min(spec.width / w, spec.height / h)
    nw, nh = max(1, int(w * ratio)), max(1, int(h * ratio))
    pad_x, pad_y = ((spec.width - nw) // 2, (spec.height - nh) // 2) if spec.resize == "letterbox_center" else (0, 0)
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
    # resized straight into the canvas (`dst` is a view of it): no intermediate image
    cv2.resize(image, (nw, nh), dst=canvas[pad_y : pad_y + nh, pad_x : pad_x + nw], interpolation=cv2.INTER_LINEAR)
    return canvas, Geometry(w, h, ratio, ratio, pad_x, pad_y)


REDUCTIONS = (8, 4, 2)


def reduction(width: int, height: int, spec: InputSpec) -> int:
    """The largest JPEG DCT scale (8, 4, 2, else 1) that still leaves the frame at least as large as
    what `fit` will resize it to: a reduced decode then only replaces part of a downscale, never
    makes `fit` upscale. For a stretch that is `size >= f x input` on both sides; for a letterbox
    on the side that sets the ratio (1280x720 into 416x416: 1/2; into 640x640: 1/2)."""
    if spec.resize == "stretch":
        fits = [f for f in REDUCTIONS if width >= f * spec.width and height >= f * spec.height]
    else:
        ratio = min(spec.width / width, spec.height / height)
        fits = [f for f in REDUCTIONS if f * ratio <= 1.0]
    return fits[0] if fits else 1


def fit_frame(image: np.ndarray, spec: InputSpec, width: int, height: int) -> tuple[np.ndarray, Geometry]:
    """`fit` for an image decoded at reduced scale from a `width` x `height` frame: the geometry
    maps the original frame's coordinates, so boxes come out relative to the frame as ingested."""
    fitted, g = fit(image, spec)
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return fitted, g
    return fitted, Geometry(width, height, g.ratio_x * w / width, g.ratio_y * h / height, g.pad_x, g.pad_y)


def fused_input(fitted: np.ndarray) -> np.ndarray:
    """The input of a model compiled with fused preprocessing (workers/fused.py): the uint8 BGR
    image as a batch of one, a view (no copy)."""
    return fitted[np.newaxis]


def to_tensor(image: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Geometry]:
    """The float32 batch-of-one input tensor for `spec`, plus its geometry (the NumPy reference)."""
    fitted, geometry = fit(image, spec)
    return fitted_to_tensor(fitted, spec), geometry


def fitted_to_tensor(fitted: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The reference conversion of a fitted uint8 BGR image (what the fused model does in-graph)."""
    if spec.colour == "RGB":
        fitted = cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB)
    tensor = fitted.astype(np.float32)
    if spec.scale != 1.0:
        tensor *= np.float32(spec.scale)
    if spec.mean is not None:
        tensor -= np.asarray(spec.mean, dtype=np.float32)
    if spec.std is not None:
        tensor /= np.asarray(spec.std, dtype=np.float32)
    if spec.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[np.newaxis])
