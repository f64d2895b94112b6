"""Worker counters: one set feeds both the heartbeat envelope and Prometheus.

Heartbeats carry cumulative figures (typed `processed` and `dropped` by
`DropReason`; `errors` and `in_flight` as counters) so the gateway can show
global stats and tests can check that no frame was processed twice; Prometheus
gets the same events plus latency histograms. Metric objects are created on
first use, never at import time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from shared.envelopes import Heartbeat, now_ns
from shared.metrics import latency_histogram
from shared.telemetry import PipelineTally, TalliedStats


@functools.cache
def frames_counter() -> Counter:
    return Counter("sightwire_worker_frames_total", "Frames answered by a worker, by outcome", ["kind", "outcome"])


@functools.cache
def processing_histogram() -> Histogram:
    return latency_histogram(
        "sightwire_worker_processing_seconds", "Decode + inference + post-processing of one frame", ("kind",)
    )


@functools.cache
def age_histogram() -> Histogram:
    return latency_histogram("sightwire_worker_result_age_seconds", "Capture to result published", ("kind",))


class WorkerStats(TalliedStats):
    """Cumulative counters of one worker process."""

    def __init__(self, kind: str, instance: str, model: str, labels: Sequence[str] = ()) -> None:
        self.kind = kind
        self.instance = instance
        self.model = model
        self.labels = list(labels)
        self.frames = PipelineTally(kind)
        self.errors = 0
        self.in_flight = 0

    def result_published(self, *, error: bool, processing_s: float, age_s: float) -> None:
        if error:
            self.errors += 1
        else:
            self.frames.count_processed()
        frames_counter().labels(self.kind, "error" if error else "ok").inc()
        processing_histogram().labels(self.kind).observe(processing_s)
        age_histogram().labels(self.kind).observe(age_s)

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(
            self.kind,
            self.instance,
            now_ns(),
            counters={"errors": self.errors, "in_flight": self.in_flight},
            info={"model": self.model, "kind": self.kind},
            labels=self.labels,
            processed=self.processed,
            dropped=self.dropped,
        )
