"""The whole pipeline as real processes for browser tests: workers, scene stage, ingest, gateway.

Everything listens on 127.0.0.1 inside the test's network namespace; the
gateway gets a free port and is ready when `/stream/ready` says so (NATS up,
a detector heartbeat seen) and an ingest instance answers on the WebRTC
subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import dataclass, field

import httpx
from nats.aio.client import Client as NATS

from shared import subjects
from tests.support.net import free_port
from tests.support.pipeline import start_workers
from tests.support.procs import ComponentRunner

INGEST_ENV = {"SIGHTWIRE_WEBRTC_HOST_ADDRESSES": '["127.0.0.1"]'}


@dataclass
class Stack:
    base_url: str
    components: ComponentRunner
    ingests: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(f"--- {p.args}\n{self.components.log_of(p)[-3000:]}" for p in self.components.procs)

    def start_ingest(self) -> subprocess.Popen[bytes]:
        proc = self.components.start("ingest", env=INGEST_ENV)
        self.ingests.append(proc)
        return proc

    async def wait_ingest_ready(self, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
        """Its log says it subscribed to the signalling subject (so offers may now go to it)."""
        await _until(lambda: _logged(self.components, proc, "webrtc ingest ready"), timeout_s, self)


async def start_stack(components: ComponentRunner, nc: NATS, *, depth: bool = True) -> Stack:
    # the scene worker turns RESULTS into the SCENE messages the gateway fans out (tracks, distances)
    await start_workers(components, nc, ("detector", "depth", "scene") if depth else ("detector", "scene"))
    port = free_port()
    stack = Stack(f"http://127.0.0.1:{port}", components)
    stack.start_ingest()
    components.start("gateway", env={"SIGHTWIRE_HOST": "127.0.0.1", "SIGHTWIRE_PORT": str(port)})
    await _until(lambda: _ready(stack.base_url), 60, stack)
    await _until(lambda: _webrtc_answers(nc), 30, stack)
    return stack


async def _until(check: object, timeout_s: float, stack: Stack) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"stack not ready in {timeout_s} s\n{stack.logs()}")
        await asyncio.sleep(0.1)


async def start_gateway_only(components: ComponentRunner) -> Stack:
    """Just the gateway (the page, sessions): for tests that never reach the pipeline."""
    port = free_port()
    components.start("gateway", env={"SIGHTWIRE_HOST": "127.0.0.1", "SIGHTWIRE_PORT": str(port)})
    stack = Stack(f"http://127.0.0.1:{port}", components)
    await _until(lambda: _healthy(stack.base_url), 60, stack)
    return stack


async def _logged(components: ComponentRunner, proc: subprocess.Popen[bytes], text: str) -> bool:
    return text in components.log_of(proc)


async def _healthy(base_url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{base_url}/stream/health")).status_code == 200
    return False


async def _ready(base_url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{base_url}/stream/ready")).status_code == 200
    return False


async def _webrtc_answers(nc: NATS) -> bool:
    """An ingest instance replies to anything on the signalling subject (junk gets a coded refusal)."""
    with contextlib.suppress(Exception):
        await nc.request(subjects.WEBRTC_SUBJECT, b"", timeout=1)
        return True
    return False
