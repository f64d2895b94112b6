"""The one rate limiter: refusing limits (burst, refill, wait) and frame sampling (even, jitter-proof, no burst)."""

from __future__ import annotations

import itertools

import pytest

from shared.rates import RateLimiter

MS = 1e-3


def kept(times: list[float], rate: float) -> list[float]:
    sampler = RateLimiter.sampler()
    return [t for t in times if sampler.take(t, rate=rate)]


# ---- as a limit that refuses ----


def test_allows_burst_then_rate():
    bucket = RateLimiter(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.25) is False
    assert bucket.take(0.5) is True
    assert bucket.take(100.0) and bucket.tokens == 2.0  # refill is capped at the burst


def test_wait_says_when_the_next_token_comes():
    bucket = RateLimiter(rate=0.5, burst=1)
    assert bucket.wait_s(10.0) == 0.0
    assert bucket.take(10.0) and not bucket.take(10.0)
    assert bucket.wait_s(10.5) == pytest.approx(1.5)
    assert RateLimiter(rate=0.0, burst=1, tokens=0).wait_s(0.0) == float("inf")


def test_a_rate_change_applies_from_now_and_zero_refuses():
    bucket = RateLimiter(rate=1.0, burst=1)
    assert bucket.take(0.0)
    assert not bucket.take(0.5, rate=10.0)  # half a token came at the old rate
    assert bucket.take(0.55)  # and the rest at the new one
    assert not bucket.take(100.0, rate=0)


def test_a_start_level_below_the_burst():
    bucket = RateLimiter(rate=10.0, burst=2.0, tokens=1.0)  # per-client delivery: one now, one saved later
    assert bucket.take(0.0) and not bucket.take(0.05)
    assert bucket.wait_s(0.05) == pytest.approx(0.05)


def test_refill_counts_from_creation_when_given_a_start_time():
    bucket = RateLimiter(rate=10.0, burst=2.0, tokens=1.0, now=0.0)
    assert [bucket.take(0.1) for _ in range(3)] == [True, True, False]  # 0.1 s since creation filled one more
    lazy = RateLimiter(rate=10.0, burst=2.0, tokens=1.0)
    assert [lazy.take(0.1) for _ in range(2)] == [True, False]


# ---- as a sampler of frames ----


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


@pytest.mark.parametrize(("camera_fps", "rate", "expected"), [(30, 10, 10), (30, 15, 15), (30, 30, 30), (15, 30, 15)])
def test_capture_time_jitter_keeps_the_session_rate(camera_fps: int, rate: int, expected: int) -> None:
    period = 1 / camera_fps
    jitter = [0, 3, -2, 4, -4, 1] * camera_fps  # ms of capture-time jitter around the camera's grid
    times = [n * period + jitter[n] * MS for n in range(3 * camera_fps)]
    assert abs(len(kept(times, rate)) - 3 * expected) <= 1


def test_restarts_after_a_clock_jump_back() -> None:
    sampler = RateLimiter.sampler()
    assert sampler.take(100.0, rate=5)
    assert sampler.take(1.0, rate=5)  # far in the past: a new capture clock, not "wait 99 s"
    assert not sampler.take(1.01, rate=5)  # and sampled on from there


def test_a_small_step_back_neither_refills_nor_stalls() -> None:
    sampler = RateLimiter.sampler()
    assert sampler.take(10.0, rate=10)
    assert not sampler.take(9.95, rate=10)  # a frame stamped a little earlier: no token for it
    assert sampler.take(10.1, rate=10)  # the next on-time frame still goes


def test_reset_forgets_the_history() -> None:
    sampler = RateLimiter.sampler()
    assert sampler.take(0.0, rate=1) and not sampler.take(0.1)
    sampler.reset()
    assert sampler.take(0.1)
