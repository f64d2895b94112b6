"""`sightwire gateway`: serve the app with uvicorn until `stop` is set.

The fast parts uvicorn offers are used (issue 10: fan-out to thousands of
viewers): the process runs on uvloop (`loop_factory`, handed to the CLI's
runner) and HTTP is parsed by httptools; both come with `uvicorn[standard]`.

Shutdown is ordered and bounded: stop intake and end every result stream with
a final event first (otherwise uvicorn would wait forever for open SSE
responses), then let uvicorn stop accepting and finish in-flight requests,
then the lifespan drains NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import uvicorn
import uvloop
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.sse import with_server_send

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """The CLI owns SIGTERM/SIGINT (they set `stop`): uvicorn must not take them over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop: cheaper callbacks and socket writes for every viewer."""
    return uvloop.new_event_loop


def build_server(app: FastAPI, settings: GatewaySettings) -> uvicorn.Server:
    config = uvicorn.Config(
        with_server_send(app),  # SSE responses write their chunks past the middleware wrappers
        host=settings.host,
        port=settings.port,
        http="httptools",
        lifespan="on",
        log_config=None,  # logging is configured once by the CLI
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=int(max(1, settings.drain_timeout_s)),
        ws_max_size=settings.max_upload_bytes * 4 // 3 + 64 * 1024,
    )
    return _Server(config)


async def run(settings: GatewaySettings, stop: asyncio.Event) -> None:
    app = create_app(settings)
    server = build_server(app, settings)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():  # the server ended on its own (bind error, startup failure)
        stopping.cancel()
        await serving
        if not server.started:
            raise RuntimeError("gateway failed to start")
        return
    await _shutdown(app, server, settings)
    await serving


async def _shutdown(app: FastAPI, server: uvicorn.Server, settings: GatewaySettings) -> None:
    runtime = app.state.runtime
    if runtime is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop_intake(), settings.drain_timeout_s)
    log.info("gateway stopping")
    server.should_exit = True
