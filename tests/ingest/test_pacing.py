"""Real-time playback of files, on synthetic timestamps. (Sampling: tests/shared/test_rates.py.)"""

from __future__ import annotations

import threading
import time

from ingest.pacing import MediaClock


def test_media_clock_waits_for_timestamps_and_stops() -> None:
    stop = threading.Event()
    clock = MediaClock(stop)
    start = time.monotonic()
    for media_s in (0.0, 0.1, 0.2, 0.3):
        assert clock.wait_for(media_s)
    assert time.monotonic() - start >= 0.28
    stop.set()
    assert not clock.wait_for(0.9)
