"""Request dependencies: the runtime, the caller's session, the API key.

Every session-scoped endpoint (HTTP or WebSocket) takes `AuthorizedSession`,
so authorization is written once: the token comes from `Authorization: Bearer`
or `?token=` (what a browser `EventSource` can send), only its sha256 is
compared, in constant time, with the hash stored in the session record. A
token therefore opens exactly one session. Order of checks: no token -> 401,
no such session -> 404, token of another session or wrong -> 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Header, Path, Query
from starlette.requests import HTTPConnection

from gateway.runtime import GatewayRuntime
from shared.errors import Forbidden, NotFound, Unauthorized, Unavailable
from shared.sessions import SessionRecord
from shared.subjects import is_sid


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def get_runtime(conn: HTTPConnection) -> GatewayRuntime:
    runtime = getattr(conn.app.state, "runtime", None)
    if runtime is None:
        raise Unavailable("gateway is starting", retry_after_s=None)
    return runtime


RuntimeDep = Annotated[GatewayRuntime, Depends(get_runtime)]


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def presented_token(
    authorization: Annotated[str | None, Header(description="`Bearer <session token>`")] = None,
    token: Annotated[str | None, Query(description="Session token (for EventSource, which cannot set headers)")] = None,
) -> str | None:
    return _bearer(authorization) or token or None


async def authorized_session(
    runtime: RuntimeDep,
    client_id: Annotated[str, Path(description="Session id from POST /stream/sessions")],
    token: Annotated[str | None, Depends(presented_token)],
) -> SessionRecord:
    """The session named in the path, if the caller holds its token."""
    if not token:
        raise Unauthorized("session token required (Authorization: Bearer or ?token=)")
    found = await runtime.directory.get(client_id) if is_sid(client_id) else None
    if found is None:
        raise NotFound("no such session")
    record = found[0]
    if not hmac.compare_digest(hash_token(token), record.token_hash):
        raise Forbidden("token does not open this session")
    return record


AuthorizedSession = Annotated[SessionRecord, Depends(authorized_session)]


async def require_api_key(
    runtime: RuntimeDep,
    x_api_key: Annotated[str | None, Header(description="API key, when the deployment sets one")] = None,
    authorization: Annotated[str | None, Header(description="`Bearer <API key>` (alternative)")] = None,
) -> None:
    """Session creation may be restricted to holders of `settings.api_key`."""
    expected = runtime.settings.api_key
    if expected is None:
        return
    given = x_api_key or _bearer(authorization)
    if not given:
        raise Unauthorized("API key required (X-API-Key or Authorization: Bearer)")
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("invalid API key")


ApiKeyDep = Depends(require_api_key)
