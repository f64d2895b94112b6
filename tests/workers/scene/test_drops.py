"""The drop summary's bookkeeping: counts since the last summary, at most one per interval, none when idle."""

from __future__ import annotations

from collections import Counter

from workers.scene.drops import DropTally, msg_id


def test_counts_since_the_last_summary_once_per_interval() -> None:
    tally = DropTally(5.0, now_s=100.0)
    totals: Counter[str] = Counter()
    assert tally.due_in_s(totals, 100.0) is None  # nothing dropped: nothing to say
    totals["late"] += 2
    assert tally.due_in_s(totals, 101.0) == 4.0
    assert tally.take(totals, 10, 101.0) is None  # not yet
    first = tally.take(totals, 10, 105.0)
    assert first is not None and first["type"] == "drops"
    assert first["data"] == {"counts": {"late": 2}, "total": 2, "interval_s": 5.0, "results_seq": 10}
    assert tally.take(totals, 10, 200.0) is None  # nothing new since
    totals["late"] += 1
    totals["duplicate"] += 3
    second = tally.take(totals, 14, 200.0)
    assert second is not None and second["data"]["counts"] == {"duplicate": 3, "late": 1}
    assert second["data"]["total"] == 4


def test_a_counter_that_restarts_counts_from_zero_and_zero_interval_is_off() -> None:
    tally = DropTally(1.0, now_s=0.0)
    assert tally.take(Counter(late=5), 3, 2.0) is not None
    assert tally.pending(Counter(late=2)) == {}  # a fresh pipeline (new counters): nothing negative
    assert DropTally(0.0, now_s=0.0).take(Counter(late=1), 1, 100.0) is None
    assert msg_id("cam", 7) == "cam:drops:7"
