"""One WebSocket client: results out, frames and config updates in, on one socket.

Two loops share the socket, and the first to end ends the connection: the
sender takes the next message from the client's `ClientSubscription` (latest
wins, fps-capped) and sends it under `send_timeout_s`; after
`max_send_timeouts` consecutive timed-out sends the client is cut off (close
code 1013), so a stalled reader costs the gateway one bounded slot, never a
queue. The receiver parses client messages (`gateway.wsproto`) and acts on
them; a bad message gets an error message with its code and the connection
stays open. Sends from both loops go through one lock, since a WebSocket
must not interleave two sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

import msgpack
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway import session_ops, wsproto
from gateway.errors import error_body
from gateway.fanout import ClientSubscription, OutMessage
from gateway.uploads import publish_frame, upload_cap
from shared.errors import ErrorCode, InvalidInput, NotFound, SightwireError
from shared.sessions import MAX_FPS

if TYPE_CHECKING:
    from gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

Format = Literal["json", "msgpack"]
IDLE_WAIT_S = 5.0
BIG_TEXT = 64 * 1024  # parse larger messages (base64 frames) off the event loop
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN = 1013


class WsConnection:
    def __init__(self, runtime: GatewayRuntime, websocket: WebSocket, sid: str, fmt: Format) -> None:
        self.runtime = runtime
        self.ws = websocket
        self.sid = sid
        self.fmt = fmt
        self.settings = runtime.settings
        self._lock = asyncio.Lock()
        self._timeouts = 0

    async def serve(self, delivery_fps: int | None, last_event_id: int | None) -> None:
        """Run until the client leaves, the session ends, or the client is too slow.

        `delivery_fps`: this client's results per second (None: the session's `fps_limit`).
        """
        async with self.runtime.hubs.subscribe(self.sid, "ws", delivery_fps or MAX_FPS, last_event_id) as sub:
            await first_completed(self._send_loop(sub), self._receive_loop())

    # ---- results out ----

    async def _send_loop(self, sub: ClientSubscription) -> None:
        while True:
            msg = await sub.next(IDLE_WAIT_S)
            await self.runtime.directory.touch(self.sid)
            if msg is None:
                continue
            if not await self._send(msg.msgpack_bytes() if self.fmt == "msgpack" else msg.json_text()):
                await self._close(CLOSE_TRY_AGAIN, "client too slow")
                return
            if msg.kind == "closed":
                await self._close(_close_code(msg), str(msg.payload.get("error_code", "")))
                return

    async def _send(self, body: str | bytes) -> bool:
        """Send under the timeout; False once too many sends in a row timed out."""
        async with self._lock:
            try:
                async with asyncio.timeout(self.settings.send_timeout_s):
                    if isinstance(body, bytes):
                        await self.ws.send_bytes(body)
                    else:
                        await self.ws.send_text(body)
            except TimeoutError:
                self._timeouts += 1
                log.info("ws send timed out", extra={"sid": self.sid, "in_a_row": self._timeouts})
                return self._timeouts < self.settings.max_send_timeouts
        self._timeouts = 0
        return True

    async def _reply(self, payload: dict[str, Any]) -> None:
        """A direct answer to this client (error, config ack), outside the result stream."""
        if self.fmt == "msgpack":
            await self._send(msgpack.packb(payload, use_bin_type=True))
        else:
            await self._send(json.dumps(payload, separators=(",", ":")))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason[:120])

    # ---- frames and config in ----

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                await self._act(await self._parse(message))
            except SightwireError as exc:
                await self._reply(error_body(exc.code, exc.message, exc.frame_id))

    async def _parse(self, message: MutableMapping[str, Any]) -> wsproto.ClientMessage:
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            return wsproto.parse_binary(data)
        if text is None:
            raise InvalidInput("empty message")
        cap = upload_cap(self.runtime.intake)
        if len(text) > BIG_TEXT:
            return await asyncio.to_thread(wsproto.parse_text, text, cap)
        return wsproto.parse_text(text, cap)

    async def _act(self, command: wsproto.ClientMessage) -> None:
        if isinstance(command, wsproto.FrameIn):
            record = self.runtime.directory.records.get(self.sid) or await self._record()
            await publish_frame(self.runtime.intake, record, command.image, command.frame_id, command.captured_at_ns)
            return
        config = await session_ops.update_config(self.runtime, self.sid, command.changes)
        await self._reply({"type": "config_updated", "config": config.model_dump(mode="json")})

    async def _record(self) -> Any:
        found = await self.runtime.directory.get(self.sid)
        if found is None:
            raise NotFound("no such session")
        return found[0]


def _close_code(msg: OutMessage) -> int:
    return CLOSE_GOING_AWAY if msg.payload.get("error_code") == ErrorCode.UNAVAILABLE else CLOSE_NORMAL


async def first_completed(*coros: Coroutine[Any, Any, None]) -> None:
    """Run the coroutines until the first one ends (or fails); cancel and await the rest."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
            raise exc
