"""What the gateway knows about the other processes: their heartbeats.

Ingest and worker processes publish a `Heartbeat` on core NATS every few
seconds. Keeping the latest one per process answers two questions without any
extra round trip: is a detector alive (readiness), and how many frames were
processed and dropped, by reason, across the pipeline (`/stream/stats`,
`/metrics`: each heartbeat's typed `processed` and `dropped`, nothing else);
and which models run, with their class names (`/stream/models`). A malformed
heartbeat is counted and ignored.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS

from shared import subjects
from shared.envelopes import Heartbeat
from shared.heartbeat import HeartbeatListener
from shared.telemetry import DropReason

FORGET_AFTER_S = 3600.0


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


class HeartbeatMonitor:
    """Latest heartbeat of each (service, instance), from `sw.heartbeat.>`."""

    def __init__(self, nc: NATS, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], Seen] = {}
        self._listener = HeartbeatListener(nc, subjects.HEARTBEAT_ALL, self.record)

    @property
    def malformed(self) -> int:
        return self._listener.malformed

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

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
        """Frames processed per service (sum of each process's latest count)."""
        totals: dict[str, int] = defaultdict(int)
        for seen in self._seen.values():
            totals[seen.heartbeat.service] += seen.heartbeat.processed
        return dict(totals)

    def dropped(self) -> dict[str, dict[DropReason, int]]:
        """Frames dropped per service and reason (sum of each process's latest counts)."""
        totals: dict[str, dict[DropReason, int]] = defaultdict(lambda: defaultdict(int))
        for seen in self._seen.values():
            for reason, n in seen.heartbeat.dropped.items():
                totals[seen.heartbeat.service][reason] += n
        return {service: dict(reasons) for service, reasons in totals.items() if reasons}
