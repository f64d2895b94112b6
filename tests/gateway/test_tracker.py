"""IouTracker: ids stay with objects across frames, new objects get new ids, lost ones are forgotten."""

from __future__ import annotations

from gateway.tracker import IouTracker, iou


def shifted(box: tuple[float, float, float, float], dx: float) -> tuple[float, float, float, float]:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


def test_iou_basics():
    a = (0.0, 0.0, 0.5, 0.5)
    assert iou(a, a) == 1.0
    assert iou(a, (0.5, 0.5, 1.0, 1.0)) == 0.0
    assert abs(iou(a, (0.25, 0.0, 0.75, 0.5)) - 1 / 3) < 1e-9
    assert iou((0.1, 0.1, 0.1, 0.1), (0.1, 0.1, 0.1, 0.1)) == 0.0


def test_ids_follow_two_moving_objects_across_frames():
    tracker = IouTracker()
    person, car = (0.1, 0.2, 0.3, 0.8), (0.6, 0.5, 0.9, 0.7)
    first = tracker.update([(person, 0), (car, 2)])
    assert len(set(first)) == 2
    for step in range(1, 10):
        # detection order changes between frames; ids must not
        ids = tracker.update([(shifted(car, -0.01 * step), 2), (shifted(person, 0.02 * step), 0)])
        assert ids == [first[1], first[0]]


def test_same_place_other_class_is_another_track():
    tracker = IouTracker()
    box = (0.2, 0.2, 0.4, 0.6)
    (dog,) = tracker.update([(box, 16)])
    (cat,) = tracker.update([(box, 15)])
    assert dog != cat


def test_fast_motion_is_followed_through_the_velocity_estimate():
    tracker = IouTracker()
    box = (0.0, 0.4, 0.1, 0.6)
    x, ids = 0.0, []
    for speed in (0.0, 0.03, 0.05, 0.07, 0.08, 0.08, 0.08, 0.08):  # later steps: IoU with the last box < 0.3
        x += speed
        ids.append(tracker.update([(shifted(box, x), 0)])[0])
    assert iou(box, shifted(box, 0.08)) < tracker.iou_threshold
    assert len(set(ids)) == 1


def test_a_track_survives_short_gaps_and_is_forgotten_after_max_missed():
    tracker = IouTracker(max_missed=2)
    box = (0.4, 0.4, 0.6, 0.6)
    (first,) = tracker.update([(box, 0)])
    tracker.update([])
    tracker.update([])
    assert tracker.update([(box, 0)]) == [first]
    for _ in range(3):
        tracker.update([])
    assert tracker.update([(box, 0)]) != [first]


def test_two_detections_never_share_a_track():
    tracker = IouTracker()
    box = (0.4, 0.4, 0.6, 0.6)
    (first,) = tracker.update([(box, 0)])
    ids = tracker.update([(box, 0), (shifted(box, 0.01), 0)])
    assert first in ids and len(set(ids)) == 2
