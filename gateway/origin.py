"""Cross-site requests may not drive the API from a user's browser: an Origin check.

Browsers send `Origin` on WebSocket handshakes and on cross-origin POSTs, and
neither is covered by CORS (a WebSocket is never preflighted; a bodiless or
form POST is a "simple" request that the server executes before the browser
hides the answer). So any web page could open `WS /stream/detection` or create
sessions on a user's machine. This middleware refuses, with 403, every
WebSocket handshake and every session-creating POST whose `Origin` is neither
the gateway's own origin (same host and port as the request's `Host`, or
`public_base_url`) nor in the CORS allow-list (`*` allows any). Requests
without `Origin` (curl, SDKs, servers) are not from a browser page and pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_body
from shared.errors import ErrorCode

SESSION_CREATE_PATHS = frozenset({"/stream/sessions", "/stream/sessions/"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _netloc(scheme: str, host: str) -> str | None:
    """`host:port` with the scheme's default port made explicit; None if unparsable."""
    try:
        parts = urlsplit(f"{scheme}://{host}")
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    name = parts.hostname
    return f"{name}:{port}" if name else None


def _origin_netloc(origin: str) -> str | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return _netloc(parts.scheme, parts.netloc)


class OriginGuard:
    """403 for WebSocket handshakes and session creation from an origin not allowed."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str], public_base_url: str | None = None) -> None:
        self.app = app
        allowed = list(allowed)
        self.any = "*" in allowed
        self.allowed = {o.rstrip("/").lower() for o in allowed if o != "*"}
        if public_base_url:
            parts = urlsplit(public_base_url)
            self.allowed.add(f"{parts.scheme}://{parts.netloc}".lower())

    def permits(self, origin: str, host: str, scheme: str) -> bool:
        origin = origin.rstrip("/").lower()
        if self.any or origin in self.allowed:
            return True
        mine = _netloc("https" if scheme in ("https", "wss") else "http", host)
        theirs = _origin_netloc(origin)
        return theirs is not None and theirs == mine

    def _guarded(self, scope: Scope) -> bool:
        if scope["type"] == "websocket":
            return True
        return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in SESSION_CREATE_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._guarded(scope):
            headers = dict(scope["headers"])
            origin = headers.get(b"origin")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin is not None and not self.permits(origin.decode("latin-1"), host, scope.get("scheme", "http")):
                await _refuse(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect; closing now refuses the handshake (HTTP 403)
        await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
        return
    body = json.dumps(error_body(ErrorCode.FORBIDDEN, "cross-origin request from an origin not allowed")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
