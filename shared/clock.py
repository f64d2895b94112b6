"""One time unit inside: integer nanoseconds.

Timestamps and durations inside the pipeline are `*_ns` ints: envelopes carry them
(`captured_at_ns`, ...), the scene stage computes with them, checkpoints store them. Seconds
and milliseconds exist only at the edges: settings (`*_s`, `*_ms`, what people write), the
JSON sent to clients (`timestamp` in seconds, `*_ms`), logs and library APIs that want
seconds. These helpers are the only conversions, so a unit mix-up has one place to hide.
"""

from __future__ import annotations

import time

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


def now_ns() -> int:
    """Wall-clock nanoseconds: comparable across processes on synced hosts."""
    return time.time_ns()


def monotonic_ns() -> int:
    """Nanoseconds of a clock that never goes back: for waits and ages within one process."""
    return time.monotonic_ns()


def s_to_ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


def ms_to_ns(milliseconds: float) -> int:
    return round(milliseconds * NS_PER_MS)


def ns_to_s(ns: int) -> float:
    return ns / 1e9  # a float divisor, as the client messages always computed it: the same float, bit for bit


def ns_to_ms(ns: int) -> float:
    return ns / 1e6
