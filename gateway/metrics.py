"""Prometheus view of a gateway process, read from the runtime at scrape time.

A custom collector (instead of module-level Gauge/Counter objects) keeps the
metrics per app: tests build many apps in one process, and nothing is
registered at import time. `/metrics` serves this collector's registry plus
the process default registry (process stats).

Drops have one family here, `sightwire_pipeline_frames_dropped_total{service,
reason}`, one series per reason: the heartbeats' typed counts plus this
gateway's own (`service="gateway"`: rate_limited, bad_message), read from the
same snapshot as `/stream/stats`. The gateway no longer also bumps the
process-wide `sightwire_frames_dropped_total` for rate-limited uploads: that
second copy outlived each runtime and disagreed with the first (issue 14).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import stats

if TYPE_CHECKING:
    from gateway.ports import StatsSource


class GatewayCollector(Collector):
    def __init__(self, runtime: StatsSource) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        snap = stats.snapshot(self.runtime)
        yield _gauge("sightwire_gateway_sessions", "Sessions known to this replica", snap.sessions.active)
        clients = GaugeMetricFamily("sightwire_gateway_clients", "Connected result clients", labels=["transport"])
        for transport, n in snap.clients.by_transport.items():
            clients.add_metric([transport], n)
        yield clients
        yield from _counters(snap)
        latency = GaugeMetricFamily(
            "sightwire_capture_to_send_ms", "Capture-to-send latency percentiles (recent window)", labels=["quantile"]
        )
        for name, value in (("p50", snap.latency_ms.p50), ("p95", snap.latency_ms.p95), ("p99", snap.latency_ms.p99)):
            if value is not None:
                latency.add_metric([name], value)
        yield latency
        up = GaugeMetricFamily(
            "sightwire_pipeline_processes", "Live processes by service (heartbeats)", labels=["service"]
        )
        for service, n in snap.workers.items():
            up.add_metric([service], n)
        yield up
        yield _gauge("sightwire_gateway_nats_connected", "1 if NATS is connected", int(snap.nats_connected))


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counters(snap: stats.GlobalStats) -> Iterator[Metric]:
    processed = CounterMetricFamily(
        "sightwire_pipeline_frames_processed", "Frames processed, by service (heartbeats)", labels=["service"]
    )
    for service, n in snap.frames.processed.items():
        processed.add_metric([service], n)
    yield processed
    dropped = CounterMetricFamily(
        "sightwire_pipeline_frames_dropped",
        "Frames dropped, by service and reason (heartbeats, and this gateway's own)",
        labels=["service", "reason"],
    )
    for service, reasons in snap.frames.dropped.items():
        for reason, n in reasons.items():
            dropped.add_metric([service, reason.value], n)
    yield dropped
    uploads = CounterMetricFamily("sightwire_gateway_uploads", "Uploads by outcome", labels=["outcome"])
    for outcome, n in snap.uploads.items():
        uploads.add_metric([outcome], n)
    yield uploads
    delivered = CounterMetricFamily(
        "sightwire_gateway_results", "Results to clients: delivered or skipped (FPS limit)", labels=["outcome"]
    )
    delivered.add_metric(["delivered"], snap.results.delivered)
    delivered.add_metric(["skipped"], snap.results.skipped)
    yield delivered


def registry_for(runtime: StatsSource) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(runtime))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry) + generate_latest(REGISTRY)
