"""Putting one session's results back in frame order: a bounded reorder window.

Competing detector replicas finish frames out of order, so RESULTS may hold seq 8 before seq 7.
Every detection and error with a frame seq above the last detection applied waits here, ordered by
seq, and is released when
- it is the next one: its seq follows the last applied by at most 1.5 typical gaps. Frame seqs are
  not consecutive integers (shared/sequence.py seeds them from the wall clock in milliseconds, so
  at 10 fps they step by about 100): the typical gap is the median of the last steps between
  applied detections (or 1, for consecutive integers), so a stream in order never waits, or
- the window is full (more than `size` waiting: the missing seq is given up on), or
- something waiting has waited `max_wait_ns` (the missing frame was dropped as stale, or is slow).
A detection whose seq is not above the last one applied arrives too late: it is not applied
(`late`), so viewers always see seq increase. An error that is late is still passed on (an error
never reorders anything downstream). Error results with seq 0 (unknown frame) pass at once.

Pure and synchronous (the clock is passed in, monotonic nanoseconds); the entries are kept as RESULTS messages, so the
waiting ones go into the session checkpoint as they are.
"""

from __future__ import annotations

import heapq
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

EntryKind = Literal["det", "error"]
GAPS_KEPT = 16
NEXT_GAP_FACTOR = 1.5


@dataclass(order=True, slots=True)
class Entry:
    seq: int
    results_seq: int
    kind: EntryKind = field(compare=False)
    data: bytes = field(compare=False)
    arrived_ns: int = field(compare=False, default=0)


class ReorderWindow:
    """Orders entries of one session by frame seq; see the module docstring for the rules."""

    def __init__(self, size: int, max_wait_ns: int) -> None:
        self.size = size
        self.max_wait_ns = max_wait_ns
        self.last_seq: int | None = None  # the last detection applied
        self._heap: list[Entry] = []
        self._seqs: set[tuple[int, EntryKind]] = set()
        self._gaps: deque[int] = deque(maxlen=GAPS_KEPT)  # steps between applied detections

    def __len__(self) -> int:
        return len(self._heap)

    def waiting(self) -> list[Entry]:
        return sorted(self._heap)

    def offer(self, entry: Entry, now_ns: int) -> tuple[list[Entry], str | None]:
        """Add one entry; the entries now ready in order, and a drop reason for `entry` if refused."""
        passes_at_once = entry.kind == "error" and (entry.seq <= 0 or self._behind(entry.seq))
        if passes_at_once:
            return [entry, *self.release(now_ns)], None
        if entry.kind == "det" and self._behind(entry.seq):
            return self.release(now_ns), "late"
        if (entry.seq, entry.kind) in self._seqs:
            return self.release(now_ns), "duplicate"
        entry.arrived_ns = now_ns
        heapq.heappush(self._heap, entry)
        self._seqs.add((entry.seq, entry.kind))
        return self.release(now_ns), None

    def release(self, now_ns: int | None) -> list[Entry]:
        """Everything that may go now (call it on a timer too, so that a gap does not hold forever);
        `now_ns=None`: everything waiting (the session closes)."""
        out: list[Entry] = []
        while self._heap and self._ready(now_ns):
            entry = heapq.heappop(self._heap)
            self._seqs.discard((entry.seq, entry.kind))
            if entry.kind == "det":
                if self._behind(entry.seq):  # cannot happen with a heap, kept as a guard
                    continue
                if self.last_seq is not None:
                    self._gaps.append(entry.seq - self.last_seq)
                self.last_seq = entry.seq
            out.append(entry)
        return out

    def next_due_ns(self) -> int | None:
        """When the oldest waiting entry will be released by time."""
        if not self._heap:
            return None
        return min(e.arrived_ns for e in self._heap) + self.max_wait_ns

    def gaps(self) -> list[int]:
        return list(self._gaps)

    def restore(self, last_seq: int | None, waiting: list[Entry], now_ns: int, gaps: Sequence[int] = ()) -> None:
        self.last_seq = last_seq
        self._gaps = deque((int(g) for g in gaps), maxlen=GAPS_KEPT)
        self._heap = []
        self._seqs = set()
        for entry in waiting:
            entry.arrived_ns = now_ns
            heapq.heappush(self._heap, entry)
            self._seqs.add((entry.seq, entry.kind))

    def _next_gap(self) -> float:
        """How far the next frame's seq may be from the last applied one."""
        typical = statistics.median(self._gaps) if self._gaps else 1
        return max(1.0, NEXT_GAP_FACTOR * typical)

    def _behind(self, seq: int) -> bool:
        return self.last_seq is not None and seq <= self.last_seq

    def _ready(self, now_ns: int | None) -> bool:
        head = self._heap[0]
        if self.last_seq is not None and head.seq - self.last_seq <= self._next_gap():
            return True
        if len(self._heap) > self.size:
            return True
        due_ns = self.next_due_ns()
        return now_ns is None or (due_ns is not None and due_ns <= now_ns)
