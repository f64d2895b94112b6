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

"Same host as `Host`" alone is not proof of the gateway's own page: with DNS
rebinding a page on `evil.example`, re-resolved to 127.0.0.1, sends
`Origin: http://evil.example:8080` and `Host: evil.example:8080` to a gateway
on the user's machine. So the same-origin rule holds only when the `Host` is a
name the gateway answers to: an IP literal (a page whose origin is an address
was served from that address), `localhost` and `*.localhost` (browsers resolve
those to loopback themselves, never through DNS), `public_base_url`'s host and
the `public_hostnames` setting.
"""

from __future__ import annotations

import ipaddress
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

    def __init__(
        self,
        app: ASGIApp,
        allowed: Iterable[str],
        public_base_url: str | None = None,
        hostnames: Iterable[str] = (),
    ) -> None:
        self.app = app
        allowed = list(allowed)
        self.any = "*" in allowed
        self.allowed = {o.rstrip("/").lower() for o in allowed if o != "*"}
        self.hostnames = {h.strip().rstrip(".").lower() for h in hostnames if h.strip()}
        if public_base_url:
            parts = urlsplit(public_base_url)
            self.allowed.add(f"{parts.scheme}://{parts.netloc}".lower())
            if parts.hostname:
                self.hostnames.add(parts.hostname.rstrip(".").lower())

    def permits(self, origin: str, host: str, scheme: str) -> bool:
        origin = origin.rstrip("/").lower()
        if self.any or origin in self.allowed:
            return True
        mine = _netloc("https" if scheme in ("https", "wss") else "http", host)
        theirs = _origin_netloc(origin)
        return theirs is not None and theirs == mine and self.answers_to(theirs)

    def answers_to(self, netloc: str) -> bool:
        """Whether `host:port`'s host is one of this gateway's own names (not one DNS can rebind)."""
        name = netloc.rpartition(":")[0].strip("[]").rstrip(".")
        if name == "localhost" or name.endswith(".localhost") or name in self.hostnames:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

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
