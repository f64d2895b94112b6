"""Frames that FRAMES discarded before any worker saw them, counted (reason "evicted").

FRAMES keeps a few frames per session and discards the oldest (live video:
old frames are worthless), and also drops what outlives `max_age`. A frame
discarded before delivery was answered 202 to its producer but never reaches
a worker, so without this it would vanish uncounted (issue 13: 22 % of the
frames in one overload run).

The durable consumer hands out stream messages in stream order, and every
delivery, to any replica, takes the next consumer sequence. So when this
replica's first delivery `(c, s)` directly follows the previous delivery of
the whole consumer group, and that one was ours, `(c0, s0)` (no delivery to
another replica in between: `c - c0 - 1` equals the redeliveries we saw, which
take no stream sequence), then `s - s0 - 1` stream messages were discarded
undelivered. That is exact with one replica per worker type (what `sightwire
up` runs). With several, a window in which another replica also got frames is
not ours to count (we do not know its stream sequences, and counting it would
count the same discards twice), so the figure is then a lower bound.
`prime` starts from the consumer's last delivery at start-up, so frames
discarded while no worker ran are counted by the first one back.

Frames a dead replica had taken but not acked are redelivered after
`ack_wait`, unless FRAMES discarded them meanwhile (they are the oldest of
their session). So the `num_ack_pending` found at start-up, less those of them
that come back to us within two `ack_wait`s, were discarded in flight, and are
counted too (`settle`). If another replica was alive with frames in flight at
that moment, those it acked are counted as well: an overcount bounded by its
in-flight limit, once per worker start. Known gap: when FRAMES discards such a
frame BEFORE this replica starts, JetStream drops it from the pending list
(`num_ack_pending` no longer shows it) and it goes uncounted; at most the
dead replica's in-flight frames (tests/faults/test_detector_kill.py bounds it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from shared.telemetry import DropReason

log = logging.getLogger(__name__)

REASON = DropReason.EVICTED


class DropSink(Protocol):
    def drop(self, reason: DropReason, n: int = 1) -> None: ...


class EvictionCounter:
    """Watches the (consumer seq, stream seq) of each delivery, in delivery order."""

    def __init__(self, sink: DropSink) -> None:
        self.sink = sink
        self.last: tuple[int, int] | None = None  # (consumer seq, stream seq) of the last first delivery
        self.redelivered = 0  # redeliveries seen since then
        self.evicted = 0
        self.pending_at_start = 0  # frames a previous replica held unacked when we started
        self.start_bound = 0  # ... all with stream seq <= this
        self.came_back: set[int] = set()  # stream seqs of those redelivered to us
        self._settling: asyncio.Task[None] | None = None

    def prime(self, consumer_seq: int, stream_seq: int, pending: int = 0) -> None:
        """Start from the durable's last delivery (consumer info `delivered`, `num_ack_pending`)."""
        self.last = (consumer_seq, stream_seq)
        self.redelivered = 0
        self.pending_at_start, self.start_bound = pending, stream_seq

    def settle(self) -> int:
        """Count the frames pending at start-up that never came back (call after 2 x ack_wait)."""
        lost = max(0, self.pending_at_start - len(self.came_back))
        self.pending_at_start = 0
        if lost:
            self.evicted += lost
            self.sink.drop(REASON, lost)
        return lost

    def observe(self, msg: Any) -> None:
        """Call for each message as it is received, before any await; never raises."""
        try:
            meta = msg.metadata
            consumer_seq, stream_seq, delivered = meta.sequence.consumer, meta.sequence.stream, meta.num_delivered
        except Exception:  # not a JetStream message
            return
        self.see(consumer_seq, stream_seq, delivered)

    def see(self, consumer_seq: int, stream_seq: int, num_delivered: int) -> None:
        if num_delivered > 1:
            self.redelivered += 1
            if self.pending_at_start and stream_seq <= self.start_bound:
                self.came_back.add(stream_seq)
            return
        if self.last is not None:
            last_c, last_s = self.last
            if consumer_seq <= last_c or stream_seq <= last_s:
                return  # out of order (should not happen): keep the newer reference
            ours_only = consumer_seq - last_c - 1 == self.redelivered
            gone = stream_seq - last_s - 1
            if ours_only and gone > 0:
                self.evicted += gone
                self.sink.drop(REASON, gone)
        self.last = (consumer_seq, stream_seq)
        self.redelivered = 0

    async def prime_from(self, js: Any, stream: str, durable: str) -> None:
        """`prime` from the server's view of the durable; a failure only means no reference yet."""
        try:
            info = await js.consumer_info(stream, durable)
        except Exception as exc:
            log.warning("eviction counter not primed", extra={"error": repr(exc)})
            return
        pending = info.num_ack_pending or 0
        self.prime(info.delivered.consumer_seq or 0, info.delivered.stream_seq or 0, pending)
        log.info("eviction counter primed", extra={"last_delivered": self.last, "pending": pending})
        if pending:
            wait_s = 2 * float(info.config.ack_wait or 30.0) + 5.0
            self._settling = asyncio.create_task(self._settle_after(wait_s), name="evictions-settle")

    async def _settle_after(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        lost = self.settle()
        if lost:
            log.info("frames discarded while in flight at a previous replica", extra={"count": lost})

    def close(self) -> None:
        if self._settling is not None:
            self._settling.cancel()
