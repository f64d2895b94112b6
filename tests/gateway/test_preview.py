"""The MJPEG preview serves the session's FRAMES traffic: the very JPEGs the models saw, with their seq."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from gateway.preview import BOUNDARY
from shared import subjects
from shared.envelopes import Frame, now_ns
from tests.support.gateway_app import auth, gateway_settings, serving_gateway
from tests.support.pipeline import jpeg_of


@pytest.fixture
async def base_url(nats_server: Any, js: JetStreamContext) -> AsyncIterator[str]:
    async with serving_gateway(gateway_settings(nats_server.url, preview_max_clients=1)) as (url, _app):
        yield url


async def create(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/stream/sessions", json={"source": {"type": "upload"}})
    assert response.status_code == 201
    return response.json()  # type: ignore[no-any-return]


async def publish(js: JetStreamContext, sid: str, seq: int, jpeg: bytes) -> None:
    frame = Frame(sid, seq, now_ns(), now_ns(), 640, 480, "test", jpeg)
    await js.publish(subjects.frames(sid), frame.to_bytes(), headers={"Nats-Msg-Id": subjects.frame_msg_id(sid, seq)})


class PartReader:
    """Reads multipart sections (each with Content-Length) from one open response, across calls.

    One `aiter_bytes()` iterator for the whole response: abandoning an httpx
    byte iterator closes the response, which the server sees as the client leaving.
    """

    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.aiter_bytes()
        self.buffer = b""

    async def read(self, n: int) -> list[tuple[dict[str, str], bytes]]:
        """The next `n` parts, or fewer if the stream ends first."""
        parts: list[tuple[dict[str, str], bytes]] = []
        while len(parts) < n:
            part = self._parse()
            if part is not None:
                parts.append(part)
                continue
            chunk = await anext(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        return parts

    def _parse(self) -> tuple[dict[str, str], bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = self.buffer[:end].decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}
        length = int(headers["content-length"])
        if len(self.buffer) < end + 4 + length:
            return None
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        return headers, body


async def test_preview_streams_the_published_jpegs_with_their_seq(
    base_url: str, js: JetStreamContext, coco_dir: Path
) -> None:
    photos = [jpeg_of(p) for p in sorted(coco_dir.glob("*.jpg"))[:3]]
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        session = await create(client)
        sid, token = session["client_id"], session["token"]
        await publish(js, sid, 100, photos[0])  # stored before the viewer came: shown first
        url = f"/stream/sessions/{sid}/preview.mjpg?token={token}"
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"

            async def feed() -> None:
                for seq, photo in ((101, photos[1]), (102, photos[2])):
                    await asyncio.sleep(0.2)  # pacing like a camera, not synchronisation: the reader waits
                    await publish(js, sid, seq, photo)

            feeder = asyncio.create_task(feed())
            parts = await asyncio.wait_for(PartReader(response).read(3), 10)
            await feeder
    assert [int(h["x-frame-seq"]) for h, _ in parts] == [100, 101, 102]
    assert [body for _, body in parts] == photos
    assert all(h["content-type"] == "image/jpeg" and int(h["x-captured-at-ns"]) > 0 for h, _ in parts)


async def test_preview_needs_the_token_and_is_capped(base_url: str, js: JetStreamContext, coco_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        session = await create(client)
        url = f"/stream/sessions/{session['client_id']}/preview.mjpg"
        assert (await client.get(url)).status_code == 401
        other = await create(client)
        assert (await client.get(url, headers=auth(other["token"]))).status_code == 403
        await publish(js, session["client_id"], 1, jpeg_of(next(coco_dir.glob("*.jpg"))))
        async with client.stream("GET", url, headers=auth(session["token"])) as first:
            assert first.status_code == 200
            reader = PartReader(first)  # kept: a collected reader would close the stream
            await asyncio.wait_for(reader.read(1), 10)
            second = await client.get(url, headers=auth(session["token"]))
            assert second.status_code == 503 and second.json()["error_code"] == "UNAVAILABLE"


async def test_preview_ends_when_the_session_is_deleted(base_url: str, js: JetStreamContext, coco_dir: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        session = await create(client)
        sid, token = session["client_id"], session["token"]
        await publish(js, sid, 1, jpeg_of(next(coco_dir.glob("*.jpg"))))
        async with client.stream("GET", f"/stream/sessions/{sid}/preview.mjpg?token={token}") as response:
            reader = PartReader(response)
            await asyncio.wait_for(reader.read(1), 10)
            assert (await client.delete(f"/stream/sessions/{sid}", headers=auth(token))).status_code == 204
            rest = await asyncio.wait_for(reader.read(99), 15)  # returns when the stream ends
    assert rest == []
