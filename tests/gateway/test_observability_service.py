"""The real `sightwire gateway` process: serves, and on SIGTERM ends open streams with a final event, then exits 0."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import httpx

from tests.support.gateway_app import poll_until
from tests.support.procs import ComponentRunner

LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


async def gateway_port(components: ComponentRunner, proc: subprocess.Popen[bytes]) -> int:
    found: dict[str, int] = {}

    async def listening() -> bool:
        assert proc.poll() is None, components.log_of(proc)
        match = LISTENING.search(components.log_of(proc))
        if match:
            found["port"] = int(match.group(1))
        return bool(match)

    await poll_until(listening, timeout_s=60, every_s=0.1)
    return found["port"]


async def test_gateway_process_serves_and_shuts_down_in_order(components: ComponentRunner):
    proc = components.start("gateway", "--port", "0", env={"SIGHTWIRE_LOG_JSON": "false"})
    base = f"http://127.0.0.1:{await gateway_port(components, proc)}"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        assert (await client.get("/stream/health")).json()["nats_connected"] is True
        session = (await client.post("/stream/sessions", json={"fps_limit": 5})).json()
        last: dict[str, object] = {}
        async with client.stream("GET", session["sse_endpoint"]) as response:
            async for line in response.aiter_lines():
                if line.startswith(":") and proc.poll() is None and not last:
                    os.kill(proc.pid, signal.SIGTERM)
                    last = {"signalled": True}
                if line.startswith("data:"):
                    last = json.loads(line.removeprefix("data:").strip())
    assert last.get("error_code") == "UNAVAILABLE"  # "gateway shutting down; reconnect to resume"
    assert proc.wait(30) == 0, components.log_of(proc)
