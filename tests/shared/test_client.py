"""The Python client against the real gateway (in-process, real NATS) and a real SSE server that
drops the connection (resume with Last-Event-ID)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.js import JetStreamContext

from shared import subjects
from shared.client import Session, SightwireClient, SightwireError
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import Gateway, gateway_settings, running_gateway

LINE = {"name": "gate", "a": [0.3, 0.9], "b": [0.3, 0.1]}


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer, js: JetStreamContext) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


async def test_session_config_events_and_counts(gateway: Gateway, js: JetStreamContext) -> None:
    async with SightwireClient("http://gateway.test", transport=httpx.ASGITransport(app=gateway.app)) as sw:
        session = await sw.create_session(fps_limit=5, lines=[LINE])
        assert session.config["lines"][0]["name"] == "gate"
        config = await session.patch_config(zones=[{"name": "bay", "polygon": [[0, 0], [1, 0], [1, 1]]}])
        assert config["zones"][0]["name"] == "bay" and config["fps_limit"] == 5
        with pytest.raises(SightwireError) as bad:
            await session.patch_config(lines=[LINE, LINE])
        assert (bad.value.status, bad.value.code) == (422, "VALIDATION_ERROR") and "lines" in bad.value.message

        for i in range(1203):
            event = {"id": f"ev_{i}", "kind": "line_cross", "sid": session.client_id,
                     "counts": {"zones": {"bay": 0}, "lines": {"gate": {"in": i + 1, "out": 0}}}}  # fmt: skip
            body = json.dumps({"type": "event", "event": event}).encode()
            await js.publish(subjects.events(session.client_id, "line_cross"), body)
        ids = [e["id"] async for e in session.all_events()]
        assert ids == [f"ev_{i}" for i in range(1203)]
        assert [e["id"] async for e in session.all_events(after="ev_1200")] == ["ev_1201", "ev_1202"]
        assert (await session.counts())["lines"] == {"gate": {"in": 1203, "out": 0}}

        again = await sw.session(session.client_id, session.token)
        assert again.config["zones"][0]["name"] == "bay"
        await session.close()
        with pytest.raises(SightwireError) as gone:
            await session.counts()
        assert gone.value.status == 404


class DroppingSseServer:
    """Sends ids 1-2 then drops the connection; on the next connection, what follows Last-Event-ID."""

    def __init__(self) -> None:
        self.resumed_from: list[str | None] = []
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in head.split("\r\n")[1:] if ln)}
        last = headers.get("last-event-id")
        self.resumed_from.append(last)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        if last is None:
            writer.write(b': ping\r\n\r\nid: 1\r\ndata: {"type": "detection_result", "n": 1}\r\n\r\n')
            writer.write(b'id: 2\r\ndata: {"type": "event", "event": {"id": "ev_a"}}\r\n\r\n')
        else:
            writer.write(b'id: 3\r\ndata: {"type": "detection_result", "n": 3}\r\n\r\n')
            writer.write(b'event: session_closed\r\ndata: {"type": "session_closed"}\r\n\r\n')
        await writer.drain()
        writer.close()


async def test_stream_resumes_with_last_event_id() -> None:
    fake = DroppingSseServer()
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with SightwireClient(f"http://127.0.0.1:{port}") as sw:
            session = Session(sw.http, "sid1", "tok", {})
            got = [m async for m in session.stream(retry_delay_s=0.05)]
    finally:
        server.close()
        await server.wait_closed()
    assert [(m.id, m.event) for m in got] == [
        ("1", "message"),
        ("2", "message"),
        ("3", "message"),
        (None, "session_closed"),
    ]
    assert got[1].data["event"]["id"] == "ev_a"
    assert fake.resumed_from == [None, "2"]
