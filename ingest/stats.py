"""Counters of one ingest process, for Prometheus and for the heartbeat.

Both views count the same events: Prometheus for dashboards and alerts, the
heartbeat so that the gateway's `/stream/stats` can sum processed and dropped
frames across the pipeline without scraping anyone. Published frames and drops
go to the heartbeat's typed `processed` and `dropped` (one `PipelineTally`,
which also feeds the Prometheus drop counter); everything else is a named
counter. Capture threads and WebRTC peers increment too, hence the lock.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter as Tally

from prometheus_client import Counter, Gauge

from shared.telemetry import PipelineTally, TalliedStats

SERVICE = "ingest"


@functools.cache
def _published() -> Counter:
    return Counter("sightwire_ingest_frames_published_total", "Frames published to FRAMES by ingest")


@functools.cache
def _source_events() -> Counter:
    return Counter("sightwire_ingest_source_events_total", "Camera source events by kind", ["event"])


@functools.cache
def _owned() -> Gauge:
    return Gauge("sightwire_ingest_sessions_owned", "Camera sessions this ingest instance owns (leases held)")


@functools.cache
def _video() -> Counter:
    return Counter(
        "sightwire_ingest_video_total", "Camera video to viewers: encoders, frames encoded, drops", ["event"]
    )


@functools.cache
def _video_gauge() -> Gauge:
    return Gauge("sightwire_ingest_video_now", "Camera video now: video_encoders, video_viewers", ["what"])


class IngestStats(TalliedStats):
    """Thread-safe event counts of this process; `processed` is frames published to FRAMES, `drop()` a
    frame deliberately not published (fps, ingest_overrun, busy, publish_error, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Tally[str] = Tally()
        self._owned = 0
        self._gauges: dict[str, int] = {}
        self.frames = PipelineTally(SERVICE)

    def published(self) -> None:
        self.frames.count_processed()
        _published().inc()

    def event(self, name: str) -> None:
        """A source or lease event: source_failure, source_lost, session_failed, lease_lost, ..."""
        self._add(name)
        _source_events().labels(name).inc()

    def set_owned(self, count: int) -> None:
        with self._lock:
            self._owned = count
        _owned().set(count)

    def add(self, key: str, n: int = 1) -> None:
        """A camera-video event (video_frames_encoded, video_encoders_started, video_dropped.busy, ...)."""
        self._add(key, n)
        _video().labels(key).inc(n)

    def set_gauge(self, key: str, value: int) -> None:
        with self._lock:
            self._gauges[key] = value
        _video_gauge().labels(key).set(value)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, **self._gauges, "sessions_owned": self._owned}

    def _add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n
