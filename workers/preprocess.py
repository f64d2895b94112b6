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
    canvas[pad_y : pad_y + nh, pad_x : pad_x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, Geometry(w, h, ratio, ratio, pad_x, pad_y)


def to_tensor(image: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Geometry]:
    """The float32 batch-of-one input tensor for `spec`, plus its geometry."""
    fitted, geometry = fit(image, spec)
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
    return np.ascontiguousarray(tensor[np.newaxis]), geometry
