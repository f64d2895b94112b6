"""Rate gates: which of a camera's frames become pipeline frames.

A webcam delivers 30 frames a second whatever the session asked for. The
session's `fps_limit` decides how many are published, and `depth_fps` how
many of those also go to the depth worker. Gates work on capture time, so the
sampled frames are evenly spaced in the scene even if they arrived in bursts.
"""

from __future__ import annotations

NS = 1_000_000_000
JITTER = 0.5  # a frame up to half a period early counts as on time (camera and session rates may match)


class RateGate:
    """Opens at most about `rate` times per second of capture time, on a fixed grid."""

    def __init__(self) -> None:
        self._next_ns: int | None = None

    def admit(self, at_ns: int, rate: float) -> bool:
        period = int(NS / rate)
        due = self._next_ns
        if due is not None and at_ns < due - int(period * JITTER) and due - at_ns <= 5 * period:
            return False
        # Stay on the grid (no slow drift to a lower rate) unless we fell a period behind
        # or the capture clock restarted; then start a new grid here.
        on_grid = due is not None and abs(at_ns - due) < period
        self._next_ns = (due if on_grid and due is not None else at_ns) + period
        return True
