"""Worker counters: one set feeds both the heartbeat envelope and Prometheus.

Heartbeats carry cumulative counters (processed, errors, dropped_<reason>,
in_flight) so the gateway can show global stats and tests can check that no
frame was processed twice; Prometheus gets the same events plus latency
histograms. Metric objects are created on first use, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter as Tally
from collections.abc import Sequence

from nats.aio.client import Client as NATS
from prometheus_client import Counter, Histogram

from shared import subjects
from shared.envelopes import Heartbeat, now_ns
from shared.metrics import dropped_counter, latency_histogram

log = logging.getLogger(__name__)


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


class WorkerStats:
    """Cumulative counters of one worker process."""

    def __init__(self, kind: str, instance: str, model: str, labels: Sequence[str] = ()) -> None:
        self.kind = kind
        self.instance = instance
        self.model = model
        self.labels = list(labels)
        self.processed = 0
        self.errors = 0
        self.dropped: Tally[str] = Tally()
        self.in_flight = 0

    def result_published(self, *, error: bool, processing_s: float, age_s: float) -> None:
        if error:
            self.errors += 1
        else:
            self.processed += 1
        frames_counter().labels(self.kind, "error" if error else "ok").inc()
        processing_histogram().labels(self.kind).observe(processing_s)
        age_histogram().labels(self.kind).observe(age_s)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n
        dropped_counter().labels(self.kind, reason).inc(n)

    def heartbeat(self) -> Heartbeat:
        counters = {"processed": self.processed, "errors": self.errors, "in_flight": self.in_flight}
        counters.update({f"dropped_{reason}": n for reason, n in self.dropped.items()})
        info = {"model": self.model, "kind": self.kind}
        return Heartbeat(self.kind, self.instance, now_ns(), counters, info, self.labels)


async def publish_heartbeat(nc: NATS, stats: WorkerStats) -> None:
    """Core-NATS publish; a heartbeat lost during a reconnect is simply the next one's job."""
    try:
        await nc.publish(subjects.heartbeat(stats.kind, stats.instance), stats.heartbeat().to_bytes())
    except Exception as exc:  # connection closing or reconnecting
        log.debug("heartbeat not sent", extra={"error": repr(exc)})


async def heartbeat_loop(nc: NATS, stats: WorkerStats, interval_s: float, stop: asyncio.Event) -> None:
    """Publish now and every `interval_s` until `stop` is set."""
    while not stop.is_set():
        await publish_heartbeat(nc, stats)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
