"""Distance fusion of the scene stage as pure functions: pinhole priors, depth sampling, the scale fit, calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.boxes import Box
from shared.clock import NS_PER_S
from shared.envelopes import DepthMap
from shared.sessions import Calibration
from workers.scene.fusion import (
    Camera,
    DepthGrid,
    ScaleEstimator,
    box_depth_raw,
    depth_rel,
    focal_px,
    fuse_frame,
    is_cut_off,
    prior_distance,
)


def box(corners: tuple[float, float, float, float], label: str = "person") -> Box:
    return Box(*corners, 0.9, 0, label)


def grid_of(values: np.ndarray, larger_is_farther: bool = True) -> DepthGrid:
    h, w = values.shape
    envelope = DepthMap(
        sid="s", seq=1, captured_at_ns=1, started_at_ns=1, finished_at_ns=1, worker="t", model="m",
        width=640, height=480, grid=values.astype("<f2").tobytes(), grid_w=w, grid_h=h,
        larger_is_farther=larger_is_farther,
    )  # fmt: skip
    return DepthGrid.from_envelope(envelope)


def test_focal_length_from_field_of_view():
    assert focal_px(640, 90) == pytest.approx(320)
    assert focal_px(640, 60) == pytest.approx(320 / math.tan(math.radians(30)))


@pytest.mark.parametrize(
    ("label", "box", "expected"),
    [
        ("person", (0.4, 0.25, 0.5, 0.75), 320 * 1.70 / 240),  # 240 px tall at f=320 px
        ("person", (0.4, 0.375, 0.5, 0.625), 2 * 320 * 1.70 / 240),  # half the height: twice as far
        ("car", (0.1, 0.4, 0.5, 0.6), 320 * 1.50 / 96),
        ("chair", (0.4, 0.25, 0.5, 0.75), None),  # no prior for chairs
        ("person", (0.4, 0.0, 0.5, 0.5), None),  # cut by the top edge: height unknown
        ("person", (0.4, 0.5, 0.5, 1.0), None),  # cut by the bottom edge
    ],
)
def test_size_prior_table(label: str, box: tuple[float, float, float, float], expected: float | None):
    got = prior_distance(Box(*box, 0.9, 0, label), 480, focal_px(640, 90))
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_cut_off_boxes():
    assert is_cut_off(box((0.1, 0.0, 0.2, 0.5))) and is_cut_off(box((0.1, 0.5, 0.2, 0.999)))
    assert not is_cut_off(box((0.0, 0.2, 1.0, 0.8)))  # side edges do not change the height


def test_depth_is_the_median_of_the_central_region_normalised_per_frame():
    values = np.ones((56, 80), dtype=np.float32) * 10.0  # background far away
    values[20:40, 30:50] = 2.0  # an object
    values[20:22, 30:50] = 9.0  # its top edge bleeds into the background: outside the central half
    grid = grid_of(values)
    raw = box_depth_raw(grid, box((30 / 80, 20 / 56, 50 / 80, 40 / 56)))
    assert raw == pytest.approx(2.0)
    assert depth_rel(grid, raw) == pytest.approx(0.0)
    assert depth_rel(grid, 10.0) == pytest.approx(1.0)


def test_depth_rel_respects_inverse_depth_models():
    values = np.linspace(1, 100, 56 * 80, dtype=np.float32).reshape(56, 80)  # larger = nearer
    grid = grid_of(values, larger_is_farther=False)
    assert depth_rel(grid, float(values.max())) == 0.0
    assert depth_rel(grid, float(values.min())) == 1.0


def test_tiny_boxes_still_sample_one_cell():
    grid = grid_of(np.full((56, 80), 3.0, dtype=np.float32))
    assert box_depth_raw(grid, box((0.5, 0.5, 0.5001, 0.5001))) == pytest.approx(3.0)


def scene() -> tuple[DepthGrid, list[Box]]:
    """A person 4 m away (raw depth 4) and a chair at raw depth 2 (so about 2 m)."""
    values = np.full((56, 80), 20.0, dtype=np.float32)
    person = box((0.25, 0.25, 0.35, 0.75))
    chair = Box(0.6, 0.5, 0.8, 0.7, 0.8, 56, "chair")
    values[14:42, 20:28] = 4.0
    values[28:39, 48:64] = 2.0
    return grid_of(values), [person, chair]


def test_classes_without_a_prior_are_scaled_from_those_with_one():
    grid, boxes = scene()
    hfov = math.degrees(2 * math.atan(320 / (4.0 * 240 / 1.70)))  # makes the person exactly 4 m
    camera = Camera(640, 480, hfov)
    person, chair = fuse_frame(boxes, camera, grid, ScaleEstimator(), now_ns=0)
    assert person.distance_source == "size_prior" and person.distance_m == pytest.approx(4.0)
    assert chair.distance_source == "depth_scaled" and chair.distance_m == pytest.approx(2.0, rel=0.01)
    assert chair.depth_rel is not None and person.depth_rel is not None and chair.depth_rel < person.depth_rel


def test_without_depth_or_prior_there_is_no_distance():
    _grid, boxes = scene()
    person, chair = fuse_frame(boxes, Camera(640, 480, 60), None, ScaleEstimator(), now_ns=0)
    assert person.distance_source == "size_prior" and person.depth_rel is None
    assert chair.distance_source == "none" and chair.distance_m is None


def test_without_a_prior_object_the_scale_is_unknown():
    grid, boxes = scene()
    (chair,) = fuse_frame(boxes[1:], Camera(640, 480, 60), grid, ScaleEstimator(), now_ns=0)
    assert chair.distance_source == "none" and chair.depth_rel is not None


def test_calibration_overrides_both():
    grid, boxes = scene()
    camera = Camera(640, 480, 60, Calibration(scale=10.0, offset_m=1.0))
    for dist in fuse_frame(boxes, camera, grid, ScaleEstimator(), now_ns=0):
        assert dist.distance_source == "calibration" and dist.depth_rel is not None
        assert dist.distance_m == pytest.approx(10.0 * dist.depth_rel + 1.0)


def test_scale_is_smoothed_and_forgotten_when_stale():
    s = NS_PER_S
    scale = ScaleEstimator(alpha=0.5, max_age_ns=10 * s)
    scale.update([2.0], now_ns=0)
    scale.update([8.0], now_ns=1 * s)
    assert scale.scale(1 * s) == pytest.approx(4.0)  # geometric mean at alpha 0.5
    scale.update([], now_ns=2 * s)  # a frame without prior objects keeps the scale
    assert scale.scale(5 * s) == pytest.approx(4.0)
    assert scale.scale(11 * s) == pytest.approx(4.0) and scale.scale(11 * s + 1) is None
    scale.update([3.0], now_ns=30 * s)  # a stale scale restarts instead of averaging
    assert scale.scale(30 * s) == pytest.approx(3.0)


def test_scale_state_survives_a_checkpoint():
    scale = ScaleEstimator(alpha=0.5, max_age_ns=10 * NS_PER_S)
    scale.update([2.0], now_ns=100 * NS_PER_S)
    restored = ScaleEstimator(alpha=0.5, max_age_ns=10 * NS_PER_S)
    restored.restore(scale.state())
    assert restored.scale(105 * NS_PER_S) == pytest.approx(2.0)
    assert ScaleEstimator().state() == {"log_scale": None, "updated_at_ns": None}


def test_a_checkpoint_from_before_nanoseconds_still_restores():
    """Version 1 checkpoints kept the fit time in seconds (`updated_at`): read as such, not ignored."""
    restored = ScaleEstimator(alpha=0.5, max_age_ns=10 * NS_PER_S)
    restored.restore({"log_scale": math.log(2.0), "updated_at": 100.0})
    assert restored.scale(109 * NS_PER_S) == pytest.approx(2.0)
    assert restored.scale(111 * NS_PER_S) is None
    assert restored.state() == {"log_scale": math.log(2.0), "updated_at_ns": 100 * NS_PER_S}
