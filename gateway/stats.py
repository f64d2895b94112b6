"""One snapshot of the gateway's numbers, shared by `/stream/stats` and `/metrics`.

Frames processed and dropped come from the pipeline's heartbeats (workers and
ingest count their own drops); client and latency figures from the hubs; the
rest from this process. Hub stats are read defensively so that a missing key
shows as zero rather than a 500.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.ports import StatsSource

LATENCY_KEYS = ("p50", "p95", "p99")


def _latency(hub: dict[str, Any]) -> dict[str, float | None]:
    raw = hub.get("latency_ms") or hub.get("latency") or {}
    if not isinstance(raw, dict):
        return dict.fromkeys(LATENCY_KEYS)
    return {k: raw.get(k) if raw.get(k) is None else float(raw[k]) for k in LATENCY_KEYS} | {
        k: float(v) for k, v in raw.items() if k not in LATENCY_KEYS and isinstance(v, int | float)
    }


def _clients(hub: dict[str, Any]) -> dict[str, Any]:
    by_transport = hub.get("clients_by_transport")
    if not isinstance(by_transport, dict):
        clients = hub.get("clients")
        by_transport = clients if isinstance(clients, dict) else {}
    by_transport = {str(k): int(v) for k, v in by_transport.items() if isinstance(v, int)}
    return {"total": sum(by_transport.values()), "by_transport": by_transport}


def _dropped(runtime: StatsSource, pipeline: dict[str, dict[str, int]], hub: dict[str, Any]) -> dict[str, Any]:
    """Pipeline drops (heartbeats) plus this gateway's own: rate-limited uploads and hub drops."""
    own = {str(k): int(v) for k, v in (hub.get("dropped") or {}).items() if isinstance(v, int)}
    limited = runtime.counters.get("uploads.RATE_LIMITED", 0)
    if limited:
        own["rate_limited"] = own.get("rate_limited", 0) + limited
    return {**pipeline, "gateway": own} if own else pipeline


def snapshot(runtime: StatsSource) -> dict[str, Any]:
    hub = runtime.hubs.global_stats()
    beats = runtime.heartbeats
    window = runtime.settings.ready_heartbeat_max_age_s
    return {
        "instance": runtime.settings.instance_id,
        "uptime_s": round(time.time() - runtime.started_at, 3),
        "nats_connected": runtime.nats_connected,
        "sessions": {"active": runtime.open_sessions, "streaming_here": int(hub.get("sessions", 0) or 0)},
        "clients": _clients(hub),
        "results": {k: int(hub.get(k, 0) or 0) for k in ("delivered", "skipped")},
        "frames": {"processed": beats.processed(), "dropped": _dropped(runtime, beats.dropped(), hub)},
        "uploads": {k.removeprefix("uploads."): v for k, v in runtime.counters.items() if k.startswith("uploads.")},
        "latency_ms": _latency(hub),
        "workers": beats.processes(window),
        "hub": hub,
    }
