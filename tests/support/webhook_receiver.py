"""A webhook receiver for tests: a tiny HTTP/1.1 server on 127.0.0.1 with a scripted answer.

`statuses` are the answers to the first requests in order (then 200); `hang=True` never answers
(a dead receiver that accepted the connection). Every request is recorded with its headers and
body, so a test can check signatures and count deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    arrived_at: float = 0.0  # time.time() when the body was read


@dataclass
class WebhookReceiver:
    statuses: list[int] = field(default_factory=list)
    location: str | None = None  # sent with 3xx answers
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _hung: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    async def stop(self) -> None:
        for writer in self._hung:
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.hang:
                    self._hung.append(writer)
                    self.received.append(Received(path, headers, body, 0, time.time()))
                    self.arrived.set()
                    await asyncio.sleep(3600)
                status = self.statuses.pop(0) if self.statuses else 200
                self.received.append(Received(path, headers, body, status, time.time()))
                self.arrived.set()
                extra = f"Location: {self.location}\r\n" if self.location and 300 <= status < 400 else ""
                writer.write(f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
