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

from shared.errors import ErrorCode
from shared.telemetry import DropReason

if TYPE_CHECKING:
    from gateway.ports import HubTotals, StatsSource

LATENCY_KEYS = ("p50", "p95", "p99")
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


def snapshot(runtime: StatsSource) -> dict[str, Any]:
    hub = runtime.hubs.global_stats()
    beats = runtime.heartbeats
    window = runtime.settings.ready_heartbeat_max_age_s
    by_transport = hub["clients_by_transport"]
    return {
        "instance": runtime.settings.instance_id,
        "uptime_s": round(time.time() - runtime.started_at, 3),
        "nats_connected": runtime.nats_connected,
        "sessions": {"active": runtime.open_sessions, "streaming_here": hub["sessions"]},
        "clients": {"total": sum(by_transport.values()), "by_transport": by_transport},
        "results": {"delivered": hub["delivered"], "skipped": hub["skipped"]},
        "frames": {"processed": beats.processed(), "dropped": _dropped(runtime, hub)},
        "uploads": {k.removeprefix("uploads."): v for k, v in runtime.counters.items() if k.startswith("uploads.")},
        "latency_ms": hub["latency_ms"],
        "workers": beats.processes(window),
        "hub": hub,
    }
