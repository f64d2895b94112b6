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

While its task waits for the next message the response is the subscription's
`Pusher` (gateway.fanout): a result that may go at once is written from inside
the hub's `offer()` loop, without waking this task. The write runs the ASGI
`send` coroutine up to its first suspension (`start_send`): on a socket with
room (the usual case: uvicorn writes to the transport and returns) it completes
right there; only when the socket is full does it suspend, and the rest runs as
a task, during which nothing more is pushed. The task path (`next()`) keeps
everything else: errors, events, resumes, pings, rate-limited results.

Under uvicorn's httptools protocol (what `sightwire gateway` runs) a push skips
the ASGI machinery altogether: `with_server_send` (the outermost layer, see
gateway.service) puts the server's own `send` in the scope, and once the
response has started through the normal middleware chain (which only watches
for the start), `ChunkWriter` writes each message's pre-framed chunk
(`OutMessage.chunked`, built once and shared by every viewer) straight to the
connection's transport, as uvicorn's `send` would, while the transport is not
paused for flow control. The task path sends its body chunks through the
server's `send` too (past the middleware wrappers). Under any other server, or
in tests with an in-memory peer, the ASGI `send` is used as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gateway.fanout import ClientSubscription, OutMessage

log = logging.getLogger(__name__)

PING = b": ping\r\n\r\n"
IDLE_WAIT_S = 5.0
STOP_TIMEOUT_S = 2.0
PUSH_TOUCH_S = 1.0  # while results are pushed, mark the session active at most this often
SERVER_SEND = "sightwire.server_send"  # scope key: the server's own ASGI send (`with_server_send`)


def with_server_send(app: ASGIApp) -> ASGIApp:
    """`app` with the server's own `send` in every HTTP scope (`SERVER_SEND`): wrap the app given
    to the server with this, outside every middleware. Only `SseResponse` reads it, for body
    chunks after its response has started (the middlewares here look only at the start)."""

    async def app_with_server_send(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await app(scope, receive, send)

    return app_with_server_send


class ChunkWriter:
    """Body chunks written straight to a uvicorn (httptools) connection: what its `send` does
    for a chunked body, without a coroutine per chunk. Only while the transport is not paused
    (`writable`); a gone client's chunks are dropped, as uvicorn's `send` drops them."""

    __slots__ = ("_cycle", "_flow", "_transport")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle
        self._flow = cycle.flow
        self._transport = cycle.transport

    @classmethod
    def of(cls, send: object) -> ChunkWriter | None:
        """A writer for the connection behind `send` if it is uvicorn's httptools `send` of a
        started chunked response; else None (any other server or peer: use `send`)."""
        cycle = getattr(send, "__self__", None)
        if not isinstance(cycle, RequestResponseCycle) or getattr(send, "__func__", None) is not type(cycle).send:
            return None
        try:  # uvicorn's internals: a version without these attributes falls back to `send`
            if not cycle.response_started or cycle.response_complete or cycle.chunked_encoding is not True:
                return None
            return cls(cycle)
        except AttributeError:
            log.warning("uvicorn's connection internals changed: SSE chunks go through ASGI send")
            return None

    def writable(self) -> bool:
        return not self._flow.write_paused

    def write(self, chunk: bytes) -> None:
        if not self._cycle.disconnected:
            self._transport.write(chunk)


def start_send(send: Send, message: Message) -> Coroutine[Any, Any, None] | None:
    """Run `send(message)` up to its first suspension: None when it finished without waiting,
    else a coroutine that finishes it (await it, or run it as a task)."""
    return start(send(message))


def start(awaitable: Awaitable[None]) -> Coroutine[Any, Any, None] | None:
    """Run a coroutine up to its first suspension: None when it finished without waiting,
    else a coroutine that finishes it (await it, or run it as a task)."""
    coro = awaitable
    if not isinstance(coro, Coroutine):  # an awaitable that is not an `async def`: leave it whole
        return _awaited(coro)
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    return _resume(coro, yielded)


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


async def _resume(coro: Coroutine[Any, Any, None], yielded: object) -> None:
    """Go on with a coroutine that `start_send` began, as a task would have: wait for the
    future it yielded, then step it again, until it returns."""
    try:
        while True:
            await _settled(yielded)
            yielded = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise


def _settled(yielded: object) -> Awaitable[Any]:
    """What to wait for before stepping a suspended coroutine again: the future it yielded
    (done, whatever its outcome: the coroutine reads that itself), or one loop turn."""
    if yielded is None:
        return asyncio.sleep(0)
    if isinstance(yielded, asyncio.Future):
        yielded._asyncio_future_blocking = False  # what a Task does with a future it is handed
        return asyncio.wait([yielded])
    raise RuntimeError(f"send yielded {yielded!r}, not a future")


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
        self._send_fn: Send | None = None
        self._writer: ChunkWriter | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._rest: asyncio.Task[None] | None = None  # a pushed send that had to wait for the socket
        self._touching: asyncio.Task[None] | None = None
        self._touched_at = 0.0
        self._last_sent = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method", "GET").upper() == "HEAD":
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            body_send: Send = scope.get(SERVER_SEND) or send
            tasks = (
                stream := asyncio.create_task(self._stream(send, body_send), name=f"sse-{self.sub.sid}"),
                asyncio.create_task(_client_left(receive), name=f"sse-left-{self.sub.sid}"),
                asyncio.create_task(self._watch_sends(), name=f"sse-slow-{self.sub.sid}"),
            )
            self._stream_task = stream
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.sub.attach(None)
                helpers = [t for t in (self._rest, self._touching) if t is not None]
                for task in (*tasks, *helpers):
                    task.cancel()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*tasks, *helpers, return_exceptions=True), STOP_TIMEOUT_S)
            failed = stream.exception() if stream.done() and not stream.cancelled() else None
            if failed is not None and not isinstance(failed, OSError):  # a bug, not a client leaving
                log.error("sse stream failed", extra={"sid": self.sub.sid}, exc_info=failed)
        finally:
            if self.background is not None:
                await self.background()

    async def _stream(self, start_send_fn: Send, send: Send) -> None:
        """The response start through the ASGI chain (`start_send_fn`), everything after through `send`."""
        await start_send_fn({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        self._writer = ChunkWriter.of(send)
        self._send_fn = send
        if not await self._send(send, b": connected\r\nretry: %d\r\n\r\n" % self.retry_ms):
            return
        while True:
            msg = await self._next_unpushed()
            await self.touch()
            if msg is None:
                if time.monotonic() - self._last_sent < self.ping_s:
                    continue
                body = PING
            else:
                body = self.encode(msg)
            if not await self._send(send, body):
                return
            if msg is not None and msg.kind == "closed":
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _next_unpushed(self) -> OutMessage | None:
        """`next()`, with this response attached as the pusher for as long as it waits."""
        self.sub.attach(self)
        try:
            return await self.sub.next(min(IDLE_WAIT_S, self.ping_s))
        finally:
            self.sub.attach(None)

    async def _send(self, send: Send, body: bytes) -> bool:
        """One chunk (`_watch_sends` ends the stream if it never completes)."""
        if self._rest is not None:  # a pushed send still waiting for the socket goes first
            await self._rest
        self._started += 1
        await send({"type": "http.response.body", "body": body, "more_body": True})
        self._done += 1
        self._last_sent = time.monotonic()
        return True

    # ---- Pusher (gateway.fanout): writes from inside the hub's offer() ----

    def ready(self) -> bool:
        writer = self._writer
        return self._started == self._done and self._send_fn is not None and (writer is None or writer.writable())

    def push(self, msg: OutMessage) -> None:
        assert self._send_fn is not None  # ready() said so
        self._last_sent = now = time.monotonic()
        if self._writer is not None:
            self._write(msg)
        else:
            self._start_push(self._send_fn, msg)
        if now - self._touched_at >= PUSH_TOUCH_S and (self._touching is None or self._touching.done()):
            self._touched_at = now
            self._touch_now()

    def _touch_now(self) -> None:
        """Mark the session active from inside `offer()`: run `touch` up to its first suspension
        (usually it returns at once: the directory writes at most once per interval), and only
        a touch that must wait for its write becomes a task."""
        try:
            rest = start(self.touch())
        except Exception as exc:  # bookkeeping must not fail a delivery
            log.warning("session touch failed", extra={"sid": self.sub.sid, "error": repr(exc)})
            return
        if rest is not None:
            self._touching = asyncio.ensure_future(rest)

    def _write(self, msg: OutMessage) -> None:
        """Straight to the transport (`ChunkWriter`): done when it returns."""
        assert self._writer is not None
        try:
            self._writer.write(msg.chunked(self.encode(msg)))
        except Exception as exc:  # the transport failed: end the stream as a failed send would
            self._end_stream(exc)

    def _start_push(self, send: Send, msg: OutMessage) -> None:
        """Through the ASGI `send`, up to its first suspension; the rest runs as a task."""
        self._started += 1
        try:
            rest = start_send(send, {"type": "http.response.body", "body": self.encode(msg), "more_body": True})
        except Exception as exc:  # the transport failed: end the stream as a failed send would
            self._end_stream(exc)
            return
        if rest is None:
            self._done += 1
        else:
            self._rest = asyncio.ensure_future(self._finish_push(rest))

    async def _finish_push(self, rest: Coroutine[Any, Any, None]) -> None:
        try:
            await rest
        except Exception as exc:
            self._end_stream(exc)
            return
        self._done += 1

    def _end_stream(self, exc: BaseException) -> None:
        if not isinstance(exc, OSError):
            log.error("sse push failed", extra={"sid": self.sub.sid}, exc_info=exc)
        if self._stream_task is not None:
            self._stream_task.cancel()

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
