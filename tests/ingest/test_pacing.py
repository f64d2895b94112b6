"""Frame-rate sampling and real-time playback of files, on synthetic timestamps."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from ingest.pacing import MediaClock, RateSampler


def kept(times: list[float], rate: float) -> list[float]:
    sampler = RateSampler()
    return [t for t in times if sampler.take(t, rate)]


@pytest.mark.parametrize(("source_fps", "limit", "expected"), [(30, 10, 10), (30, 5, 5), (10, 10, 10), (25, 7, 7)])
def test_samples_a_steady_source_down_to_the_limit(source_fps: float, limit: float, expected: int) -> None:
    times = [i / source_fps for i in range(int(source_fps * 10))]  # 10 s
    assert abs(len(kept(times, limit)) / 10 - expected) <= 0.2


def test_jitter_does_not_lose_frames_at_equal_rates() -> None:
    times = [i / 10 + (0.004 if i % 2 else -0.004) for i in range(1, 101)]
    assert len(kept(times, 10)) == 100


def test_a_source_slower_than_the_limit_keeps_everything() -> None:
    times = [i / 5 for i in range(50)]
    assert len(kept(times, 30)) == 50


def test_no_burst_after_a_stall() -> None:
    times = [i / 30 for i in range(30)] + [5 + i / 30 for i in range(30)]
    after = [t for t in kept(times, 5) if t >= 5]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps) >= 0.1 and len(after) <= 6  # never closer than half a period


def test_media_clock_waits_for_timestamps_and_stops() -> None:
    stop = threading.Event()
    clock = MediaClock(stop)
    start = time.monotonic()
    for media_s in (0.0, 0.1, 0.2, 0.3):
        assert clock.wait_for(media_s)
    assert time.monotonic() - start >= 0.28
    stop.set()
    assert not clock.wait_for(0.9)
