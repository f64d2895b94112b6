"""Result streams: SSE (`/stream/events/{id}`) and the two WebSockets (DESIGN.md section 4).

SSE event naming (a deliberate departure from DESIGN.md, for the seed client):
the seed's browser client reads results with `eventSource.onmessage`, which
only fires for events without an `event:` field; DESIGN.md names them
`event: detection_result`. Sending both forms would duplicate every result
for a client that listens to both, and naming by default would silently break
the seed client (and any client written against the seed API). So:
- default: result and error events are unnamed (`onmessage`); the JSON's
  `type` field ("detection_result" / "error") tells them apart, as the seed
  client expects;
- `?events=named`: they are named by type, `event: detection_result` and
  `event: error_result` (not `error`, which would collide with EventSource's
  own connection-error event), for `addEventListener` clients as in DESIGN.md;
- events (zones, lines, camera health; DESIGN.md section 8) arrive beside the
  results, unnamed with JSON `type: "event"` by default (`event: event` when
  named), without an `id:` (they are not SCENE messages), never dropped by the
  client's FPS limit;
- in both modes the final event is named `event: session_closed` (data
  `{"type": "session_closed", "error_code", "error", "timestamp"}`) and has no
  `id:`, so a client's Last-Event-ID stays at the last result.
Every result and error carries `id:` = its SCENE stream sequence; a
reconnect with `Last-Event-ID` (what EventSource sends by itself) or
`?last_event_id=` resumes without gap or repeat within the retention window,
with the same bytes a live viewer got. Each SSE frame is built once per
message and naming form and shared by every viewer of this process.
"""

from __future__ import annotations

import logging
import re
from contextlib import AsyncExitStack
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from sse_starlette import ServerSentEvent
from starlette.background import BackgroundTask
from starlette.websockets import WebSocket

from gateway import session_ops
from gateway.deps import ApiKeyDep, AuthorizedSession, RuntimeDep
from gateway.errors import error_body, error_responses
from gateway.fanout import OutMessage
from gateway.limits import SessionQuotaDep
from gateway.runtime import GatewayRuntime
from gateway.sse import SseResponse
from gateway.wsconn import WsConnection
from shared.errors import ErrorCode, InvalidInput, SightwireError
from shared.sessions import MAX_FPS, SourceSpec

log = logging.getLogger(__name__)
router = APIRouter(prefix="/stream", tags=["streams"])

EventNaming = Literal["message", "named"]
NAMED = {
    "detection_result": "detection_result",
    "error": "error_result",
    "event": "event",
    "drops": "drops",
    "closed": "session_closed",
}
_NEWLINES = re.compile(rb"[\r\n]")
WS_POLICY_VIOLATION = 1008


@router.get(
    "/events/{client_id}",
    response_class=SseResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 403, 404, 422, 503)},
    summary="Results as Server-Sent Events",
)
async def event_stream(
    runtime: RuntimeDep,
    record: AuthorizedSession,
    delivery_fps: Annotated[
        int | None,
        Query(
            alias="fps_limit",
            ge=1,
            le=MAX_FPS,
            description="This client's delivery rate: at most this many "
            "results/s (default and ceiling: the session's `fps_limit`)",
        ),
    ] = None,
    last_event_id: Annotated[int | None, Query(ge=0, description="Resume after this event id")] = None,
    events: Annotated[EventNaming, Query(description="`named`: `event: detection_result` etc.")] = "message",
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> SseResponse:
    resume = last_event_id if last_event_id is not None else _event_id(last_event_id_header)
    settings = runtime.settings
    # Join the hub before the response starts: EventSource's `onopen` fires on the
    # headers, and a frame uploaded from there must already find this viewer.
    # The background task closes the subscription even if the body never runs.
    subscription = AsyncExitStack()
    sub = await subscription.enter_async_context(
        runtime.hubs.subscribe(record.sid, "sse", delivery_fps or MAX_FPS, resume)
    )
    form = f"sse-{events}"
    sid = record.sid
    return SseResponse(
        sub,
        encode=lambda msg: msg.wire(form, lambda m: sse_frame(m, events)),
        touch=lambda: runtime.directory.touch(sid),
        ping_s=settings.sse_ping_s,
        retry_ms=settings.sse_retry_ms,
        send_timeout_s=settings.send_timeout_s * settings.max_send_timeouts,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(subscription.aclose),
    )


def sse_frame(msg: OutMessage, naming: EventNaming) -> bytes:
    """The SSE bytes of a message (see the module docstring for the naming rule).

    The message's JSON bytes go in as they are (one `data:` line); only JSON that
    spans lines takes the general encoder, which splits it into `data:` lines.
    """
    name = NAMED[msg.kind] if naming == "named" or msg.kind == "closed" else None
    event_id = str(msg.event_id) if msg.event_id > 0 else None
    body = msg.json_bytes()
    if _NEWLINES.search(body):
        return ServerSentEvent(data=msg.json_text(), event=name, id=event_id).encode()
    head = (f"id: {event_id}\r\n" if event_id else "") + (f"event: {name}\r\n" if name else "")
    return b"".join((head.encode(), b"data: ", body, b"\r\n\r\n"))


def _event_id(raw: str | None) -> int | None:
    """A Last-Event-ID header we issued is a decimal stream sequence; anything else is ignored."""
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


@router.websocket("/sessions/{client_id}/ws")
async def session_socket(websocket: WebSocket, runtime: RuntimeDep, record: AuthorizedSession) -> None:
    """Results out (JSON, or msgpack with `?format=msgpack`); frames and `config_update` in.

    Query: `token` (or `Authorization: Bearer`), `format`, `fps_limit` (this client's delivery
    rate, <= the session's), `last_event_id`.
    """
    await websocket.accept()
    try:
        fmt, delivery_fps = _socket_options(websocket)
        resume = _int_param(websocket, "last_event_id", 0, 2**63)
    except SightwireError as exc:
        await _refuse(websocket, exc)
        return
    await WsConnection(runtime, websocket, record.sid, fmt).serve(delivery_fps, resume)


@router.websocket("/detection", dependencies=[ApiKeyDep, SessionQuotaDep])
async def detection_socket(websocket: WebSocket, runtime: RuntimeDep) -> None:
    """The seed's bidirectional endpoint: an implicit upload session for the life of the socket.

    Frames in (`{"type": "frame", "image_data": base64, ...}` or binary JPEG),
    `detection_result` out at `?fps_limit=` (default 10), `config_update` in. Here `fps_limit`
    is the implicit session's own (its analysis rate, and so this socket's delivery rate).
    The session is ended when the socket closes.
    """
    await websocket.accept()
    try:
        fmt, analysis_fps = _socket_options(websocket)
        changes = {"fps_limit": analysis_fps} if analysis_fps is not None else {}
        record, _token = await session_ops.create_session(runtime, SourceSpec(type="upload"), changes)
    except SightwireError as exc:
        await _refuse(websocket, exc)
        return
    try:
        await WsConnection(runtime, websocket, record.sid, fmt).serve(None, None)
    finally:
        await _end_implicit_session(runtime, record.sid)


async def _end_implicit_session(runtime: GatewayRuntime, sid: str) -> None:
    """The socket was the session: end it (a failure is logged; expiry cleans up otherwise)."""
    try:
        await runtime.janitor.end_session(sid, ErrorCode.SESSION_CLOSED)
    except Exception as exc:  # NATS down or draining at shutdown
        log.warning("implicit session not ended", extra={"sid": sid, "error": repr(exc)})


def _socket_options(websocket: WebSocket) -> tuple[Literal["json", "msgpack"], int | None]:
    """`?format=` and `?fps_limit=` (whose meaning depends on the endpoint, see each)."""
    fmt = websocket.query_params.get("format", "json")
    if fmt not in ("json", "msgpack"):
        raise InvalidInput("format must be json or msgpack")
    return ("msgpack" if fmt == "msgpack" else "json"), _int_param(websocket, "fps_limit", 1, MAX_FPS)


def _int_param(websocket: WebSocket, name: str, low: int, high: int) -> int | None:
    raw = websocket.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be an integer in {low}..{high}")
    return int(raw)


async def _refuse(websocket: WebSocket, exc: SightwireError) -> None:
    """Tell the client why in the §4 error shape, then close with a policy-violation code."""
    await websocket.send_json(error_body(exc.code, exc.message, exc.frame_id))
    await websocket.close(code=WS_POLICY_VIOLATION, reason=exc.code.value)
