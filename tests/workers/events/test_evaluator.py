"""The event evaluator on known paths: each occurrence fires once, jitter fires nothing, state survives."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from shared.sessions import SessionConfig
from tests.workers.events.paths import LINE, WIDTH, ZONE, message, person, walk
from workers.events.evaluator import EventAnalyser, event_id
from workers.scene.analysers import make_analyser


def config(**fields: Any) -> SessionConfig:
    return SessionConfig.model_validate({"zones": [ZONE], "lines": [LINE], **fields})


def run(analyser: EventAnalyser, messages: list[dict[str, Any]], first_seq: int = 100) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        events += analyser.observe(msg, first_seq + i)
    return events


def test_a_walk_across_the_line_and_through_the_zone() -> None:
    events = run(EventAnalyser("cam1", config()), walk())
    assert [e["kind"] for e in events] == ["line_cross", "zone_enter", "dwell", "zone_exit"]
    cross, enter, dwell, leave = events
    assert cross["line"] == "gate" and cross["direction"] == "in" and cross["track_id"] == 7
    assert cross["counts"]["lines"] == {"gate": {"in": 1, "out": 0}}
    assert enter["zone"] == "bay" and enter["counts"]["zones"] == {"bay": 1}
    assert dwell["zone"] == "bay" and 2.0 <= dwell["dwell_s"] < 2.2
    assert dwell["timestamp"] - enter["timestamp"] == pytest.approx(dwell["dwell_s"])
    assert leave["counts"]["zones"] == {"bay": 0} and leave["dwell_s"] > dwell["dwell_s"]
    for ev in events:
        assert ev["sid"] == "cam1" and ev["label"] == "person" and len(ev["bbox"]) == 4
        assert ev["snapshot"] == f"/stream/sessions/cam1/events/{ev['id']}/snapshot.jpg"
    assert len({e["id"] for e in events}) == 4


def test_walking_back_counts_out() -> None:
    back = [message(i, [person(3, x)]) for i, x in enumerate([0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15], start=1)]
    events = run(EventAnalyser("s", config()), back)
    assert [(e["kind"], e.get("direction")) for e in events] == [("line_cross", "out")]
    assert events[0]["counts"]["lines"]["gate"] == {"in": 0, "out": 1}


def test_jitter_on_the_line_fires_once() -> None:
    line_x = LINE["a"][0]
    start = [message(i, [person(1, line_x - 0.05)]) for i in range(1, 4)]  # confirmed on the left
    jitter = [message(i, [person(1, line_x + (4 if i % 2 else -4) / WIDTH)]) for i in range(4, 60)]  # +-4 px
    cross = [message(i, [person(1, line_x + 0.05)]) for i in range(60, 63)]
    jitter_after = [message(i, [person(1, line_x + (4 if i % 2 else -4) / WIDTH)]) for i in range(63, 90)]
    events = run(EventAnalyser("s", config(zones=[])), start + jitter + cross + jitter_after)
    assert [(e["kind"], e["direction"]) for e in events] == [("line_cross", "in")]


def test_jitter_on_a_zone_edge_fires_one_enter() -> None:
    edge = ZONE["polygon"][0][0]
    outside = [message(i, [person(1, edge - 0.05)]) for i in range(1, 3)]
    inside = [message(i, [person(1, edge + 0.05)]) for i in range(3, 5)]
    jitter = [message(i, [person(1, edge + 0.05 + (3 if i % 2 else -3) / WIDTH)]) for i in range(5, 40)]
    on_edge = [message(i, [person(1, edge + (3 if i % 2 else -3) / WIDTH)]) for i in range(40, 60)]
    analyser = EventAnalyser("s", config(lines=[], zones=[{**ZONE, "dwell_s": None}]))
    events = run(analyser, outside + inside + jitter + on_edge)
    assert [e["kind"] for e in events] == ["zone_enter"]


def test_two_walkers_are_counted_separately_and_classes_filter() -> None:
    walkers = [message(i, [person(1, x), person(2, x, label="dog")]) for i, x in enumerate([0.2, 0.25, 0.35, 0.4], 1)]
    line = {**LINE, "classes": ["person"]}
    events = run(EventAnalyser("s", config(zones=[], lines=[line, {**LINE, "name": "all"}])), walkers)
    assert sorted((e["line"], e["track_id"]) for e in events) == [("all", 1), ("all", 2), ("gate", 1)]
    assert events[-1]["counts"]["lines"] == {"gate": {"in": 1, "out": 0}, "all": {"in": 2, "out": 0}}


def test_a_track_that_vanishes_inside_leaves_the_zone() -> None:
    inside = [message(i, [person(5, 0.6)]) for i in range(1, 4)]
    later = [message(i, []) for i in range(4, 40)]  # 3.6 s without the track
    events = run(EventAnalyser("s", config(lines=[], zones=[{**ZONE, "dwell_s": None}])), inside + later)
    assert [e["kind"] for e in events] == ["zone_enter", "zone_exit"]
    assert events[1]["reason"] == "lost" and events[1]["counts"]["zones"] == {"bay": 0}


@pytest.mark.parametrize("cut", [1, 5, 20, 31, 32, 45, 61, 62, 70, 75])
def test_state_round_trip_mid_path_gives_the_same_events(cut: int) -> None:
    messages = walk()
    whole = run(EventAnalyser("cam", config()), messages)
    first = EventAnalyser("cam", config())
    before = run(first, messages[:cut])
    saved = msgpack.unpackb(msgpack.packb(first.state()))
    second = EventAnalyser("cam", config())
    second.restore(saved)
    after = run(second, messages[cut:], first_seq=100 + cut)
    assert before + after == whole


def test_replay_after_restore_gives_identical_ids() -> None:
    """A new owner replaying from an older checkpoint computes the same ids (EVENTS drops repeats)."""
    messages = walk()
    first = EventAnalyser("cam", config())
    run(first, messages[:20])
    checkpoint = msgpack.unpackb(msgpack.packb(first.state()))
    later = run(first, messages[20:50], first_seq=120)
    replayer = EventAnalyser("cam", config())
    replayer.restore(checkpoint)
    assert run(replayer, messages[20:50], first_seq=120) == later
    assert later
    for e in later:
        assert e["id"] == event_id("cam", e["results_seq"], e["kind"], e.get("zone") or e.get("line"), e["track_id"])


def test_restore_forgets_zones_no_longer_configured() -> None:
    first = EventAnalyser("cam", config())
    run(first, walk()[:40])
    assert first.counts()["zones"] == {"bay": 1}
    renamed = EventAnalyser("cam", config(zones=[{**ZONE, "name": "dock"}]))
    renamed.restore(msgpack.unpackb(msgpack.packb(first.state())))
    assert renamed.counts() == {"zones": {"dock": 0}, "lines": {"gate": {"in": 1, "out": 0}}}


def error(code: str, seq: int = 9) -> dict[str, Any]:
    return {"type": "error", "error": "camera", "error_code": code, "frame_id": str(seq), "timestamp": 5.0}


def test_camera_health_fires_once_per_transition() -> None:
    analyser = make_analyser("cam", SessionConfig())
    kinds = []
    for i, msg in enumerate(
        [
            error("SOURCE_LOST"),
            error("SOURCE_LOST"),
            error("INVALID_IMAGE"),
            error("SOURCE_RESTORED"),
            error("SOURCE_RESTORED"),
            error("SOURCE_LOST"),
            error("SOURCE_UNREACHABLE"),
            error("SOURCE_UNREACHABLE"),
            {"type": "session_closed", "error_code": "SESSION_CLOSED", "timestamp": 9.0},
            {"type": "session_closed", "error_code": "SESSION_CLOSED", "timestamp": 9.0},
        ]
    ):
        kinds += [(e["kind"], e["snapshot"]) for e in analyser.observe(msg, i)]
    assert kinds == [
        ("source_lost", None),
        ("source_restored", None),
        ("source_lost", None),
        ("source_unreachable", None),
        ("session_closed", None),
    ]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"width": 0, "height": 10, "timestamp": 1},
        {"width": "x", "height": 10, "timestamp": 1},
        {"width": 640, "height": 360, "timestamp": 1, "detections": [{"track_id": None, "bbox": [1, 2, 3, 4]}]},
        {"width": 640, "height": 360, "timestamp": 1, "detections": [{"track_id": 1, "bbox": ["a"]}, "junk"]},
    ],
)
def test_malformed_messages_fire_nothing(data: dict[str, Any]) -> None:
    assert EventAnalyser("s", config()).observe({"type": "detection_result", "data": data}, 1) == []


def as_version_1(state: dict[str, Any]) -> dict[str, Any]:
    """The same state as a version 1 checkpoint wrote it: times in seconds."""
    tracks = [
        {**{k: v for k, v in t.items() if k != "seen_ns"}, "seen": t["seen_ns"] / 1e9,
         "zones": {z: at / 1e9 for z, at in t["zones"].items()}}
        for t in state["tracks"]
    ]  # fmt: skip
    return {**state, "v": 1, "tracks": tracks}


@pytest.mark.parametrize("cut", [35, 45])  # inside the zone before and after the dwell fired
def test_a_version_1_checkpoint_in_seconds_continues_alike(cut: int) -> None:
    messages = walk()
    whole = run(EventAnalyser("cam", config()), messages)
    first = EventAnalyser("cam", config())
    before = run(first, messages[:cut])
    assert first.state()["v"] == 2 and first.state()["tracks"][0]["seen_ns"] > 10**18
    second = EventAnalyser("cam", config())
    second.restore(msgpack.unpackb(msgpack.packb(as_version_1(first.state()))))
    after = run(second, messages[cut:], first_seq=100 + cut)
    assert [e["id"] for e in before + after] == [e["id"] for e in whole]
    assert [e.get("dwell_s") for e in before + after] == [e.get("dwell_s") for e in whole]


def test_an_unknown_state_version_is_ignored() -> None:
    first = EventAnalyser("cam", config())
    run(first, walk()[:40])
    fresh = EventAnalyser("cam", config())
    fresh.restore({**first.state(), "v": 99})
    assert fresh.tracks == {} and fresh.counts()["zones"] == {"bay": 0}
