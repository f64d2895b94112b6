"""Frame-rate control: sample a fast source down, and play files in real time.

`RateSampler` decides which frames of a source to keep for a target rate. It
keeps a running schedule (next due time += period), so the average rate is
exact even when frames arrive with jitter, with a tolerance of a quarter
period (a 10 fps camera at a 10 fps limit keeps every frame) and a cap on
catching up after a stall (no burst of back-to-back frames). The same class
rate-limits depth (`Frame.depth`) on the publish side.

`MediaClock` makes finite media (files) play at their native speed: the
capture thread waits until the wall clock reaches each frame's timestamp
instead of decoding as fast as the CPU allows.
"""

from __future__ import annotations

import threading
import time

TOLERANCE = 0.25  # of a period: a frame this early still counts as on time


class RateSampler:
    """Keep at most `rate` frames per second of a stream of timestamps (seconds)."""

    def __init__(self) -> None:
        self._next: float | None = None

    def take(self, now: float, rate: float) -> bool:
        if rate <= 0:
            return False
        period = 1.0 / rate
        if self._next is not None and now < self._next - TOLERANCE * period:
            return False
        due = now if self._next is None else self._next
        self._next = max(due + period, now + (1 - TOLERANCE) * period)
        return True

    def reset(self) -> None:
        self._next = None


class MediaClock:
    """Pace frames of finite media to their timestamps; `wait` is interruptible by `stop`."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._origin: float | None = None

    def wait_for(self, media_s: float) -> bool:
        """Sleep until the frame at `media_s` is due; False if `stop` was set meanwhile."""
        now = time.monotonic()
        if self._origin is None:
            self._origin = now - media_s
        delay = self._origin + media_s - now
        if delay > 1.0:  # a timestamp jump (e.g. a seek): re-anchor rather than stall
            self._origin = now - media_s
            return not self._stop.is_set()
        if delay > 0:
            return not self._stop.wait(delay)
        if delay < -1.0:  # fell behind (slow disk, busy CPU): don't try to catch up with a burst
            self._origin = now - media_s
        return not self._stop.is_set()

    def reset(self) -> None:
        self._origin = None
