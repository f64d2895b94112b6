"""Session endings reach open result streams: expiry and DELETE end an SSE stream with a final event.

Runs the gateway on a real uvicorn socket, because an SSE response is only
observable as a stream over a real connection.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from nats.js import JetStreamContext

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import auth, gateway_settings, serving_gateway

STREAM_TIMEOUT = httpx.Timeout(20.0)


async def final_event(client: httpx.AsyncClient, sse_endpoint: str, on_open: Any = None) -> dict[str, Any]:
    """Read an SSE stream until the server ends it; return the last event's data."""
    last: dict[str, Any] = {}
    async with client.stream("GET", sse_endpoint, timeout=STREAM_TIMEOUT) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith(":") and on_open is not None:  # the "connected" comment: we are subscribed
                await on_open()
                on_open = None
            if line.startswith("data:"):
                last = json.loads(line.removeprefix("data:").strip())
    return last


async def in_kv(js: JetStreamContext, sid: str) -> bool:
    kv = await js.key_value(subjects.SESSIONS_BUCKET)
    try:
        return (await kv.get(sid)).value is not None
    except Exception:
        return False


async def test_expiry_ends_an_open_sse_stream(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    settings = gateway_settings(nats_server.url, session_ttl_s=2, janitor_interval_s=0.2)
    async with serving_gateway(settings) as (url, _app), httpx.AsyncClient(base_url=url) as client:
        session = (await client.post("/stream/sessions", json={})).json()
        last = await final_event(client, session["sse_endpoint"])
        assert last["error_code"] == "SESSION_EXPIRED"
        assert not await in_kv(js, session["client_id"])


async def test_delete_ends_an_open_sse_stream(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (url, _app),
        httpx.AsyncClient(base_url=url) as client,
    ):
        session = (await client.post("/stream/sessions", json={})).json()
        sid = session["client_id"]

        async def delete() -> None:
            response = await client.delete(f"/stream/sessions/{sid}", headers=auth(session["token"]))
            assert response.status_code == 204

        last = await final_event(client, session["sse_endpoint"], on_open=delete)
        assert last["error_code"] == "SESSION_CLOSED"
        assert not await in_kv(js, sid)


async def test_a_deletion_by_another_replica_ends_local_streams(nats_server: EmbeddedNatsServer):
    settings = gateway_settings(nats_server.url)
    async with (
        serving_gateway(settings) as (url_a, _a),
        serving_gateway(settings.model_copy(update={"instance_id": "replica-b"})) as (url_b, _b),
        httpx.AsyncClient() as client,
    ):
        session = (await client.post(f"{url_a}/stream/sessions", json={})).json()

        async def delete_on_b() -> None:
            path = f"{url_b}/stream/sessions/{session['client_id']}"
            assert (await client.delete(path, headers=auth(session["token"]))).status_code == 204

        last = await final_event(client, url_a + session["sse_endpoint"], on_open=delete_on_b)
        assert last["error_code"] == "SESSION_CLOSED"
