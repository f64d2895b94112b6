"""Why a frame will never be processed, and the one place a process counts it.

Every service counts drops with a `DropReason`, never a free string, so the
gateway's `/stream/stats`, `/metrics` and the heartbeats all name a reason the
same way, and a new reason is one line here. The values are the label values
that Prometheus and the JSON stats show.

`PipelineTally` is the only thing that counts processed and dropped frames: one
call adds to the numbers the heartbeat carries (`Heartbeat.processed`,
`Heartbeat.dropped`) and to this process's Prometheus drop counter, so the two
cannot drift apart (they did: WebRTC drops reached Prometheus but not the
heartbeat, and the gateway counted rate-limited uploads in two places).
"""

from __future__ import annotations

import threading
from collections import Counter
from enum import StrEnum
from typing import Any

from shared.metrics import dropped_counter


class DropReason(StrEnum):
    # producers (camera ingest, WebRTC ingest, gateway uploads)
    FPS = "fps"  # sampled out to the session's analysis rate
    INGEST_OVERRUN = "ingest_overrun"  # a newer capture replaced one not yet published
    BUSY = "busy"  # the encoder was still busy with an earlier frame
    ENCODE_ERROR = "encode_error"
    PUBLISH_ERROR = "publish_error"
    RATE_LIMITED = "rate_limited"  # an upload over the session's upload rate (HTTP 429)
    # the broker
    EVICTED = "evicted"  # FRAMES' per-session cap discarded an accepted frame
    # workers
    STALE = "stale"  # older than the session's max age when a worker got to it
    DEPTH_OFF = "depth_off"
    INVALID_INPUT = "invalid_input"
    # the scene stage
    LATE = "late"  # later than the reorder window
    DUPLICATE = "duplicate"
    BAD_ENVELOPE = "bad_envelope"
    SCENE_ERROR = "scene_error"
    # the gateway's delivery
    BAD_MESSAGE = "bad_message"  # an unreadable SCENE/EVENTS body, never sent to clients


DropCounts = dict[DropReason, int]


def drop_counts(raw: Any) -> DropCounts:
    """Drop counts from the wire (reason values to counts), checked; raises ValueError."""
    if not isinstance(raw, dict):
        raise ValueError("dropped must be a map of reason to count")
    counts: DropCounts = {}
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"dropped[{key!r}] must be a count")
        counts[DropReason(key)] = value  # ValueError for a reason outside the vocabulary
    return counts


class PipelineTally:
    """Processed and dropped frames of one component, as its heartbeat reports them.

    Thread-safe (camera capture threads count too). Each drop is also added to
    `sightwire_frames_dropped_total{service, reason}` in the same call.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._processed = 0
        self._dropped: Counter[DropReason] = Counter()

    def count_processed(self, n: int = 1) -> None:
        with self._lock:
            self._processed += n

    def drop(self, reason: DropReason | str, n: int = 1) -> None:
        """`n` frames that will never be processed, for `reason` (a `DropReason` or its value)."""
        reason = DropReason(reason)
        with self._lock:
            self._dropped[reason] += n
        dropped_counter().labels(self.service, reason.value).inc(n)

    @property
    def processed(self) -> int:
        with self._lock:
            return self._processed

    @property
    def dropped(self) -> DropCounts:
        with self._lock:
            return dict(self._dropped)


class TalliedStats:
    """For a component's stats object: `processed`, `dropped` and `drop()` read and feed its `frames` tally."""

    frames: PipelineTally

    @property
    def processed(self) -> int:
        return self.frames.processed

    @property
    def dropped(self) -> DropCounts:
        return self.frames.dropped

    def drop(self, reason: DropReason | str, n: int = 1) -> None:
        self.frames.drop(reason, n)
