"""Decoders of the three detector output layouts, class-wise NMS and box normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers import yolo
from workers.models.labels import COCO80
from workers.preprocess import Geometry

STOP_SIGN = 11


def yolox_output() -> np.ndarray:
    """One confident stop sign in the stride-16 cell (gx=5, gy=3) of a 416x416 input."""
    out = np.zeros((1, 3549, 85), np.float32)
    row = 52 * 52 + 3 * 26 + 5
    out[0, row, :5] = [0.5, 0.5, math.log(4), math.log(2), 0.9]
    out[0, row, 5 + STOP_SIGN] = 0.8
    out[0, 10, 4:6] = [0.5, 0.3]  # below threshold: 0.15
    return out


def test_yolox_grid_has_one_row_per_cell_in_stride_order() -> None:
    grid, stride = yolo.yolox_grid(416, 416)
    assert len(grid) == 3549
    assert grid[52 * 52 + 3 * 26 + 5].tolist() == [5, 3] and stride[52 * 52, 0] == 16
    assert stride[-1, 0] == 32 and grid[-1].tolist() == [12, 12]


def test_yolox_decode_follows_models_md() -> None:
    c = yolo.decode_yolox(yolox_output(), 416, 416, 0.25)
    assert len(c) == 1 and c.class_id.tolist() == [STOP_SIGN]
    assert c.score[0] == pytest.approx(0.72)
    np.testing.assert_allclose(c.cxcywh[0], [88, 56, 64, 32], rtol=1e-5)


def test_yolox_decode_refuses_a_mismatched_grid() -> None:
    with pytest.raises(ValueError):
        yolo.decode_yolox(np.zeros((1, 100, 85), np.float32), 416, 416, 0.25)


def test_yolov8_layout_is_channels_first_without_objectness() -> None:
    out = np.zeros((1, 84, 8400), np.float32)
    out[0, :4, 7] = [320, 240, 100, 50]
    out[0, 4 + 2, 7] = 0.6  # car
    out[0, 4 + 0, 9] = 0.1
    c = yolo.decode_yolov8(out, 0.25)
    assert c.class_id.tolist() == [2] and c.score[0] == pytest.approx(0.6)
    np.testing.assert_allclose(c.cxcywh[0], [320, 240, 100, 50])


def test_yolov5_layout_multiplies_objectness() -> None:
    out = np.zeros((1, 25200, 85), np.float32)
    out[0, 3, :5] = [100, 100, 20, 40, 0.5]
    out[0, 3, 5 + 16] = 0.9  # dog
    out[0, 4, :5] = [50, 50, 10, 10, 0.3]
    out[0, 4, 5 + 16] = 0.9  # 0.27 > 0.25
    c = yolo.decode_yolov5(out, 0.25)
    assert sorted(c.score.tolist()) == pytest.approx([0.27, 0.45])


def candidates(rows: list[tuple[float, float, float, float, float, int]]) -> yolo.Candidates:
    arr = np.array(rows, np.float32)
    return yolo.Candidates(arr[:, :4], arr[:, 4], arr[:, 5].astype(np.int32))


def test_nms_is_class_wise_and_sorted_by_score() -> None:
    c = candidates(
        [
            (100, 100, 50, 50, 0.6, 0),
            (102, 101, 50, 50, 0.9, 0),  # same class, overlaps: keeps the 0.9 one
            (101, 100, 50, 50, 0.7, 1),  # other class: kept
            (400, 400, 20, 20, 0.3, 0),  # far away: kept
        ]
    )
    kept = yolo.nms(c, 0.45, 100)
    assert kept.score.tolist() == pytest.approx([0.9, 0.7, 0.3])
    assert kept.class_id.tolist() == [0, 1, 0]
    assert len(yolo.nms(c, 0.45, 2)) == 2
    assert len(yolo.nms(c.take(np.array([], np.int64)), 0.45, 10)) == 0


def test_boxes_are_mapped_back_normalised_and_clipped() -> None:
    geometry = Geometry(width=832, height=832, ratio_x=0.5, ratio_y=0.5)
    c = candidates([(88, 56, 64, 32, 0.72, STOP_SIGN), (410, 10, 40, 40, 0.5, 0)])
    stop, person = yolo.to_boxes(c, geometry, COCO80)
    assert stop.label == "stop sign" and stop.class_id == STOP_SIGN
    assert [stop.x1, stop.y1, stop.x2, stop.y2] == pytest.approx([112 / 832, 80 / 832, 240 / 832, 144 / 832])
    assert person.x2 == 1.0 and person.y1 == 0.0  # clipped to the frame


def test_centre_letterbox_padding_is_removed() -> None:
    geometry = Geometry(width=640, height=320, ratio_x=1.0, ratio_y=1.0, pad_x=0, pad_y=160)
    [box] = yolo.to_boxes(candidates([(320, 320, 64, 32, 0.9, 5)]), geometry, COCO80)
    assert [box.x1, box.y1, box.x2, box.y2] == pytest.approx([0.45, 0.45, 0.55, 0.55])
    assert box.label == "bus"


def test_coco_labels_are_the_80_classes_in_order() -> None:
    assert len(COCO80) == 80 and COCO80[0] == "person" and COCO80[STOP_SIGN] == "stop sign"
    assert COCO80[-1] == "toothbrush"
