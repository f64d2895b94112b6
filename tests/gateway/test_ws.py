"""Both WebSocket endpoints over a real socket: results out, frames and config in, bad input survived."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import websockets
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import now_ns
from shared.natsserver import EmbeddedNatsServer
from tests.support import scene
from tests.support.gateway_app import gateway_settings, poll_until, serving_gateway
from tests.support.pipeline import jpeg_of, start_workers
from tests.support.procs import ComponentRunner
from tests.support.scene_stage import scene_stage

PHOTO = "000000000139.jpg"  # person, chairs, TV


def ws_url(base: str, path: str) -> str:
    return "ws" + base.removeprefix("http") + path


async def create(base: str, **body: Any) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        response = await client.post("/stream/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["client_id"], response.json()["token"]


async def receive_json(ws: websockets.ClientConnection, timeout: float = 30) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))  # type: ignore[no-any-return]


async def receive_type(ws: websockets.ClientConnection, kind: str, timeout: float = 30) -> dict[str, Any]:
    """The next message of one type (results of earlier frames may come first)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await receive_json(ws, timeout)
            if message["type"] == kind:
                return message


def frame(jpeg: bytes, frame_id: str) -> str:
    image = base64.b64encode(jpeg).decode()
    return json.dumps({"type": "frame", "image_data": image, "frame_id": frame_id, "timestamp": now_ns() / 1e9})


async def result_for(ws: websockets.ClientConnection, frame_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            message = await receive_json(ws)
            if message["type"] == "detection_result" and message["data"]["frame_id"] == frame_id:
                return message["data"]  # type: ignore[no-any-return]


async def test_session_socket_frames_in_results_out_config_applied(
    nats_server: EmbeddedNatsServer, nc: NATS, components: ComponentRunner, coco_dir: Path
):
    await start_workers(components, nc, ("detector",))
    jpeg = jpeg_of(coco_dir / PHOTO)
    async with scene_stage(nc), serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        sid, token = await create(base, confidence_threshold=0.5, enable_depth=False)
        async with websockets.connect(ws_url(base, f"/stream/sessions/{sid}/ws?token={token}")) as ws:
            await ws.send(frame(jpeg, "a1"))
            first = await result_for(ws, "a1")
            await ws.send(json.dumps({"type": "config_update", "config": {"classes": ["chair"]}}))
            ack = await receive_type(ws, "config_updated")
            await ws.send(frame(jpeg, "a2"))
            second = await result_for(ws, "a2")
    assert "person" in {d["label"] for d in first["detections"]}
    assert first["width"] == 640 and first["height"] == 480 and first["latency_ms"] > 0
    assert ack["config"]["classes"] == ["chair"]
    assert second["detections"] and {d["label"] for d in second["detections"]} == {"chair"}
    assert second["seq"] > first["seq"]


async def test_msgpack_format_and_a_bearer_header(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, app):
        sid, token = await create(base)
        url = ws_url(base, f"/stream/sessions/{sid}/ws?format=msgpack")
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await poll_until(lambda: _clients(app, sid))
            body = scene.result(3, [scene.person(2)])
            await scene.publish_scene(js, sid, 3, body)
            raw = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(raw, bytes)
    message = msgpack.unpackb(raw)
    assert message == json.loads(body)  # the SCENE message, re-encoded as msgpack
    assert message["data"]["detections"][0]["bbox"] == [160.0, 120.0, 320.0, 360.0]


async def _clients(app: Any, sid: str) -> bool:
    return bool(app.state.runtime.hubs.session_stats(sid)["clients"] == 1)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "VALIDATION_ERROR"),
        ("[1, 2]", "VALIDATION_ERROR"),
        ('{"type": "teleport"}', "VALIDATION_ERROR"),
        ('{"type": "frame"}', "VALIDATION_ERROR"),
        ('{"type": "frame", "image_data": "***not base64***", "frame_id": "b1"}', "INVALID_IMAGE"),
        ('{"type": "frame", "image_data": "aGVsbG8gd29ybGQ=", "frame_id": "b2"}', "INVALID_IMAGE"),
        ('{"type": "config_update", "config": {"fps_limit": 31}}', "VALIDATION_ERROR"),
        ('{"type": "config_update", "config": {"fps_limit": 0}}', "VALIDATION_ERROR"),
        ('{"type": "config_update", "config": {"warp": 9}}', "VALIDATION_ERROR"),
        ("[" * 100_000, "VALIDATION_ERROR"),
    ],
)
async def test_bad_messages_get_a_code_and_the_socket_stays_open(
    nats_server: EmbeddedNatsServer, js: JetStreamContext, message: str, code: str
):
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        sid, token = await create(base)
        async with websockets.connect(ws_url(base, f"/stream/sessions/{sid}/ws?token={token}")) as ws:
            await ws.send(message)
            error = await receive_json(ws)
            await ws.send(json.dumps({"type": "config_update", "config": {"fps_limit": 5}}))
            ack = await receive_json(ws)
    assert error["type"] == "error" and error["error_code"] == code, error
    assert set(error) == {"type", "error", "error_code", "frame_id", "timestamp"}
    if '"frame_id": "b' in message:
        assert error["frame_id"] in ("b1", "b2")
    assert ack["type"] == "config_updated" and ack["config"]["fps_limit"] == 5


async def test_socket_needs_the_session_token(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        sid, _token = await create(base)
        _other, other_token = await create(base)
        for query in ("", f"?token={other_token}"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(ws_url(base, f"/stream/sessions/{sid}/ws{query}")):
                    pass
            assert refused.value.response.status_code in (401, 403)


async def test_seed_detection_endpoint_runs_an_implicit_session(
    nats_server: EmbeddedNatsServer, nc: NATS, js: JetStreamContext, components: ComponentRunner, coco_dir: Path
):
    await start_workers(components, nc, ("detector",))
    jpeg = jpeg_of(coco_dir / PHOTO)
    async with scene_stage(nc), serving_gateway(gateway_settings(nats_server.url)) as (base, app):
        async with websockets.connect(ws_url(base, "/stream/detection?fps_limit=10")) as ws:
            await ws.send("{broken")
            error = await receive_json(ws)
            await ws.send(frame(jpeg, "d1"))
            data = await result_for(ws, "d1")
            (sid,) = list(app.state.runtime.directory.records)
            assert app.state.runtime.directory.records[sid].config.fps_limit == 10

        async def session_gone() -> bool:
            kv = await js.key_value(subjects.SESSIONS_BUCKET)
            try:
                return not await kv.keys()
            except Exception:  # nats-py raises NoKeysError on an empty bucket
                return True

        await poll_until(session_gone)
    assert error["error_code"] == "VALIDATION_ERROR"
    assert "person" in {d["label"] for d in data["detections"]}


async def test_detection_endpoint_refuses_a_bad_fps_limit_with_a_code(nats_server: EmbeddedNatsServer, js: Any):
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, _app),
        websockets.connect(ws_url(base, "/stream/detection?fps_limit=31")) as ws,
    ):
        error = await receive_json(ws)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert error["error_code"] == "VALIDATION_ERROR"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_reader_that_stops_reading_does_not_hold_back_others(
    nats_server: EmbeddedNatsServer, js: JetStreamContext
):
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, app):
        sid, token = await create(base, fps_limit=30)
        url = ws_url(base, f"/stream/sessions/{sid}/ws?token={token}")
        stalling = websockets.connect(url, max_queue=1, close_timeout=0.5)
        async with stalling as stalled, websockets.connect(url) as reader:
            await poll_until(lambda: _n_clients(app, sid, 2))
            people = [scene.person(i, x=6.4 * i) for i in range(50)]
            for seq in range(1, 301):
                await scene.publish_scene(js, sid, seq, scene.result(seq, people))
            last = 0
            async with asyncio.timeout(20):
                while last != 300:
                    last = (await receive_json(reader))["data"]["seq"]
            stats = app.state.runtime.hubs.session_stats(sid)
            assert stalled.state is websockets.protocol.State.OPEN
    assert stats["results"] == 300 and stats["skipped"] > 0


async def _n_clients(app: Any, sid: str, n: int) -> bool:
    return bool(app.state.runtime.hubs.session_stats(sid)["clients"] == n)
