"""Authorization table: every session-scoped endpoint needs that session's token.

Missing token -> 401 UNAUTHORIZED; wrong token -> 403 FORBIDDEN; the token of
session A presented on session B -> 403 FORBIDDEN (B exists, the token is not
B's: we answer 403 rather than 404 because session ids are unguessable and
the caller already knows B's id, so nothing is revealed); an unknown session
-> 404 NOT_FOUND whatever the token. WebSocket handshakes are refused with
the same HTTP status before the socket is accepted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import auth, gateway_settings, serving_gateway

HTTP_ENDPOINTS = [
    ("GET", "/stream/events/{sid}"),
    ("POST", "/stream/process/{sid}"),
    ("GET", "/stream/sessions/{sid}/stats"),
    ("PATCH", "/stream/sessions/{sid}/config"),
    ("DELETE", "/stream/sessions/{sid}"),
    ("POST", "/stream/sessions/{sid}/webrtc"),
]
WS_ENDPOINTS = ["/stream/sessions/{sid}/ws"]


@pytest.fixture
async def base(nats_server: EmbeddedNatsServer) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (url, _app),
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield url, client


async def two_sessions(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    a = (await client.post("/stream/sessions", json={})).json()
    b = (await client.post("/stream/sessions", json={})).json()
    return a, b


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """One request; SSE answers are not read beyond the status line."""
    request = client.build_request(method, path, headers=headers, json={} if method in ("POST", "PATCH") else None)
    response = await client.send(request, stream=True)
    await response.aclose()
    return response


async def error_code(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    request = client.build_request(method, path, headers=headers, json={} if method in ("POST", "PATCH") else None)
    response = await client.send(request, stream=True)
    try:
        if response.status_code >= 400:
            await response.aread()
            return response.status_code, response.json()["error_code"]
        return response.status_code, ""
    finally:
        await response.aclose()


@pytest.mark.parametrize(("method", "template"), HTTP_ENDPOINTS)
async def test_http_endpoint_authorization(base: tuple[str, httpx.AsyncClient], method: str, template: str):
    _url, client = base
    a, b = await two_sessions(client)
    path_b = template.format(sid=b["client_id"])
    assert await error_code(client, method, path_b, {}) == (401, "UNAUTHORIZED")
    assert await error_code(client, method, path_b, auth("not-the-token")) == (403, "FORBIDDEN")
    assert await error_code(client, method, path_b, auth(a["token"])) == (403, "FORBIDDEN")
    assert await error_code(client, method, path_b + f"?token={a['token']}", {}) == (403, "FORBIDDEN")
    unknown = template.format(sid="no-such-session")
    assert await error_code(client, method, unknown, auth(a["token"])) == (404, "NOT_FOUND")
    # B's own token opens it (any status but an auth refusal), and A's refusal changed nothing
    status, _ = await error_code(client, method, path_b, auth(b["token"]))
    assert status not in (401, 403, 404)


async def test_token_of_a_cannot_change_or_delete_b(base: tuple[str, httpx.AsyncClient]):
    _url, client = base
    a, b = await two_sessions(client)
    sid_b = b["client_id"]
    patch = await client.patch(f"/stream/sessions/{sid_b}/config", json={"fps_limit": 1}, headers=auth(a["token"]))
    delete = await client.delete(f"/stream/sessions/{sid_b}", headers=auth(a["token"]))
    assert (patch.status_code, delete.status_code) == (403, 403)
    stats = await client.get(f"/stream/sessions/{sid_b}/stats", headers=auth(b["token"]))
    assert stats.status_code == 200 and stats.json()["config"]["fps_limit"] == 10


def ws_url(base_url: str, path: str) -> str:
    return "ws" + base_url.removeprefix("http") + path


async def ws_refusal(url: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers=headers, open_timeout=10):
            pass
    return refused.value.response.status_code


@pytest.mark.parametrize("template", WS_ENDPOINTS)
async def test_websocket_endpoint_authorization(base: tuple[str, httpx.AsyncClient], template: str):
    url, client = base
    a, b = await two_sessions(client)
    target = ws_url(url, template.format(sid=b["client_id"]))
    assert await ws_refusal(target) == 401
    assert await ws_refusal(target + "?token=wrong") == 403
    assert await ws_refusal(target + f"?token={a['token']}") == 403
    assert await ws_refusal(target, auth(a["token"])) == 403
    assert await ws_refusal(ws_url(url, template.format(sid="no-such-session")) + f"?token={a['token']}") == 404
    async with websockets.connect(target + f"?token={b['token']}", open_timeout=10):
        pass
