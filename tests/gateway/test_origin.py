"""The Origin check against DNS rebinding: "same origin" needs a Host the gateway answers to.

A page on evil.example whose name is re-resolved to 127.0.0.1 reaches a
gateway on the user's machine with `Origin: http://evil.example:8080` and
`Host: evil.example:8080`: same host, same port, and still someone else's page.
Checked through the real app (session creation over ASGI, the WebSocket
handshake over a real socket) on a real nats-server.
"""

from __future__ import annotations

import asyncio
import base64
import os

import pytest

from gateway.origin import OriginGuard
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import gateway_settings, running_gateway, serving_gateway


async def _never(*_: object) -> None:
    raise AssertionError("not called")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("evil.example:8080", False),  # DNS rebinding: the Host header is the attacker's name
        ("evil.example.:8080", False),
        ("localhost:8080", True),
        ("app.localhost:8080", True),  # browsers resolve *.localhost to loopback themselves
        ("127.0.0.1:8080", True),
        ("[::1]:8080", True),
        ("192.168.1.20:8080", True),  # a page whose origin is an address was served from that address
        ("cam.example.org:8080", True),  # configured (public_hostnames)
        ("cv.example.com", True),  # public_base_url's host, default port
    ],
)
def test_same_origin_only_on_the_gateways_own_names(host: str, allowed: bool) -> None:
    guard = OriginGuard(_never, [], public_base_url="http://cv.example.com", hostnames=["Cam.Example.Org"])
    origin = f"http://{host}"
    assert guard.permits(origin, host, "http") is allowed


def test_other_ports_and_hosts_are_other_origins() -> None:
    guard = OriginGuard(_never, [])
    assert not guard.permits("http://localhost:9999", "localhost:8080", "http")
    assert not guard.permits("http://127.0.0.2:8080", "127.0.0.1:8080", "http")
    assert guard.permits("https://127.0.0.1", "127.0.0.1", "https")


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("evil.example:8080", "http://evil.example:8080", 403),
        ("127.0.0.1:8080", "http://127.0.0.1:8080", 201),
        ("localhost:8080", "http://localhost:8080", 201),
        ("[::1]:8080", "http://[::1]:8080", 201),
        ("cam.example.org:8080", "http://cam.example.org:8080", 201),
    ],
)
async def test_session_creation_refuses_a_rebound_name(
    nats_server: EmbeddedNatsServer, host: str, origin: str, status: int
) -> None:
    settings = gateway_settings(nats_server.url, public_hostnames="cam.example.org")
    async with running_gateway(settings) as gw:
        response = await gw.client.post("/stream/sessions", headers={"Host": host, "Origin": origin})
        assert response.status_code == status, response.text
        if status == 403:
            assert response.json()["error_code"] == "FORBIDDEN"


async def handshake_status(base: str, host: str, origin: str) -> int:
    """A raw WebSocket handshake to `/stream/detection` with the given Host and Origin: the status."""
    address, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(address, int(port))
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /stream/detection HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_websocket_handshake_refuses_a_rebound_name(nats_server: EmbeddedNatsServer) -> None:
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        port = base.rpartition(":")[2]
        assert await handshake_status(base, f"evil.example:{port}", f"http://evil.example:{port}") == 403
        assert await handshake_status(base, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}") == 101
        assert await handshake_status(base, f"localhost:{port}", f"http://localhost:{port}") == 101
