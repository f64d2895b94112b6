"""Counters of one ingest process, for Prometheus and for the heartbeat.

Both views count the same events: Prometheus for dashboards and alerts, the
heartbeat so that the gateway's `/stream/stats` can sum processed and dropped
frames across the pipeline without scraping anyone. Heartbeat keys follow the
convention the gateway reads: `frames_published` and `dropped.<reason>`.
Capture threads increment too, hence the lock.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter as Tally

from prometheus_client import Counter, Gauge

from shared.metrics import dropped_counter

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


class IngestStats:
    """Thread-safe event counts of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Tally[str] = Tally()
        self._owned = 0
        self._gauges: dict[str, int] = {}

    def published(self) -> None:
        self._add("frames_published")
        _published().inc()

    def dropped(self, reason: str, n: int = 1) -> None:
        """A frame deliberately not published (fps, ingest_overrun, publish_error)."""
        self._add(f"dropped.{reason}", n)
        dropped_counter().labels(SERVICE, reason).inc(n)

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
