"""Prometheus helpers.

The gateway serves `/metrics` from its own app; ingest and workers expose the
default registry on `metrics_port` when it is set. Metric names are shared
here so that dashboards and alerts can rely on them.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram, start_http_server

FRAMES_DROPPED = "sightwire_frames_dropped_total"  # labels: service, reason

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped by Prometheus in-cluster
    """Expose the default registry on `port`; 0 means metrics are off."""
    if port:
        start_http_server(port, addr=host)


@functools.cache
def dropped_counter() -> Counter:
    """The one drop counter of this process (registered once).

    Only `shared.telemetry.PipelineTally.drop` increments it, in the same call that
    adds to the heartbeat's `dropped`: call that, never this, so the two agree.
    """
    return Counter(FRAMES_DROPPED, "Frames dropped on purpose, by service and reason", ["service", "reason"])


def latency_histogram(name: str, doc: str, labels: tuple[str, ...] = ()) -> Histogram:
    return Histogram(name, doc, list(labels), buckets=LATENCY_BUCKETS)
