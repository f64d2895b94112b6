"""The one rate limiter: a token bucket, for refusing requests and for sampling frames.

Every "at most N per second" in the project is this bucket: `rate` tokens a
second, at most `burst` saved up, one token per event. Two uses, one rule:
- limits that refuse (uploads per session, session creation, per-client
  delivery): the bucket starts full, and `wait_s` says when the next token
  comes (the `Retry-After` of a 429, the sleep of a delivery loop);
- sampling a stream of frames down to a rate (`RateLimiter.sampler`): a frame
  up to a quarter period early still counts as on time (a 10 fps camera at a
  10 fps limit keeps every frame despite jitter), the average rate is exact,
  and after a stall at most one frame more than the rate goes (no burst).

Time is the caller's clock in seconds (`time.monotonic()` unless given), so
capture timestamps work as well as wall time. A clock that jumps back by more
than a few token intervals is taken for a new clock (a restarted camera
stream) and the bucket starts afresh, rather than waiting for the old clock
to be caught up.
"""

from __future__ import annotations

import time

SAMPLING_TOLERANCE = 0.25  # of a period: a frame this early still counts as on time
RESTART_INTERVALS = 5.0  # a clock that goes back further than this many intervals is a new clock


class RateLimiter:
    """`rate` tokens per second, at most `burst` saved up; one token per event."""

    def __init__(
        self, rate: float, burst: float = 1.0, *, tokens: float | None = None, now: float | None = None
    ) -> None:
        """Starts with `tokens` (default: full); refilling from `now` if given, else from the first event."""
        self.rate = rate
        self.burst = burst
        self._initial = burst if tokens is None else tokens
        self._tokens = self._initial
        self._updated: float | None = now

    @classmethod
    def sampler(cls, rate: float = 0.0) -> RateLimiter:
        """For keeping at most `rate` frames a second of a stream, evenly, despite jitter.

        Equivalent to a running schedule (next due += period) with a quarter-period
        tolerance and no catching up after a stall.
        """
        return cls(rate, 1.0 + 2 * SAMPLING_TOLERANCE, tokens=1.0 + SAMPLING_TOLERANCE)

    @property
    def tokens(self) -> float:
        """Tokens saved up as of the last `take` or `wait_s`."""
        return self._tokens

    def take(self, now: float | None = None, *, rate: float | None = None) -> bool:
        """Take one token if there is one; `rate` (if given) becomes the rate from now on."""
        now = time.monotonic() if now is None else now
        self._refill(now)
        if rate is not None:
            self.rate = rate
        if self.rate <= 0 or self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def wait_s(self, now: float | None = None) -> float:
        """Seconds until a token is available (0 if one is now; inf at rate 0)."""
        now = time.monotonic() if now is None else now
        self._refill(now)
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self.rate if self.rate > 0 else float("inf")

    def reset(self) -> None:
        """Forget the history: the next event is treated like the first."""
        self._tokens = self._initial
        self._updated = None

    def _refill(self, now: float) -> None:
        last = self._updated
        if last is not None and self.rate > 0 and last - now > RESTART_INTERVALS / self.rate:
            self.reset()
            last = None
        if last is not None and now > last:
            self._tokens = min(self.burst, self._tokens + (now - last) * self.rate)
        if last is None or now > last:
            self._updated = now
