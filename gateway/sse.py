"""A lean Server-Sent Events response for the result stream: one task, one send per message.

With thousands of viewers per process (issue 10: 2,000 at 10 fps), the work per
viewer per message is the cost that matters. `sse-starlette`'s
`EventSourceResponse` runs an anyio task group per connection and wraps every
send in an anyio cancel scope; this response does only what the result stream
needs: the shared SSE bytes of each message (built once per message and
naming form, `OutMessage.wire`) written with one ASGI `send`, a keep-alive
comment when nothing was sent for `ping_s`, one idle task per connection that
notices the client leaving, and one that wakes every `send_timeout_s` to see
whether a send has been stuck since its last look (a timer per send would cost
more than the send). A send stuck that long ends the stream (the client
reconnects and resumes with `Last-Event-ID`), so a stalled reader holds one
bounded slot for at most twice `send_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.fanout import ClientSubscription, OutMessage

log = logging.getLogger(__name__)

PING = b": ping\r\n\r\n"
IDLE_WAIT_S = 5.0
STOP_TIMEOUT_S = 2.0


class SseResponse(Response):
    """`text/event-stream` of one `ClientSubscription` until it closes or the client leaves."""

    media_type = "text/event-stream"

    def __init__(
        self,
        sub: ClientSubscription,
        encode: Callable[[OutMessage], bytes],
        touch: Callable[[], Awaitable[None]],
        ping_s: float,
        retry_ms: int,
        send_timeout_s: float,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
        status_code: int = 200,  # FastAPI's OpenAPI reads the default from the signature
    ) -> None:
        self.status_code = status_code
        self.background = background
        self.init_headers(headers)
        self.sub = sub
        self.encode = encode
        self.touch = touch
        self.ping_s = ping_s
        self.retry_ms = retry_ms
        self.send_timeout_s = send_timeout_s
        self._started = 0  # sends begun and finished: one in flight when they differ
        self._done = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method", "GET").upper() == "HEAD":
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            tasks = (
                stream := asyncio.create_task(self._stream(send), name=f"sse-{self.sub.sid}"),
                asyncio.create_task(_client_left(receive), name=f"sse-left-{self.sub.sid}"),
                asyncio.create_task(self._watch_sends(), name=f"sse-slow-{self.sub.sid}"),
            )
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), STOP_TIMEOUT_S)
            failed = stream.exception() if stream.done() and not stream.cancelled() else None
            if failed is not None and not isinstance(failed, OSError):  # a bug, not a client leaving
                log.error("sse stream failed", extra={"sid": self.sub.sid}, exc_info=failed)
        finally:
            if self.background is not None:
                await self.background()

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if not await self._send(send, b": connected\r\nretry: %d\r\n\r\n" % self.retry_ms):
            return
        last_sent = time.monotonic()
        while True:
            msg = await self.sub.next(min(IDLE_WAIT_S, self.ping_s))
            await self.touch()
            if msg is None:
                if time.monotonic() - last_sent < self.ping_s:
                    continue
                body = PING
            else:
                body = self.encode(msg)
            if not await self._send(send, body):
                return
            last_sent = time.monotonic()
            if msg is not None and msg.kind == "closed":
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send(self, send: Send, body: bytes) -> bool:
        """One chunk (`_watch_sends` ends the stream if it never completes)."""
        self._started += 1
        await send({"type": "http.response.body", "body": body, "more_body": True})
        self._done += 1
        return True

    async def _watch_sends(self) -> None:
        """Return (ending the stream) once one send has been pending for a whole interval."""
        pending = -1
        while True:
            await asyncio.sleep(self.send_timeout_s)
            if self._started > self._done and self._started == pending:
                log.info("sse client too slow; stream ended", extra={"sid": self.sub.sid})
                return
            pending = self._started if self._started > self._done else -1


async def _client_left(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
