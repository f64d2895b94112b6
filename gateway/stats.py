"""One snapshot of the gateway's numbers, shared by `/stream/stats` and `/metrics`.

Frames processed and dropped come from the pipeline's heartbeats (each
process's typed `processed` and `dropped`), plus this gateway's own drops:
rate-limited uploads and unreadable SCENE/EVENTS messages. Those are counted
once, in this runtime (`uploads.RATE_LIMITED`, the hubs' `dropped`), and both
the JSON and Prometheus read them from here. Client and latency figures come
from the hubs (`HubTotals`, one typed shape), the rest from this process.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from shared.errors import ErrorCode
from shared.telemetry import DropReason

if TYPE_CHECKING:
    from gateway.ports import HubTotals, StatsSource

GATEWAY = "gateway"  # the service name of this process's own drops
RATE_LIMITED_UPLOADS = f"uploads.{ErrorCode.RATE_LIMITED.value}"


def own_drops(runtime: StatsSource, hub: HubTotals) -> dict[DropReason, int]:
    """This gateway's drops: rate-limited uploads and the hubs' unreadable messages."""
    own: Counter[DropReason] = Counter({DropReason(reason): n for reason, n in hub["dropped"].items()})
    own[DropReason.RATE_LIMITED] += runtime.counters[RATE_LIMITED_UPLOADS]
    return {reason: n for reason, n in own.items() if n}


def _dropped(runtime: StatsSource, hub: HubTotals) -> dict[str, dict[DropReason, int]]:
    """Pipeline drops (heartbeats) plus this gateway's own, by service and reason."""
    dropped = runtime.heartbeats.dropped()
    own = own_drops(runtime, hub)
    return {**dropped, GATEWAY: own} if own else dropped


class Sessions(BaseModel):
    active: int = Field(description="Sessions known to this replica.")
    streaming_here: int = Field(description="Sessions with a result hub on this replica.")


class Clients(BaseModel):
    total: int
    by_transport: dict[str, int] = Field(description="Connected result clients by transport (sse, ws, ...).")


class Results(BaseModel):
    delivered: int
    skipped: int = Field(description="Not sent: over the client's delivery rate (latest wins).")


class Frames(BaseModel):
    processed: dict[str, int] = Field(description="Frames processed by service (ingest: published), from heartbeats.")
    dropped: dict[str, dict[DropReason, int]] = Field(
        description="Frames dropped by service and reason: the heartbeats' counts plus this gateway's own."
    )


class Latency(BaseModel):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    count: int = Field(0, description="Results in the recent window the percentiles are taken over.")


class GlobalStats(BaseModel):
    """`/stream/stats`; `/metrics` exports the same numbers."""

    instance: str
    uptime_s: float
    nats_connected: bool
    sessions: Sessions
    clients: Clients
    results: Results
    frames: Frames
    uploads: dict[str, int] = Field(description="Uploads by outcome: `accepted` or an error code.")
    latency_ms: Latency = Field(description="Capture-to-send latency percentiles, recent window.")
    workers: dict[str, int] = Field(description="Live processes by service (heartbeats).")
    hub: dict[str, Any] = Field(description="The hubs' own figures, as they report them.")


def snapshot(runtime: StatsSource) -> GlobalStats:
    hub = runtime.hubs.global_stats()
    beats = runtime.heartbeats
    by_transport = hub["clients_by_transport"]
    return GlobalStats(
        instance=runtime.settings.instance_id,
        uptime_s=round(time.time() - runtime.started_at, 3),
        nats_connected=runtime.nats_connected,
        sessions=Sessions(active=runtime.open_sessions, streaming_here=hub["sessions"]),
        clients=Clients(total=sum(by_transport.values()), by_transport=by_transport),
        results=Results(delivered=hub["delivered"], skipped=hub["skipped"]),
        frames=Frames(processed=beats.processed(), dropped=_dropped(runtime, hub)),
        uploads={k.removeprefix("uploads."): v for k, v in runtime.counters.items() if k.startswith("uploads.")},
        latency_ms=Latency.model_validate(hub["latency_ms"]),
        workers=beats.processes(runtime.settings.ready_heartbeat_max_age_s),
        hub=dict(hub),
    )
