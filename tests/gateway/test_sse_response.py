"""The lean SSE response with an in-memory ASGI peer (frames, a client that leaves, a client that
stalls) and on a real uvicorn socket (chunks written past the ASGI chain)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import uvicorn
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

from gateway.fanout import ClientSubscription, OutMessage
from gateway.routes.streams import sse_frame
from gateway.sse import SseResponse, with_server_send
from tests.support import scene

SCOPE = {"type": "http", "method": "GET"}


def response(sub: ClientSubscription, closed: list[bool], send_timeout_s: float = 5.0) -> SseResponse:
    async def touch() -> None:
        return None

    async def on_close() -> None:
        closed.append(True)

    return SseResponse(
        sub,
        lambda m: m.wire("sse-message", lambda x: sse_frame(x, "message")),
        touch,
        ping_s=15,
        retry_ms=2000,
        send_timeout_s=send_timeout_s,
        background=BackgroundTask(on_close),
    )


async def test_frames_are_the_shared_bytes_and_a_leaving_client_ends_the_response():
    sub = ClientSubscription("s", "sse", 30, 30, 4)
    sent: list[dict[str, Any]] = []
    left = asyncio.Event()
    closed: list[bool] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    task = asyncio.create_task(response(sub, closed)(SCOPE, receive, send))
    body = scene.result(1)
    sub.offer(OutMessage.from_json(7, body))
    async with asyncio.timeout(5):
        while len(sent) < 3:
            await asyncio.sleep(0.01)
    left.set()
    await asyncio.wait_for(task, 5)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/event-stream")
    assert sent[1]["body"] == b": connected\r\nretry: 2000\r\n\r\n"
    assert sent[2]["body"] == b"id: 7\r\ndata: " + body + b"\r\n\r\n"
    assert closed == [True]  # the background task (closing the subscription) ran


async def test_a_send_that_never_completes_ends_the_stream_within_two_timeouts():
    sub = ClientSubscription("s", "sse", 30, 30, 4)
    closed: list[bool] = []
    stalled = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message.get("body", b"").startswith(b"id:"):
            stalled.set()
            await asyncio.Event().wait()  # the client stopped reading: the write never drains

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    task = asyncio.create_task(response(sub, closed, send_timeout_s=0.2)(SCOPE, receive, send))
    sub.offer(OutMessage.from_json(1, scene.result(1)))
    await asyncio.wait_for(stalled.wait(), 5)
    await asyncio.wait_for(task, 5)  # ended by the send watch, not by the client
    assert closed == [True]


async def test_a_pushed_send_that_waits_for_the_socket_finishes_before_the_next_one_starts():
    sub = ClientSubscription("s", "sse", 30, 30, 4)
    closed: list[bool] = []
    bodies: list[bytes] = []
    drained = asyncio.Event()
    first = True
    senders: list[str] = []  # which task ran each result's send

    async def send(message: dict[str, Any]) -> None:
        nonlocal first
        if message["type"] != "http.response.body":
            return
        body = message["body"]
        if body.startswith(b"id:"):
            senders.append(asyncio.current_task().get_name())  # type: ignore[union-attr]
        if body.startswith(b"id:") and first:  # the socket is full on the first result
            first = False
            await drained.wait()
        bodies.append(body)

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    task = asyncio.create_task(response(sub, closed)(SCOPE, receive, send))
    async with asyncio.timeout(5):
        while len(bodies) < 1:  # connected
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the response is waiting in next(): the first result is pushed from offer()
    sub.offer(OutMessage.from_json(1, scene.result(1)))
    sub.offer(OutMessage.from_json(2, scene.result(2)))
    await asyncio.sleep(0.05)
    assert len(bodies) == 1  # the pushed send is still waiting; nothing overtook it
    drained.set()
    async with asyncio.timeout(5):
        while len(bodies) < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [b.split(b"\r\n", 1)[0] for b in bodies[1:]] == [b"id: 1", b"id: 2"]
    assert sub.delivered == 2
    # the first was written from inside offer() (this test's task), the second by the response's own task
    assert senders == [asyncio.current_task().get_name(), "sse-s"]  # type: ignore[union-attr]


async def test_under_uvicorn_chunks_bypass_the_asgi_chain_and_arrive_whole_and_in_order():
    sub = ClientSubscription("s", "sse", 30, 30, 4)
    closed: list[bool] = []
    through_chain: list[str] = []  # what a middleware between the server and the response saw

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def watched(message: Any) -> None:
            through_chain.append(message["type"])
            await send(message)

        await response(sub, closed)(scope, receive, watched)

    config = uvicorn.Config(
        with_server_send(app), host="127.0.0.1", port=0, http="httptools", lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        bodies = [scene.result(seq) for seq in (1, 2, 3)]
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream("GET", f"http://127.0.0.1:{port}/") as stream,
        ):
            lines = stream.aiter_lines()
            assert await anext(lines) == ": connected"
            for event_id, body in enumerate(bodies, start=7):
                sub.offer(OutMessage.from_json(event_id, body))
            received: list[str] = []
            async with asyncio.timeout(10):
                while sum(line.startswith("data:") for line in received) < 3:
                    received.append(await anext(lines))
        assert [line for line in received if line.startswith("id:")] == ["id: 7", "id: 8", "id: 9"]
        assert [line for line in received if line.startswith("data:")] == [f"data: {b.decode()}" for b in bodies]
        assert through_chain == ["http.response.start"]  # every body chunk went past the middleware
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
