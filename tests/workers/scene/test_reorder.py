"""The reorder window on its own: order, the size bound, the time bound, late and duplicate results."""

from __future__ import annotations

from shared.clock import s_to_ns as ns
from workers.scene.reorder import Entry, ReorderWindow


def det(seq: int, results_seq: int | None = None) -> Entry:
    return Entry(seq, results_seq if results_seq is not None else seq, "det", b"")


def err(seq: int) -> Entry:
    return Entry(seq, 1000 + seq, "error", b"")


def started(size: int, max_wait_s: float) -> ReorderWindow:
    """A window that has applied seq 0 (a fresh one waits for the time bound before its first)."""
    window = ReorderWindow(size, ns(max_wait_s))
    window.restore(0, [], 0)
    return window


def feed(window: ReorderWindow, entries: list[Entry], now_s: float = 0.0) -> tuple[list[int], list[str | None]]:
    out: list[int] = []
    reasons: list[str | None] = []
    for e in entries:
        ready, reason = window.offer(e, ns(now_s))
        out += [r.seq for r in ready]
        reasons.append(reason)
    return out, reasons


def test_swapped_neighbours_come_out_in_order():
    window = started(4, 10)
    out, reasons = feed(window, [det(1), det(3), det(2), det(5), det(4)])
    assert out == [1, 2, 3, 4, 5] and reasons == [None] * 5 and len(window) == 0


def test_the_first_result_waits_for_an_earlier_one_until_the_time_bound():
    window = ReorderWindow(size=4, max_wait_ns=ns(0.2))
    assert feed(window, [det(2)], now_s=0.0)[0] == []
    assert window.next_due_ns() == ns(0.2)
    assert [e.seq for e in window.release(ns(0.1))] == []
    assert [e.seq for e in window.release(ns(0.2))] == [2]  # due at exactly the bound
    assert window.next_due_ns() is None


def test_release_without_a_clock_gives_everything_waiting():
    window = started(4, 60)
    feed(window, [det(3), det(5)])
    assert [e.seq for e in window.release(None)] == [3, 5] and len(window) == 0


def test_a_full_window_gives_up_on_the_gap_and_a_later_arrival_is_late():
    window = started(2, 60)
    out, _ = feed(window, [det(1), det(3), det(4), det(5)])
    assert out == [1, 3, 4, 5]  # 2 never came within the window
    out, reasons = feed(window, [det(2)])
    assert out == [] and reasons == ["late"]
    out, reasons = feed(window, [det(5)])
    assert reasons == ["late"]


def test_a_duplicate_waiting_seq_is_refused():
    window = started(4, 60)
    feed(window, [det(1), det(3)])
    _, reasons = feed(window, [det(3, results_seq=99)])
    assert reasons == ["duplicate"]


def test_errors_keep_their_place_and_are_never_dropped():
    window = started(4, 60)
    out, reasons = feed(window, [det(1), err(3), det(2), err(1), err(0)])
    assert out == [1, 2, 3, 1, 0] and reasons == [None] * 5


def test_no_window_means_no_waiting():
    window = ReorderWindow(size=0, max_wait_ns=ns(60))
    out, reasons = feed(window, [det(3), det(1), det(4)])
    assert out == [3, 4] and reasons == [None, "late", None]


def test_restore_continues_with_the_waiting_entries():
    window = started(4, 60)
    feed(window, [det(1), det(3), det(4)])
    saved_last, saved_waiting = window.last_seq, window.waiting()
    fresh = ReorderWindow(size=4, max_wait_ns=ns(60))
    fresh.restore(saved_last, saved_waiting, now_ns=0)
    out, _ = feed(fresh, [det(2)])
    assert out == [2, 3, 4]


def test_millisecond_seqs_in_order_never_wait_and_a_swap_is_fixed():
    """Seqs seeded from the wall clock step by ~100 at 10 fps (shared/sequence.py)."""
    window = ReorderWindow(size=4, max_wait_ns=ns(60))
    window.restore(900, [], 0, gaps=[100, 101, 99])
    out, _ = feed(window, [det(1000), det(1101), det(1199)])
    assert out == [1000, 1101, 1199]
    out, _ = feed(window, [det(1400)])  # 1300 is still at the other detector
    assert out == [] and len(window) == 1
    out, _ = feed(window, [det(1300)])
    assert out == [1300, 1400]


def test_a_dropped_frame_holds_the_next_one_only_until_the_time_bound():
    window = ReorderWindow(size=4, max_wait_ns=ns(0.2))
    window.restore(1000, [], 0, gaps=[100] * 5)
    assert feed(window, [det(1200)], now_s=0.0)[0] == []  # 1100 was dropped as stale
    assert [e.seq for e in window.release(ns(0.25))] == [1200]
    assert feed(window, [det(1300)], now_s=0.3)[0] == [1300]


def test_the_typical_gap_is_learnt_from_the_stream():
    window = ReorderWindow(size=8, max_wait_ns=ns(0.2))
    window.restore(0, [], 0)
    for n, seq in enumerate([100, 200, 300], start=1):  # the first steps wait for the time bound
        feed(window, [det(seq)], now_s=n)
        window.release(ns(n + 0.3))
    assert window.gaps() == [100, 100, 100]
    assert feed(window, [det(400)], now_s=10)[0] == [400]  # now in order means at once


def learning(min_wait_s: float = 0.02, max_wait_s: float = 0.2) -> ReorderWindow:
    window = ReorderWindow(size=8, max_wait_ns=ns(max_wait_s), min_wait_ns=ns(min_wait_s))
    window.restore(1000, [], 0, gaps=[100] * 5)
    return window


def test_gaps_that_expire_unfilled_shorten_the_hold_down_to_the_minimum():
    """One detector: a gap is a dropped frame, so waiting the full bound for it is wasted."""
    window = learning()
    holds = []
    for n in range(6):
        seq, at = 1200 + 300 * n, 1.0 * n
        assert feed(window, [det(seq)], now_s=at)[0] == []  # seq - 100 was dropped
        holds.append(window.hold_ns)
        due = window.next_due_ns()
        assert due == ns(at) + window.hold_ns
        assert [e.seq for e in window.release(due)] == [seq]
        assert feed(window, [det(seq + 100)], now_s=at + 0.5)[0] == [seq + 100]  # in order: at once
    assert holds == [ns(0.2), ns(0.1), ns(0.05), ns(0.025), ns(0.02), ns(0.02)]


def test_a_filled_gap_keeps_the_hold_at_twice_its_lateness():
    window = learning()
    window.hold_ns = ns(0.02)
    feed(window, [det(1200)], now_s=0.0)
    out, reasons = feed(window, [det(1100)], now_s=0.015)  # reordered, 15 ms late: in time
    assert out == [1100, 1200] and reasons == [None]
    assert window.hold_ns == ns(0.02) + 2 * ns(0.015)


def test_a_late_result_restores_the_longest_hold():
    window = learning()
    window.hold_ns = ns(0.02)
    feed(window, [det(1200)], now_s=0.0)
    assert [e.seq for e in window.release(ns(0.02))] == [1200]
    out, reasons = feed(window, [det(1100)], now_s=0.03)
    assert out == [] and reasons == ["late"]
    assert window.hold_ns == ns(0.2)


def test_without_a_minimum_the_hold_never_changes():
    window = ReorderWindow(size=8, max_wait_ns=ns(0.2))
    window.restore(1000, [], 0, gaps=[100] * 5)
    feed(window, [det(1200)], now_s=0.0)
    window.release(ns(0.2))
    assert window.hold_ns == ns(0.2)


def test_recent_reordering_keeps_the_hold_above_its_lateness_while_gaps_expire():
    """A detector that publishes out of order by 40 ms: an unfilled gap never shortens the hold below 100 ms."""
    window = learning()
    window.hold_ns = ns(0.02)
    feed(window, [det(1200)], now_s=0.0)
    assert feed(window, [det(1100)], now_s=0.04)[0] == [1100, 1200]
    assert window.hold_ns == ns(0.1)
    for n in range(4):  # 1300, 1500, ... never come
        seq, at = 1400 + 200 * n, 1.0 + n
        feed(window, [det(seq)], now_s=at)
        assert [e.seq for e in window.release(ns(at) + ns(0.1))] == [seq]
        assert window.hold_ns == ns(0.1)


def test_after_a_late_result_expiring_gaps_no_longer_shorten_the_hold():
    window = learning()
    window.hold_ns = ns(0.02)
    feed(window, [det(1200)], now_s=0.0)
    window.release(ns(0.02))
    assert feed(window, [det(1100)], now_s=0.05)[1] == ["late"]
    feed(window, [det(1400)], now_s=1.0)
    assert [e.seq for e in window.release(ns(1.2))] == [1400]
    assert window.hold_ns == ns(0.2)
