"""The one box type: normalised corners, pixels only at the edge, arrays for vectorised code."""

from __future__ import annotations

import numpy as np
import pytest

from shared.boxes import Box, corners_array, from_arrays
from shared.errors import EnvelopeError

PERSON = Box(0.25, 0.5, 0.75, 1.0, 0.9, 0, "person")


def test_shape_of_a_box() -> None:
    assert PERSON.corners == (0.25, 0.5, 0.75, 1.0)
    assert (PERSON.width, PERSON.height, PERSON.center) == (0.5, 0.5, (0.5, 0.75))
    assert PERSON.anchor("bottom_center") == (0.5, 1.0)
    assert PERSON.anchor("center") == (0.5, 0.75)


def test_pixels_at_the_edge_and_back() -> None:
    assert PERSON.to_pixels(640, 480) == (160.0, 240.0, 480.0, 480.0)
    again = Box.from_pixels([160, 240, 480, 480], 640, 480, score=0.9, class_id=0, label="person")
    assert again == PERSON


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (Box(0.25, 0.5, 0.75, 1.0, 0.1, 3, "x"), 1.0),  # the same corners: classes do not matter here
        (Box(0.5, 0.5, 1.0, 1.0, 0.9, 0, "person"), 1 / 3),  # half of each overlaps
        (Box(0.0, 0.0, 0.2, 0.2, 0.9, 0, "person"), 0.0),
        (Box(0.3, 0.6, 0.3, 0.6, 0.9, 0, "person"), 0.0),  # no area
    ],
)
def test_iou(other: Box, expected: float) -> None:
    assert PERSON.iou(other) == pytest.approx(expected)
    assert other.iou(PERSON) == pytest.approx(expected)


def test_wire_list_round_trip_and_refusals() -> None:
    assert PERSON.to_list() == [0.25, 0.5, 0.75, 1.0, 0.9, 0, "person"]
    assert Box.from_list(PERSON.to_list()) == PERSON
    for bad in ([0.1, 0.2, 0.3, 0.4, 0.9, 0], [0.1, "a", 0.3, 0.4, 0.9, 0, "p"], [0.1, 0.2, 0.3, 0.4, 0.9, 1.5, "p"]):
        with pytest.raises(EnvelopeError):
            Box.from_list(bad)


def test_arrays_both_ways() -> None:
    xyxy = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.9], [0.0, 0.0, 1.0, 1.0]], dtype=np.float32)
    score = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    class_id = np.array([1, 0, 99], dtype=np.int32)
    boxes = from_arrays(xyxy, score, class_id, ["person", "bicycle"])
    assert [(b.label, b.class_id) for b in boxes] == [("bicycle", 1), ("99", 99)]  # the empty box is dropped
    assert all(isinstance(v, float) for b in boxes for v in (*b.corners, b.score))
    assert isinstance(boxes[0].class_id, int)
    assert corners_array(boxes) == pytest.approx(xyxy[[0, 2]].astype(np.float64))
    assert corners_array([]).shape == (0, 4)
