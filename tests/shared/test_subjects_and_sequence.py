"""Subject names are built in one place and refuse ids that would break routing."""

from __future__ import annotations

import pytest

from shared import subjects
from shared.sequence import SeqCounter
from shared.subjects import ResultKind


def test_subject_builders() -> None:
    assert subjects.frames("abc") == "sw.frames.abc"
    assert subjects.results("abc", ResultKind.DET) == "sw.results.abc.det"
    assert subjects.session_results("abc") == "sw.results.abc.>"
    assert subjects.frame_msg_id("abc", 9) == "abc:9"
    assert subjects.sid_of("sw.results.abc.depth") == "abc"
    assert subjects.kind_of("sw.results.abc.error") is ResultKind.ERROR
    assert subjects.heartbeat("detector", "host.1") == "sw.heartbeat.detector.host_1"


@pytest.mark.parametrize("sid", ["", "a.b", "a*", "a>", "a b", "x" * 65])
def test_session_ids_that_break_subjects_are_refused(sid: str) -> None:
    with pytest.raises(ValueError):
        subjects.frames(sid)


def test_sid_of_refuses_foreign_subjects() -> None:
    with pytest.raises(ValueError):
        subjects.sid_of("other.frames.x")


def test_seq_strictly_increases_even_when_the_clock_stalls_or_jumps_back() -> None:
    counter = SeqCounter(clock_ms=1000)
    got = [counter.next(clock_ms=t) for t in (1000, 1000, 999, 1005, 1001)]
    assert got == [1000, 1001, 1002, 1005, 1006]


def test_a_new_producer_continues_above_the_old_one() -> None:
    old = SeqCounter(clock_ms=1000)
    last = [old.next(clock_ms=1000 + i) for i in range(10)][-1]
    assert SeqCounter(clock_ms=2000).next(clock_ms=2000) > last


def test_scene_and_event_subjects_carry_the_session() -> None:
    assert subjects.scene("abc") == "sw.scene.abc"
    assert subjects.scene_msg_id("abc", 42) == "abc:42"
    assert subjects.events("abc", "zone_enter") == "sw.events.abc.zone_enter"
    assert subjects.sid_of("sw.events.abc.line_cross") == "abc"
    assert subjects.sid_of(subjects.scene("abc")) == "abc"


def test_event_kinds_are_one_subject_token() -> None:
    for bad in ("", "a.b", "Zone", "*", ">", "x" * 40):
        with pytest.raises(ValueError):
            subjects.events("abc", bad)


def test_video_signalling_subject_is_one_token_per_ingest_instance() -> None:
    assert subjects.ingest_video("host-42") == "sw.ingest.video.host-42"
    assert subjects.ingest_video("a.b *>") == "sw.ingest.video.a_b___"  # dots and wildcards never split it


@pytest.mark.parametrize(("sid", "valid"), [("abc_D-9", True), ("x" * 64, True), ("", False), ("a.b", False)])
def test_one_session_id_pattern_checks_and_refuses_alike(sid: str, valid: bool) -> None:
    assert subjects.is_sid(sid) is valid
    if valid:
        assert subjects.check_sid(sid) == sid
    else:
        with pytest.raises(ValueError):
            subjects.check_sid(sid)
