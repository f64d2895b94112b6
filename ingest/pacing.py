"""Real-time playback of finite media (files).

`MediaClock` makes finite media play at their native speed: the capture
thread waits until the wall clock reaches each frame's timestamp instead of
decoding as fast as the CPU allows. (Sampling a source down to the session's
fps is the session's `shared.producer.FrameProducer`.)
"""

from __future__ import annotations

import threading
import time


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
