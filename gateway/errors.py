"""The one error shape of the public API (DESIGN.md section 4), on every path.

Code anywhere raises a narrow `shared.errors.SightwireError` subclass; the one
table from those classes to HTTP statuses (`HTTP_STATUS`) lives here, at the
edge. `install_error_handlers` turns them, FastAPI's validation errors,
Starlette's 404/405 and anything unexpected into `{"type": "error", "error",
"error_code", "frame_id", "timestamp"}` so that clients parse one shape,
whatever went wrong. On a WebSocket the same handler
refuses the handshake with that JSON body, or closes an accepted socket with a
policy-violation code.

NATS being unreachable is not a bug of the request: a NATS error or timeout
that escapes a route (token lookup, KV read, publish) is answered 503
`UNAVAILABLE` with `Retry-After`, never 500 (issue 13).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketState

from shared import errors as sw
from shared.errors import ErrorCode

log = logging.getLogger(__name__)

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.VALIDATION_ERROR,
    409: ErrorCode.VALIDATION_ERROR,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}
_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing or invalid credentials (session token or API key)",
    403: "The token does not open this session",
    404: "No such session (or route)",
    409: "Conflicts with the session's source",
    413: "Payload too large",
    422: "Invalid input (body, parameters, image)",
    429: "Rate limit exceeded",
    503: "Unavailable: starting, stopping, or NATS unreachable",
}
WS_POLICY_VIOLATION = 1008

# The one table from the project's narrow errors to HTTP statuses; looked up along the
# class's MRO, so a subclass inherits its parent's status unless listed itself.
HTTP_STATUS: dict[type[sw.SightwireError], int] = {
    sw.MalformedRequest: 400,
    sw.InvalidSdp: 400,
    sw.Unauthorized: 401,
    sw.Forbidden: 403,
    sw.NotFound: 404,
    sw.SessionClosed: 404,
    sw.Conflict: 409,
    sw.PayloadTooLarge: 413,
    sw.InvalidInput: 422,
    sw.InvalidImage: 422,
    sw.InvalidSourceURL: 422,
    sw.RateLimited: 429,
    sw.Unavailable: 503,
    sw.WebRTCTimeout: 504,
}


def http_status(exc: sw.SightwireError) -> int:
    """The HTTP status for one of our errors (500 for one the table does not know)."""
    for cls in type(exc).__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return 500


def _retry_headers(exc: sw.SightwireError) -> dict[str, str]:
    retry_after = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}


class ErrorBody(BaseModel):
    """What every error response carries (documented on each route for OpenAPI)."""

    model_config = ConfigDict(extra="forbid")

    type: str = "error"
    error: str
    error_code: ErrorCode
    frame_id: str | None = None
    timestamp: float


def error_body(code: ErrorCode, message: str, frame_id: str | None = None) -> dict[str, Any]:
    """The §4 error dict; also used for WebSocket and SSE error events."""
    return {"type": "error", "error": message, "error_code": code.value, "frame_id": frame_id, "timestamp": time.time()}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each listed status documented with `ErrorBody`."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS.get(status, "Error")} for status in statuses}


async def _respond(conn: HTTPConnection, status: int, body: dict[str, Any]) -> JSONResponse | None:
    if isinstance(conn, WebSocket) and conn.application_state == WebSocketState.CONNECTED:
        await conn.send_json(body)
        await conn.close(code=WS_POLICY_VIOLATION, reason=body["error_code"])
        return None
    return JSONResponse(body, status_code=status)


async def _sightwire_error(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
    assert isinstance(exc, sw.SightwireError)
    status = http_status(exc)
    if status >= 500 and status != 503 and status != 504:
        log.error("internal error", extra={"path": conn.url.path, "error": repr(exc)})
    response = await _respond(conn, status, error_body(exc.code, exc.message, exc.frame_id))
    if response is not None:
        response.headers.update(_retry_headers(exc))
    return response


UNAVAILABLE_RETRY_S = "2"


async def _nats_unavailable(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
    """A NATS error or timeout escaped the route: the broker is unreachable or slow, retry later."""
    log.warning("nats unavailable during a request", extra={"path": conn.url.path, "error": repr(exc)})
    body = error_body(ErrorCode.UNAVAILABLE, "message broker unavailable, retry shortly")
    response = await _respond(conn, 503, body)
    if response is not None:
        response.headers["Retry-After"] = UNAVAILABLE_RETRY_S
    return response


def _describe(errors: list[Any]) -> str:
    """A short human line from pydantic's error list (no input values: they may be huge or secret)."""
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
    assert isinstance(exc, RequestValidationError)
    return await _respond(conn, 422, error_body(ErrorCode.VALIDATION_ERROR, _describe(list(exc.errors()))))


async def _http_error(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(
        exc.status_code, ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR
    )
    response = await _respond(conn, exc.status_code, error_body(code, str(exc.detail)))
    if response is not None and exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(conn: HTTPConnection, exc: Exception) -> JSONResponse | None:
    log.exception("unhandled error", extra={"path": conn.url.path})
    return await _respond(conn, 500, error_body(ErrorCode.INTERNAL_ERROR, "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(sw.SightwireError, _sightwire_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(NatsError, _nats_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(TimeoutError, _nats_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)  # type: ignore[arg-type]


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI spec tell the truth about validation errors.

    FastAPI documents 422 with its own `HTTPValidationError` shape on every
    route with parameters; our handler answers with `ErrorBody`, so the spec
    is rewritten once, on first request of `/openapi.json`.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            text = json.dumps(spec).replace(_FASTAPI_422, "#/components/schemas/ErrorBody")
            spec = json.loads(text)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
