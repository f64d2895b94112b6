"""Request bodies are capped before they are read: 413, never a 100 MB JSON in memory.

An ASGI middleware, so it holds for every route, present and future: a
declared `Content-Length` over the cap is refused before the app runs, and a
chunked body is counted as it streams and refused the moment it passes the
cap. Frame uploads (`/stream/process/...`) get the upload cap (base64 JSON of
the largest image); every other route gets `max_request_bytes`. WebSocket
messages are bounded by the server's own `ws_max_size`.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_body
from shared.errors import ErrorCode

UPLOAD_PREFIX = "/stream/process/"
JSON_OVERHEAD = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` while the app reads; the app's handlers answer it as 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body exceeds {cap} bytes")


def upload_body_cap(max_upload_bytes: int) -> int:
    """Largest upload request: a base64 JSON of the largest image."""
    return max_upload_bytes * 4 // 3 + JSON_OVERHEAD


class BodyLimit:
    """Refuse bodies over `request_cap` (or `upload_cap` on upload routes) with 413."""

    def __init__(self, app: ASGIApp, request_cap: int, upload_cap: int) -> None:
        self.app = app
        self.request_cap = request_cap
        self.upload_cap = upload_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.upload_cap if scope["path"].startswith(UPLOAD_PREFIX) else self.request_cap
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await _refuse(send, cap)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, cap: int) -> None:
    body = json.dumps(error_body(ErrorCode.PAYLOAD_TOO_LARGE, f"request body exceeds {cap} bytes")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
