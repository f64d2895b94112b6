"""Regression tests for the holes of issue 13, against a real gateway on a real nats-server.

SSRF spellings through the API, the PNG bomb, request bodies over the cap
(declared and streamed), session-creation floods (per address, per API key),
over-long class names, and cross-origin session creation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from shared.images import InvalidImage, inspect
from shared.natsserver import EmbeddedNatsServer
from tests.faults.bombs import png_bomb
from tests.support.gateway_app import Gateway, auth, gateway_settings, running_gateway, serving_gateway


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


def client_at(gw: Gateway, address: str) -> httpx.AsyncClient:
    """A client of the same app that connects from `address` (the limiter keys on it)."""
    transport = httpx.ASGITransport(app=gw.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=10)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "rtsp://[::ffff:a9fe:a9fe]/cam",
        "http://169.254.169.254.:80/",
        "http://metadata.google.internal./computeMetadata/v1/",
        "http://0xa9fea9fe/",
        "http://2852039166/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "rtsp://camera.invalid/live",  # does not resolve (the .invalid TLD never does)
    ],
)
async def test_ssrf_spellings_are_refused(gateway: Gateway, url: str) -> None:
    kind = "rtsp" if url.startswith("rtsp") else "http"
    response = await gateway.client.post("/stream/sessions", json={"source": {"type": kind, "url": url}})
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "INVALID_SOURCE_URL"


async def test_loopback_camera_url_still_accepted(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/stream/sessions", json={"source": {"type": "rtsp", "url": "rtsp://127.0.0.1:8554/cam?password=x"}}
    )
    assert response.status_code == 201, response.text
    assert response.json()["source"]["url"] == "rtsp://127.0.0.1:8554/cam?password=***"


@pytest.mark.parametrize(
    ("size", "bits", "color"),
    [
        (8192, 16, 6),  # the bomb: ~520 KB, 67 MP, 512 MB decoded
        (4096, 16, 6),  # within 40 MP but 134 MB decoded: over the decoded-size bound
    ],
)
async def test_png_bomb_refused_before_decoding(gateway: Gateway, size: int, bits: int, color: int) -> None:
    bomb = png_bomb(size, size, bits, color)
    assert len(bomb) < 1_000_000
    session = await gateway.create_session()
    response = await gateway.client.post(
        session["upload_endpoint"], content=bomb, headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "INVALID_IMAGE"
    assert "limit" in response.json()["error"]
    assert gateway.runtime.intake.upload_counters(session["client_id"]).get("INVALID_IMAGE") == 1


def test_png_header_bounds_follow_bit_depth() -> None:
    small = png_bomb(64, 64, 16, 6)
    info = inspect(small, max_pixels=64 * 64 * 3)
    assert (info.width, info.height, info.bytes_per_pixel) == (64, 64, 8.0)
    with pytest.raises(InvalidImage, match="decode to"):
        inspect(small, max_pixels=64 * 64 * 2)  # 32 KB decoded > 24 KB (8192 px x 3)
    assert inspect(png_bomb(64, 64, 8, 2), max_pixels=64 * 64).bytes_per_pixel == 3.0


async def test_declared_oversized_body_is_413_unread(gateway: Gateway) -> None:
    body = b"{" + b" " * (300 * 1024) + b"}"
    response = await gateway.client.post("/stream/sessions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"


async def test_streamed_oversized_body_is_413(gateway: Gateway) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"classes": ["'
        for _ in range(10_000):  # up to 640 MB if nobody stops reading
            sent += 65536
            yield b"a" * 65536

    response = await gateway.client.post(
        "/stream/sessions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert sent < 1024 * 1024  # refused at the cap, not after reading it all


async def test_upload_route_keeps_its_own_larger_cap(gateway: Gateway) -> None:
    session = await gateway.create_session()
    body = b"\xff\xd8" + b"\x00" * (1024 * 1024)  # 1 MB: over max_request_bytes, under the upload cap
    response = await gateway.client.post(
        session["upload_endpoint"], content=body, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 422, response.text  # read and judged as an image, not refused as a body


async def test_class_names_are_bounded(gateway: Gateway) -> None:
    response = await gateway.client.post("/stream/sessions", json={"classes": ["x" * 65]})
    assert response.status_code == 422, response.text
    session = await gateway.create_session(classes=["person", "x" * 64])
    patch = await gateway.client.patch(
        f"/stream/sessions/{session['client_id']}/config",
        json={"classes": ["y" * 1000]},
        headers=auth(session["token"]),
    )
    assert patch.status_code == 422, patch.text


async def test_session_flood_from_one_address_gets_429(nats_server: EmbeddedNatsServer) -> None:
    settings = gateway_settings(nats_server.url, sessions_per_address_per_min=12)  # burst of 2
    async with (
        running_gateway(settings) as gw,
        client_at(gw, "198.51.100.7") as flooder,
        client_at(gw, "198.51.100.8") as other,
    ):
        codes = [(await flooder.post("/stream/sessions")).status_code for _ in range(2)]
        refused = await flooder.post("/stream/sessions")
        assert codes == [201, 201]
        assert refused.status_code == 429, refused.text
        assert refused.json()["error_code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 5
        assert (await other.post("/stream/sessions")).status_code == 201  # another client is unaffected


async def test_session_flood_per_api_key_and_in_total(nats_server: EmbeddedNatsServer) -> None:
    settings = gateway_settings(
        nats_server.url, api_key="k3y", sessions_per_api_key_per_min=6, sessions_total_per_min=600
    )
    async with running_gateway(settings) as gw:
        headers: dict[str, Any] = {"X-API-Key": "k3y"}
        async with client_at(gw, "198.51.100.1") as a, client_at(gw, "198.51.100.2") as b:
            assert (await a.post("/stream/sessions", headers=headers)).status_code == 201
            refused = await b.post("/stream/sessions", headers=headers)  # other address, same key
            assert refused.status_code == 429 and "API key" in refused.json()["error"]
            assert int(refused.headers["Retry-After"]) >= 1
    total = gateway_settings(nats_server.url, sessions_total_per_min=6)
    async with running_gateway(total) as gw, client_at(gw, "198.51.100.3") as a, client_at(gw, "198.51.100.4") as b:
        assert (await a.post("/stream/sessions")).status_code == 201
        assert (await b.post("/stream/sessions")).status_code == 429


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://evil.example", 403),
        ("null", 403),
        ("http://gateway.test", 201),  # same origin, on a name the gateway answers to
        ("http://gateway.test:80", 201),
        ("https://app.example.com", 201),  # in the CORS allow-list
        (None, 201),  # not a browser
    ],
)
async def test_session_creation_checks_origin(nats_server: EmbeddedNatsServer, origin: str | None, status: int) -> None:
    """The test client's Host is `gateway.test`: configured, as same origin is only trusted on the
    gateway's own names (DNS rebinding: tests/gateway/test_origin.py)."""
    allow_list, own_name = "https://app.example.com", "gateway.test"
    settings = gateway_settings(nats_server.url, cors_origins=allow_list, public_hostnames=own_name)
    async with running_gateway(settings) as gw:
        headers = {"Origin": origin} if origin else {}
        response = await gw.client.post("/stream/sessions", headers=headers)
        assert response.status_code == status, response.text
        if status == 403:
            assert response.json()["error_code"] == "FORBIDDEN"


async def test_websockets_check_origin(nats_server: EmbeddedNatsServer) -> None:
    """A page on another origin cannot drive `WS /stream/detection`; the gateway's own page can."""
    settings = gateway_settings(nats_server.url)
    async with serving_gateway(settings) as (base, _app):
        url = "ws" + base.removeprefix("http") + "/stream/detection"
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, origin=Origin("https://evil.example"), open_timeout=10):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(url, origin=Origin(base), open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert ws.state.name == "OPEN"
