"""The tracking benchmark's scorer and clip geometry on tiny hand-made cases with known answers."""

from __future__ import annotations

import pytest

from benchmarks.tracking import GreedyIouTracker, View, occluder_at, score, visible_fraction

A = (10.0, 10.0, 60.0, 110.0)
B = (300.0, 50.0, 360.0, 170.0)


def test_known_id_switch_and_fragmentation_are_counted():
    gt = [[(0, A), (1, B)] for _ in range(6)]
    tracked = []
    for t in range(6):
        frame = [(10 if t < 3 else 20, A)]  # A's id switches once, at frame 3
        if t != 2:
            frame.append((30, B))  # B is missed once: one fragmentation, no switch
        tracked.append(frame)
    result = score(gt, tracked)
    assert result["IDSW"] == 1
    assert result["Frag"] == 1
    assert result["CLR_TP"] == 11 and result["CLR_FN"] == 1 and result["CLR_FP"] == 0
    assert result["MOTA"] == pytest.approx((11 - 0 - 1) / 12)
    assert result["IDF1"] == pytest.approx(2 * 8 / (2 * 8 + 4 + 3))  # IDTP 8 (A: 3 of 6, B: 5), IDFN 4, IDFP 3


def test_a_perfect_tracker_scores_one():
    gt = [[(0, A), (1, B)] for _ in range(4)]
    tracked = [[(7, A), (8, B)] for _ in range(4)]
    result = score(gt, tracked)
    assert result["IDSW"] == 0 and result["MOTA"] == pytest.approx(1.0) and result["IDF1"] == pytest.approx(1.0)


def test_geometry_of_the_synthetic_clip():
    assert View(100, 50, 2.0).apply((100, 50, 150, 100)) == (0, 0, 100, 100)
    assert visible_fraction((0, 0, 100, 100), (50, 100)) == pytest.approx(0.5)  # half behind the bar
    assert visible_fraction((-50, 0, 50, 100), (1000, 1100)) == pytest.approx(0.5)  # half outside the frame
    assert occluder_at(0, 100)[1] <= 0  # the bar starts left of the frame


def test_the_old_tracker_keeps_ids_of_a_slowly_moving_box():
    tracker = GreedyIouTracker()
    ids = [tracker.update([((0.1 + 0.01 * t, 0.1, 0.3 + 0.01 * t, 0.5), 0)]) for t in range(5)]
    assert ids == [[1]] * 5
