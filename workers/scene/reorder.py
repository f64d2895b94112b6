"""Putting one session's results back in frame order: a bounded reorder window.

Competing detector replicas finish frames out of order, so RESULTS may hold seq 8 before seq 7.
Every detection and error with a frame seq above the last detection applied waits here, ordered by
seq, and is released when
- it is the next one: its seq follows the last applied by at most 1.5 typical gaps. Frame seqs are
  not consecutive integers (shared/sequence.py seeds them from the wall clock in milliseconds, so
  at 10 fps they step by about 100): the typical gap is the median of the last steps between
  applied detections (or 1, for consecutive integers), so a stream in order never waits, or
- the window is full (more than `size` waiting: the missing seq is given up on), or
- something waiting has waited the current hold (the missing frame was dropped as stale, or is slow).
The hold is learnt per session, between `min_wait_ns` and `max_wait_ns`: a gap is either a frame
another detector is still working on (it arrives late, out of order) or one that will never come
(ingest or FRAMES dropped it). Seqs alone cannot tell them apart, but the stream can: a gap that
was filled shows how late reordering really comes, a gap that expired unfilled shows the wait was
spent for nothing. So the hold starts at `max_wait_ns` (nothing known) and halves each time a gap
expires unfilled, but never below the floor that recent reordering needs: `min_wait_ns` plus twice
the largest lateness of the last `FILLS_KEPT` reordered results (a result that came `late`, after
its gap was given up on, counts as `max_wait_ns` late and puts the hold back there). Where results
never come out of order, a dropped frame then holds the frames behind it for `min_wait_ns` instead
of `max_wait_ns`; where they do (competing detectors, a detector publishing its in-flight results
as they finish), the hold stays above how far they actually drift apart.
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
Release = Literal["next", "full", "flush", "expired"]
GAPS_KEPT = 16
FILLS_KEPT = 16
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

    def __init__(self, size: int, max_wait_ns: int, min_wait_ns: int | None = None) -> None:
        self.size = size
        self.max_wait_ns = max_wait_ns
        self.min_wait_ns = max_wait_ns if min_wait_ns is None else min(min_wait_ns, max_wait_ns)
        self.hold_ns = max_wait_ns  # how long a gap is waited for now (learnt; see the docstring)
        self._lateness: deque[int] = deque(maxlen=FILLS_KEPT)  # how late recent reordered results came
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
            self._lateness.append(self.max_wait_ns)  # reordering is real and slower than we waited
            self.hold_ns = self.max_wait_ns
            return self.release(now_ns), "late"
        if (entry.seq, entry.kind) in self._seqs:
            return self.release(now_ns), "duplicate"
        self._learn_from_fill(entry.seq, now_ns)
        entry.arrived_ns = now_ns
        heapq.heappush(self._heap, entry)
        self._seqs.add((entry.seq, entry.kind))
        return self.release(now_ns), None

    def release(self, now_ns: int | None) -> list[Entry]:
        """Everything that may go now (call it on a timer too, so that a gap does not hold forever);
        `now_ns=None`: everything waiting (the session closes)."""
        out: list[Entry] = []
        while self._heap and (why := self._ready(now_ns)):
            if why == "expired" and now_ns is not None:  # the gap was waited for in vain
                self.hold_ns = max(self._floor(), self.hold_ns // 2)
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
        return min(e.arrived_ns for e in self._heap) + self.hold_ns

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

    def _learn_from_fill(self, seq: int, now_ns: int) -> None:
        """`seq` arrives while later seqs wait: reordering happened; hold at least twice as long as it took."""
        later = [e.arrived_ns for e in self._heap if e.seq > seq]
        if later:
            self._lateness.append(now_ns - min(later))
            self.hold_ns = max(self.hold_ns, self._floor())

    def _floor(self) -> int:
        """The shortest hold that the recent reordering needs."""
        if not self._lateness:
            return self.min_wait_ns
        return min(self.max_wait_ns, self.min_wait_ns + 2 * max(self._lateness))

    def _ready(self, now_ns: int | None) -> Release | None:
        head = self._heap[0]
        if self.last_seq is not None and head.seq - self.last_seq <= self._next_gap():
            return "next"
        if len(self._heap) > self.size:
            return "full"
        if now_ns is None:
            return "flush"
        due_ns = self.next_due_ns()
        return "expired" if due_ns is not None and due_ns <= now_ns else None
