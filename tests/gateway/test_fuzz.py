"""Schemathesis fuzzes every documented operation: no input may produce a 5xx.

The gateway runs on a real uvicorn socket (its NATS connection lives on the
test's event loop); the fuzzer's blocking HTTP client runs in a worker thread.
Each session-scoped operation is fuzzed twice: as generated (mostly auth
refusals) and with a real session id and token injected, so the generated
bodies and query strings reach the handlers behind the authorization check.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from shared import subjects
from shared.envelopes import Heartbeat, now_ns
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import gateway_settings, poll_until, serving_gateway

MAX_EXAMPLES = int(os.environ.get("SIGHTWIRE_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = os.environ.get("SIGHTWIRE_FUZZ_RANDOM") != "1"  # CI: reproducible; set 1 to explore
STREAM_TYPES = ("text/event-stream", "multipart/")
ERROR_KEYS = {"type", "error", "error_code", "frame_id", "timestamp"}


def new_session(base_url: str) -> tuple[str, str]:
    body = httpx.post(f"{base_url}/stream/sessions", json={}, timeout=10).json()
    return body["client_id"], body["token"]


def fuzz_operation(operation: Any, base_url: str, with_session: bool) -> None:
    failures: list[str] = []

    @given(case=operation.as_strategy(), use_header=st.booleans())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=DERANDOMIZE,
    )
    def check(case: Any, use_header: bool) -> None:
        if with_session:
            sid, token = new_session(base_url)
            case.path_parameters = {**(case.path_parameters or {}), "client_id": sid}
            if use_header:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            else:
                case.query = {**(case.query or {}), "token": token}
        response = case.call(base_url=base_url, timeout=10)
        body = response.content[:300]
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {body!r}")
        elif response.status_code >= 400 and "application/json" in str(response.headers.get("content-type")):
            assert set(json.loads(response.content)) >= ERROR_KEYS, body

    check()
    assert not failures, failures[:5]


def fuzz_all(base_url: str, spec: dict[str, Any]) -> int:
    schema = schemathesis.openapi.from_dict(spec)
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        fuzz_operation(operation, base_url, with_session=False)
        if "{client_id}" in operation.path and not streams(spec, operation.path, operation.method):
            fuzz_operation(operation, base_url, with_session=True)
        count += 1
    return count


def streams(spec: dict[str, Any], path: str, method: str) -> bool:
    """An endpoint whose success is an endless stream (SSE, MJPEG): only its refusals are fuzzed."""
    ok = spec["paths"][path][method.lower()]["responses"].get("200", {})
    return any(t.startswith(STREAM_TYPES) for t in ok.get("content", {}))


async def detector_alive(nc: NATS) -> None:
    """A detector's heartbeat, so that /stream/ready answers 200 (its 503 is tested elsewhere)."""
    while True:
        hb = Heartbeat("detector", "fuzz", now_ns(), {"processed": 0}, {"kind": "detector"})
        await nc.publish(subjects.heartbeat("detector", "fuzz"), hb.to_bytes())
        await asyncio.sleep(1)


async def test_openapi_fuzz_gives_no_server_errors(nats_server: EmbeddedNatsServer, nc: NATS):
    beating = asyncio.create_task(detector_alive(nc))
    try:
        settings = gateway_settings(nats_server.url, upload_burst=1000, sessions_per_address_per_min=1_000_000)
        async with serving_gateway(settings) as (url, _app), httpx.AsyncClient(base_url=url) as client:
            await poll_until(lambda: _ready(client))
            spec = (await client.get("/openapi.json")).json()
            fuzzed = await asyncio.to_thread(fuzz_all, url, spec)
            assert fuzzed >= 8
            assert (await client.get("/stream/health")).status_code == 200
    finally:
        beating.cancel()


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/stream/ready")).status_code == 200
