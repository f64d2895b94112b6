"""What the gateway knows about the other processes: their heartbeats.

Ingest and worker processes publish a `Heartbeat` on core NATS every few
seconds. Keeping the latest one per process answers two questions without any
extra round trip: is a detector alive (readiness), and how many frames were
processed and dropped, by reason, across the pipeline (`/stream/stats`,
`/metrics`); and which models run, with their class names (`/stream/models`).
A malformed heartbeat is counted and ignored.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.envelopes import Heartbeat
from shared.errors import EnvelopeError

log = logging.getLogger(__name__)

FORGET_AFTER_S = 3600.0
_PROCESSED_KEYS = ("processed", "frames_processed", "published", "frames_published")
_DROP_PREFIXES = ("dropped.", "dropped_", "dropped:", "drop.", "drop_")


@dataclass(slots=True)
class LiveModel:
    kind: str
    model: str
    instances: int
    labels: list[str]


@dataclass(slots=True)
class Seen:
    heartbeat: Heartbeat
    at: float  # monotonic receipt time: immune to clock skew between hosts


def is_detector(hb: Heartbeat) -> bool:
    """Workers name themselves `detector` (service) or say so in `info.kind`."""
    return hb.service == "detector" or hb.service.endswith(".detector") or hb.info.get("kind") == "detector"


def drop_reason(counter: str) -> str | None:
    """`dropped.stale` / `dropped_stale` -> `stale`; None for other counters."""
    for prefix in _DROP_PREFIXES:
        if counter.startswith(prefix) and len(counter) > len(prefix):
            return counter[len(prefix) :]
    return None


class HeartbeatMonitor:
    """Latest heartbeat of each (service, instance), from `sw.heartbeat.>`."""

    def __init__(self, nc: NATS, clock: Callable[[], float] = time.monotonic) -> None:
        self._nc = nc
        self._clock = clock
        self._seen: dict[tuple[str, str], Seen] = {}
        self._sub: Subscription | None = None
        self.malformed = 0

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(subjects.HEARTBEAT_ALL, cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None and not self._nc.is_closed:
            await self._sub.unsubscribe()
        self._sub = None

    async def _on_msg(self, msg: Msg) -> None:
        try:
            hb = Heartbeat.from_bytes(msg.data)
        except EnvelopeError:
            self.malformed += 1
            return
        self.record(hb)

    def record(self, hb: Heartbeat) -> None:
        now = self._clock()
        self._seen[(hb.service, hb.instance)] = Seen(hb, now)
        stale = [k for k, s in self._seen.items() if now - s.at > FORGET_AFTER_S]
        for key in stale:
            del self._seen[key]

    def alive(self, within_s: float, predicate: Callable[[Heartbeat], bool] = lambda _: True) -> list[Heartbeat]:
        now = self._clock()
        return [s.heartbeat for s in self._seen.values() if now - s.at <= within_s and predicate(s.heartbeat)]

    def last_seen_s(self, predicate: Callable[[Heartbeat], bool]) -> float | None:
        """Seconds since the newest matching heartbeat; None if never seen."""
        ages = [self._clock() - s.at for s in self._seen.values() if predicate(s.heartbeat)]
        return min(ages) if ages else None

    def processes(self, within_s: float) -> dict[str, int]:
        """Live processes per service."""
        counts: dict[str, int] = defaultdict(int)
        for hb in self.alive(within_s):
            counts[hb.service] += 1
        return dict(counts)

    def models(self, within_s: float) -> list[LiveModel]:
        """The models live workers run, one entry per (kind, model), with the newest labels."""
        found: dict[tuple[str, str], LiveModel] = {}
        for hb in sorted(self.alive(within_s), key=lambda hb: hb.at_ns):
            if "model" not in hb.info:
                continue  # not a worker (ingest)
            kind = hb.info.get("kind", hb.service)
            key = (kind, hb.info["model"])
            instances = found[key].instances + 1 if key in found else 1
            found[key] = LiveModel(kind, hb.info["model"], instances, list(hb.labels))
        return sorted(found.values(), key=lambda m: (m.kind, m.model))

    def processed(self) -> dict[str, int]:
        """Frames processed per service (sum of each process's latest counter)."""
        totals: dict[str, int] = defaultdict(int)
        for seen in self._seen.values():
            hb = seen.heartbeat
            totals[hb.service] += sum(v for k, v in hb.counters.items() if k in _PROCESSED_KEYS)
        return dict(totals)

    def dropped(self) -> dict[str, dict[str, int]]:
        """Frames dropped per service and reason."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for seen in self._seen.values():
            hb = seen.heartbeat
            for key, value in hb.counters.items():
                reason = drop_reason(key)
                if reason is not None:
                    totals[hb.service][reason] += value
        return {service: dict(reasons) for service, reasons in totals.items()}
