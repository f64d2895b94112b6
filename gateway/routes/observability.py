"""Health, readiness, statistics and Prometheus metrics.

`/stream/health` is liveness: it answers from memory and never touches NATS,
so a slow broker cannot get the pod killed. `/stream/ready` is readiness:
NATS connected and a detector heartbeat seen recently, else 503 with the
reasons, so a load balancer only sends clients to a gateway whose results
will actually arrive.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway import metrics, stats
from gateway.deps import RuntimeDep
from gateway.errors import ErrorBody, error_body, error_responses
from gateway.heartbeats import is_detector
from shared.errors import ErrorCode

router = APIRouter(tags=["observability"])


class Health(BaseModel):
    status: str
    instance: str
    uptime_s: float
    nats_connected: bool


class Ready(BaseModel):
    ready: bool
    reasons: list[str]


class NotReady(ErrorBody):
    reasons: list[str]


class LiveModelOut(BaseModel):
    kind: str = Field(description="`detector` or `depth`.")
    model: str = Field(description="Model name, as in `sightwire models list`.")
    instances: int = Field(description="Worker processes running it now.")
    labels: list[str] = Field(description="Class names by class_id (detectors; empty for depth).")


class Models(BaseModel):
    models: list[LiveModelOut]


@router.get("/stream/health", summary="Liveness")
async def health(request: Request) -> Health:
    runtime = request.app.state.runtime
    settings = request.app.state.settings
    started = runtime.started_at if runtime else time.time()
    connected = bool(runtime and runtime.nats_connected)
    return Health(status="ok", instance=settings.instance_id, uptime_s=time.time() - started, nats_connected=connected)


def not_ready_reasons(runtime: Any) -> list[str]:
    if runtime is None:
        return ["gateway is starting or stopping"]
    reasons = []
    if not runtime.accepting:
        reasons.append("gateway is not accepting work")
    if not runtime.nats_connected:
        reasons.append("NATS is not connected")
    window = runtime.settings.ready_heartbeat_max_age_s
    age = runtime.heartbeats.last_seen_s(is_detector) if runtime.nats_connected else None
    if age is None or age > window:
        reasons.append(f"no detector heartbeat in the last {window:g} s")
    return reasons


@router.get("/stream/ready", summary="Readiness", responses={503: {"model": NotReady, "description": "Not ready"}})
async def ready(request: Request) -> Any:
    reasons = not_ready_reasons(request.app.state.runtime)
    if reasons:
        body = error_body(ErrorCode.UNAVAILABLE, "not ready: " + "; ".join(reasons)) | {"reasons": reasons}
        return JSONResponse(body, status_code=503)
    return Ready(ready=True, reasons=[])


@router.get("/stream/stats", summary="Global statistics", responses=error_responses(503))
async def global_stats(runtime: RuntimeDep) -> stats.GlobalStats:
    return stats.snapshot(runtime)


@router.get("/stream/models", summary="Models the live workers run", responses=error_responses(503))
async def live_models(runtime: RuntimeDep) -> Models:
    """What clients can ask for: e.g. the class names a `classes` filter may name."""
    live = runtime.heartbeats.models(runtime.settings.ready_heartbeat_max_age_s)
    return Models(
        models=[LiveModelOut(kind=m.kind, model=m.model, instances=m.instances, labels=m.labels) for m in live]
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(503)},
)
async def prometheus(runtime: RuntimeDep) -> Response:
    return Response(metrics.exposition(runtime.metrics), media_type="text/plain; version=0.0.4; charset=utf-8")
