"""The N-failures-in-M-seconds rule (the backoff between reconnects is shared.loops', tested there)."""

from __future__ import annotations

from ingest.failures import FailureWindow


def test_failure_window_trips_only_for_n_failures_within_m_seconds() -> None:
    window = FailureWindow(limit=3, window_s=10)
    assert not window.add(0) and not window.add(4)
    assert not window.add(11)  # the first failure fell out of the window
    assert window.add(12)


def test_spread_out_failures_never_trip() -> None:
    window = FailureWindow(limit=3, window_s=10)
    assert not any(window.add(t) for t in range(0, 100, 6))
