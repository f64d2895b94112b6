"""Drop reasons are one vocabulary (unique, snake_case label values), counted in one place per process."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from shared.metrics import FRAMES_DROPPED
from shared.telemetry import DropReason, PipelineTally, drop_counts


def test_reasons_are_unique_snake_case_labels() -> None:
    values = [reason.value for reason in DropReason]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", value) for value in values)
    assert DropReason("evicted") is DropReason.EVICTED


def dropped_total(service: str, reason: DropReason) -> float:
    """This process's `sightwire_frames_dropped_total{service, reason}` (0 before the first drop)."""
    value = REGISTRY.get_sample_value(f"{FRAMES_DROPPED}", {"service": service, "reason": reason.value})
    return value or 0.0


def test_a_tally_feeds_its_heartbeat_figures_and_prometheus_in_one_call() -> None:
    before = dropped_total("tally-test", DropReason.STALE)
    tally = PipelineTally("tally-test")
    tally.count_processed(3)
    tally.drop(DropReason.STALE)
    tally.drop("stale", 2)  # the value works too (call sites not yet on the enum)
    tally.drop(DropReason.EVICTED, 0)
    assert tally.processed == 3
    assert tally.dropped == {DropReason.STALE: 3, DropReason.EVICTED: 0}
    assert dropped_total("tally-test", DropReason.STALE) - before == 3


def test_a_reason_outside_the_vocabulary_is_refused() -> None:
    tally = PipelineTally("tally-test")
    with pytest.raises(ValueError, match="not a valid DropReason"):
        tally.drop("backpressure")
    assert tally.dropped == {}


def test_tallies_are_thread_safe() -> None:
    tally = PipelineTally("tally-threads")

    def work() -> None:
        for _ in range(1000):
            tally.drop(DropReason.FPS)
            tally.count_processed()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert tally.dropped == {DropReason.FPS: 4000} and tally.processed == 4000


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([("stale", 1)], "map"),
        ({"backpressure": 1}, "DropReason"),
        ({"stale": -1}, "count"),
        ({"stale": True}, "count"),
        ({"stale": 1.5}, "count"),
    ],
)
def test_drop_counts_from_the_wire_are_checked(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        drop_counts(raw)


def test_drop_counts_from_the_wire_become_reasons() -> None:
    counts = drop_counts({"stale": 2, "evicted": 0})
    assert counts == {DropReason.STALE: 2, DropReason.EVICTED: 0}
    assert all(type(reason) is DropReason for reason in counts)


def test_only_the_tally_bumps_the_prometheus_drop_counter() -> None:
    """A second path to `sightwire_frames_dropped_total` is how two counters of one reason came to disagree."""
    root = Path(__file__).resolve().parents[2]
    allowed = {root / "shared" / "telemetry.py", root / "shared" / "metrics.py"}
    callers = [
        path.relative_to(root).as_posix()
        for package in ("gateway", "ingest", "workers", "shared")
        for path in (root / package).rglob("*.py")
        if path not in allowed and "dropped_counter(" in path.read_text()
    ]
    assert callers == []
