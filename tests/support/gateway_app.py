"""Run a gateway app in-process for tests: real NATS, real lifespan, httpx client.

httpx's ASGITransport does not run the lifespan, so `running_gateway` enters it
explicitly (`app.router.lifespan_context`) and yields the app together with a
client; the runtime is closed (hubs, NATS drain) when the block ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.app import create_app
from gateway.runtime import GatewayRuntime
from gateway.service import build_server
from gateway.settings import GatewaySettings


def gateway_settings(nats_url: str, **overrides: Any) -> GatewaySettings:
    """Settings for a test gateway: no env file, loopback only, quick janitor."""
    base: dict[str, Any] = {"nats_url": nats_url, "host": "127.0.0.1", "port": 0, "log_json": False}
    return GatewaySettings(**{**base, **overrides})


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> GatewayRuntime:
        runtime = self.app.state.runtime
        assert runtime is not None
        return runtime

    async def create_session(self, **body: Any) -> dict[str, Any]:
        response = await self.client.post("/stream/sessions", json=body)
        assert response.status_code == 201, response.text
        return response.json()


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[Gateway]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=10) as client:
            yield Gateway(app, client)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def poll_until(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, every_s: float = 0.05) -> None:
    """Wait until `check()` is true, failing after `timeout_s` (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(every_s)


@asynccontextmanager
async def serving_gateway(settings: GatewaySettings) -> AsyncIterator[tuple[str, FastAPI]]:
    """The gateway on a real uvicorn socket (127.0.0.1, a port the OS picks): for WebSocket and SSE tests.

    Yields the base URL (`http://127.0.0.1:<port>`) and the app; stops the server at the end.
    """

    app = create_app(settings)
    server = build_server(app, settings.model_copy(update={"port": 0}))
    task = asyncio.create_task(server.serve())
    try:
        await poll_until(_started(server, task), timeout_s=20)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _started(server: Any, task: Any) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        if task.done():
            task.result()  # re-raise a start-up failure
            raise AssertionError("gateway server exited during start-up")
        return bool(server.started)

    return check
