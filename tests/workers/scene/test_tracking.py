"""ByteTrack behind session-wide ids, classes kept apart, and its checkpoint as plain msgpack data."""

from __future__ import annotations

import msgpack

from shared.boxes import Box
from shared.clock import NS_PER_S
from workers.scene.tracking import SceneTracker, TrackerParams

PARAMS = TrackerParams(high_threshold=0.5, lost_ns=1 * NS_PER_S, min_iou=0.1)
Frame = tuple[list[Box], int]


def box(x1: float, y1: float, x2: float, y2: float, score: float = 0.9, class_id: int = 0) -> Box:
    return Box(x1, y1, x2, y2, score, class_id, "chair" if class_id == 56 else "person")


def at(seconds: float) -> int:
    return round(seconds * NS_PER_S)


def walk(start: int, count: int) -> list[Frame]:
    """Two people crossing paths slowly, and a chair standing where one of them walks past."""
    frames = []
    for i in range(start, start + count):
        a = 0.1 + 0.01 * i
        b = 0.7 - 0.01 * i
        people = [box(a, 0.2, a + 0.1, 0.6), box(b, 0.25, b + 0.1, 0.65, 0.85)]
        people_and_chair = [*people, box(0.4, 0.3, 0.5, 0.6, 0.8, 56)]
        frames.append((people_and_chair, at(i / 10)))
    return frames


def test_ids_are_confirmed_on_the_second_frame_and_stay():
    tracker = SceneTracker(PARAMS)
    ids = [tracker.update(*f) for f in walk(0, 20)]
    assert ids[0] == [None, None, None]
    assert all(frame == ids[1] for frame in ids[1:]), ids
    assert sorted(ids[1]) == [1, 2, 3]  # session-wide ids, unique across classes


def test_low_scores_keep_a_track_alive_but_do_not_open_one():
    tracker = SceneTracker(PARAMS)
    for boxes, t_ns in walk(0, 5):
        tracker.update(boxes[:1], t_ns)
    kept = tracker.update([box(0.16, 0.2, 0.26, 0.6, 0.3)], at(0.5))  # occluded: a weak box
    opened = tracker.update([box(0.8, 0.8, 0.9, 0.9, 0.3)], at(0.6))
    assert kept == [1] and opened == [None]


def test_a_checkpoint_continues_with_the_same_ids():
    original = SceneTracker(PARAMS)
    for f in walk(0, 10):
        original.update(*f)
    saved = msgpack.unpackb(msgpack.packb(original.state(), use_bin_type=True), raw=False, strict_map_key=False)
    restored = SceneTracker(PARAMS)
    restored.restore(saved)
    for f in walk(10, 15):
        assert restored.update(*f) == original.update(*f)


def test_reset_forgets_tracks_but_ids_keep_counting():
    tracker = SceneTracker(PARAMS)
    for f in walk(0, 3):
        tracker.update(*f)
    tracker.reset()
    for f in walk(3, 3):
        ids = tracker.update(*f)
    assert sorted(i for i in ids if i is not None) == [4, 5, 6]


def test_a_lost_track_is_forgotten_after_its_buffer():
    tracker = SceneTracker(PARAMS)
    for boxes, t_ns in walk(0, 3):
        tracker.update(boxes[:1], t_ns)
    tracker.update([], at(5.0))  # 4.7 s later: longer than lost_ns
    assert tracker.state()["tracks"] == []


def test_classes_never_share_a_track():
    tracker = SceneTracker(PARAMS)
    person, chair = box(0.2, 0.2, 0.4, 0.6), box(0.2, 0.2, 0.4, 0.6, class_id=56)
    assert tracker.update([person], at(0.0)) == [None]
    assert tracker.update([person], at(0.1)) == [1]
    # the same place, another class: a new object, while the person's track waits unmatched
    assert tracker.update([chair], at(0.2)) == [None]
    assert tracker.update([chair], at(0.3)) == [2]


def test_the_lost_buffer_follows_the_setting_in_nanoseconds():
    assert SceneTracker(PARAMS)._tracker.maximum_frames_without_update == 30  # 1 s at the 30 fps reference
