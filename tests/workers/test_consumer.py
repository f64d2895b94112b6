"""Drop decisions of the consumer (pure); the publish/ack path is exercised in test_service."""

from __future__ import annotations

from shared.envelopes import Frame
from workers.consumer import drop_reason

NOW = 1_000_000_000_000


def frame(age_ms: int, max_age_ms: int = 0, depth: bool = True) -> Frame:
    captured = NOW - age_ms * 1_000_000
    return Frame("s", 1, captured, captured, 1, 1, "t", b"", depth=depth, max_age_ms=max_age_ms)


def test_fresh_frames_are_processed() -> None:
    assert drop_reason("detector", frame(100), NOW, 2000) is None
    assert drop_reason("depth", frame(100), NOW, 2000) is None


def test_stale_uses_the_frame_limit_else_the_default() -> None:
    assert drop_reason("detector", frame(2500), NOW, 2000) == "stale"
    assert drop_reason("detector", frame(2500, max_age_ms=5000), NOW, 2000) is None
    assert drop_reason("detector", frame(600, max_age_ms=500), NOW, 2000) == "stale"


def test_depth_off_only_matters_to_the_depth_worker() -> None:
    assert drop_reason("depth", frame(0, depth=False), NOW, 2000) == "depth_off"
    assert drop_reason("detector", frame(0, depth=False), NOW, 2000) is None
