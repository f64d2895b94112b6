"""Letterbox and stretch geometry, colour order, scaling and layout of input tensors."""

from __future__ import annotations

import numpy as np

from workers.models.registry import InputSpec
from workers.preprocess import fit, to_tensor


def bgr(h: int, w: int) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = 10  # B
    image[..., 2] = 200  # R
    return image


def test_topleft_letterbox_keeps_aspect_and_pads_with_114() -> None:
    spec = InputSpec(416, 416, "NCHW", "BGR", "letterbox_topleft")
    canvas, g = fit(bgr(500, 375), spec)
    assert canvas.shape == (416, 416, 3)
    assert (g.ratio_x, g.pad_x, g.pad_y) == (416 / 500, 0, 0)
    assert (canvas[:, 312:] == 114).all() and (canvas[:, :311, 2] == 200).all()


def test_centre_letterbox_splits_padding() -> None:
    spec = InputSpec(640, 640, "NCHW", "RGB", "letterbox_center", scale=1 / 255)
    _, g = fit(bgr(320, 640), spec)
    assert g.ratio_x == g.ratio_y == 1.0 and (g.pad_x, g.pad_y) == (0, 160)


def test_stretch_uses_independent_ratios() -> None:
    spec = InputSpec(640, 448, "NHWC", "RGB", "stretch", scale=1 / 255)
    tensor, g = to_tensor(bgr(480, 640), spec)
    assert tensor.shape == (1, 448, 640, 3) and tensor.dtype == np.float32
    assert (g.ratio_x, g.ratio_y) == (1.0, 448 / 480)
    np.testing.assert_allclose(tensor[0, 0, 0], [200 / 255, 0, 10 / 255], rtol=1e-6)  # RGB order, 0..1


def test_bgr_nchw_raw_pixels_for_yolox() -> None:
    tensor, _ = to_tensor(bgr(416, 416), InputSpec(416, 416, "NCHW", "BGR", "letterbox_topleft"))
    assert tensor.shape == (1, 3, 416, 416)
    assert tensor[0, 0, 5, 5] == 10 and tensor[0, 2, 5, 5] == 200


def test_mean_and_std_are_applied_after_scaling() -> None:
    spec = InputSpec(4, 4, "NCHW", "RGB", "stretch", 1 / 255, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    tensor, _ = to_tensor(np.full((4, 4, 3), 255, np.uint8), spec)
    np.testing.assert_allclose(tensor, 2.0)
