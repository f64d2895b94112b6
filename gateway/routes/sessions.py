"""Session routes: create, read stats, change config, delete (DESIGN.md section 4).

The answer to a create carries ready-to-use endpoint URLs with the token in
the query string, because a browser `EventSource` cannot send headers: the
seed's `new EventSource(session.sse_endpoint)` works as written.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from gateway import session_ops
from gateway.deps import ApiKeyDep, AuthorizedSession, RuntimeDep
from gateway.errors import error_responses
from gateway.limits import SessionQuotaDep
from gateway.runtime import GatewayRuntime
from gateway.schemas import ConfigUpdate, SessionConfigOut, SessionCreate, SessionCreated, SessionStats
from shared.errors import ErrorCode
from shared.sessions import SessionRecord

router = APIRouter(prefix="/stream", tags=["sessions"])
_SESSION_ERRORS = error_responses(401, 403, 404, 422, 503)


def endpoint(runtime: GatewayRuntime, path: str, token: str, websocket: bool = False) -> str:
    """`path?token=`; absolute on `public_base_url` when set (ws:// or wss:// for sockets)."""
    url = f"{path}?token={token}"
    base = runtime.settings.public_base_url
    if not base:
        return url
    base = base.rstrip("/")
    if websocket:
        base = "ws" + base.removeprefix("http") if base.startswith("http") else base
    return base + url


def created(runtime: GatewayRuntime, record: SessionRecord, token: str) -> SessionCreated:
    sid = record.sid
    return SessionCreated(
        client_id=sid,
        token=token,
        sse_endpoint=endpoint(runtime, f"/stream/events/{sid}", token),
        ws_endpoint=endpoint(runtime, f"/stream/sessions/{sid}/ws", token, websocket=True),
        upload_endpoint=endpoint(runtime, f"/stream/process/{sid}", token),
        webrtc_endpoint=endpoint(runtime, f"/stream/sessions/{sid}/webrtc", token),
        stats_endpoint=endpoint(runtime, f"/stream/sessions/{sid}/stats", token),
        config=record.config,
        source=record.source.redacted(),
        expires_after_idle_s=runtime.settings.session_ttl_s,
    )


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ApiKeyDep, SessionQuotaDep],
    responses=error_responses(401, 403, 413, 422, 429, 503),
    summary="Create a streaming session",
)
async def create_session(runtime: RuntimeDep, body: SessionCreate | None = None) -> SessionCreated:
    body = body or SessionCreate()
    record, token = await session_ops.create_session(runtime, body.source, body.changes())
    return created(runtime, record, token)


@router.get("/sessions/{client_id}/stats", responses=_SESSION_ERRORS, summary="Session status and counters")
async def session_stats(runtime: RuntimeDep, record: AuthorizedSession) -> SessionStats:
    await runtime.directory.touch(record.sid)
    uploads = runtime.intake.upload_counters(record.sid)
    return SessionStats(
        client_id=record.sid,
        status=record.status,
        error_code=record.error_code,
        error_message=record.error_message,
        source=record.source.redacted(),
        config=record.config,
        created_at=record.created_at,
        last_active_at=record.last_active_at,
        expires_at=record.last_active_at + runtime.settings.session_ttl_s,
        uploads=uploads,
        streams=runtime.hubs.session_stats(record.sid),
        webhooks_failed=record.webhooks_failed,
    )


@router.patch("/sessions/{client_id}/config", responses=_SESSION_ERRORS, summary="Change the session config")
async def patch_config(runtime: RuntimeDep, record: AuthorizedSession, body: ConfigUpdate) -> SessionConfigOut:
    config = await session_ops.update_config(runtime, record.sid, body.changes())
    return SessionConfigOut(client_id=record.sid, config=config)


@router.delete(
    "/sessions/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_SESSION_ERRORS,
    response_class=Response,
    summary="Close the session everywhere",
)
async def delete_session(runtime: RuntimeDep, record: AuthorizedSession) -> Response:
    await runtime.janitor.end_session(record.sid, ErrorCode.SESSION_CLOSED)
    runtime.counters["sessions_deleted"] += 1
    return Response(status_code=status.HTTP_204_NO_CONTENT)
