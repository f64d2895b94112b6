"""A session's periodic drop summary for its viewers: `{"type": "drops", ...}` on SCENE.

The scene stage is the one owner of a session's results, so it is the one place that can tell a
session's viewers, in order with their results, what it dropped and why: every gateway forwards
SCENE messages unchanged, so viewers on any replica see the same summary once. The counts are the
session's drops by reason (`shared.telemetry.DropReason`: late, duplicate, bad_envelope,
scene_error) since the previous summary. A summary is sent at most every `interval_s`, and only
when something was dropped since the previous one (an idle session writes nothing).

Message (JSON, like every SCENE body):
`{"type": "drops", "data": {"counts": {"late": 2}, "total": 2, "interval_s": 5.0,
"results_seq": 1234}, "timestamp": 1700000000.0}`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

KIND = "drops"


class DropTally:
    """What was dropped since the last summary, and when the next one is due."""

    def __init__(self, interval_s: float, now_s: float) -> None:
        self.interval_s = interval_s
        self.sent: Counter[str] = Counter()  # totals as of the last summary
        self.last_s = now_s

    def pending(self, totals: Mapping[str, int]) -> dict[str, int]:
        """Drops by reason since the last summary (never negative)."""
        return {reason: n - self.sent[reason] for reason, n in totals.items() if n > self.sent[reason]}

    def due_in_s(self, totals: Mapping[str, int], now_s: float) -> float | None:
        """Seconds until a summary should go out; None when there is nothing to say (or it is off)."""
        if self.interval_s <= 0 or not self.pending(totals):
            return None
        return max(0.0, self.last_s + self.interval_s - now_s)

    def take(self, totals: Mapping[str, int], results_seq: int, now_s: float) -> dict[str, Any] | None:
        """The summary message if one is due now (and mark it sent), else None."""
        due = self.due_in_s(totals, now_s)
        if due is None or due > 0:
            return None
        counts = dict(sorted(self.pending(totals).items()))
        self.sent = Counter(totals)
        self.last_s = now_s
        data = {"counts": counts, "total": sum(counts.values()), "interval_s": self.interval_s}
        return {"type": KIND, "data": {**data, "results_seq": results_seq}, "timestamp": time.time()}


def msg_id(sid: str, results_seq: int) -> str:
    """`Nats-Msg-Id` of a summary: new drops come only with new RESULTS, so one per RESULTS seq;
    a new owner replaying the same RESULTS after a failover writes it once."""
    return f"{sid}:drops:{results_seq}"
