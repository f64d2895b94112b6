"""A worker's heartbeat: typed processed and drops (evictions included), other counters by name."""

from __future__ import annotations

from prometheus_client import REGISTRY

from shared.envelopes import Heartbeat
from shared.metrics import FRAMES_DROPPED
from shared.telemetry import DropReason
from workers.evictions import EvictionCounter
from workers.stats import WorkerStats


def test_heartbeat_figures_match_the_prometheus_drop_counter() -> None:
    stats = WorkerStats("detector", "w-stats", "yolox_nano", ["person"])
    sample = {"service": "detector", "reason": DropReason.EVICTED.value}
    before = REGISTRY.get_sample_value(FRAMES_DROPPED, sample) or 0.0
    stats.result_published(error=False, processing_s=0.01, age_s=0.02)
    stats.result_published(error=True, processing_s=0.01, age_s=0.02)
    stats.drop(DropReason.STALE)
    evictions = EvictionCounter(stats)
    evictions.prime(0, 10)
    evictions.see(1, 14, 1)  # stream 11..13 discarded before delivery
    hb = Heartbeat.from_bytes(stats.heartbeat().to_bytes())
    assert (hb.service, hb.instance, hb.labels) == ("detector", "w-stats", ["person"])
    assert hb.processed == 1
    assert hb.dropped == {DropReason.STALE: 1, DropReason.EVICTED: 3}
    assert hb.counters == {"errors": 1, "in_flight": 0}
    assert (REGISTRY.get_sample_value(FRAMES_DROPPED, sample) or 0.0) - before == 3
