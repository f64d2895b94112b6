"""Frame sequence numbers that keep increasing across restarts and failovers.

A session's frames may be produced by a different process over time (an
ingest instance dies and another takes the lease; two gateway replicas take
uploads). Seeding the counter from the wall clock in milliseconds and never
going below it keeps `seq` strictly increasing for clients in all those cases,
as long as one source produces under 1000 frames per second.
"""

from __future__ import annotations

import time


class SeqCounter:
    def __init__(self, clock_ms: int | None = None) -> None:
        self._last = (clock_ms if clock_ms is not None else _now_ms()) - 1

    def next(self, clock_ms: int | None = None) -> int:
        self._last = max(self._last + 1, clock_ms if clock_ms is not None else _now_ms())
        return self._last


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
