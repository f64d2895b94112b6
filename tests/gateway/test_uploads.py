"""Uploads end up on FRAMES as proper Frame envelopes, answered without waiting for inference."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from nats.js import JetStreamContext

from gateway.routes.uploads import capture_ns
from shared import subjects
from shared.envelopes import Frame
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import Gateway, gateway_settings, running_gateway


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


@pytest.fixture
def photo(coco_dir: Path) -> Path:
    return sorted(coco_dir.glob("*.jpg"))[0]


async def last_frame(js: JetStreamContext, sid: str) -> tuple[Frame, dict[str, str]]:
    msg = await js.get_last_msg(subjects.FRAMES_STREAM, subjects.frames(sid))
    assert msg.data is not None
    return Frame.from_bytes(msg.data), dict(msg.headers or {})


async def frames_stored(js: JetStreamContext, sid: str) -> int:
    info = await js.stream_info(subjects.FRAMES_STREAM, subjects_filter=subjects.frames(sid))
    return sum((info.state.subjects or {}).values())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_seed_json_upload_publishes_a_frame(gateway: Gateway, js: JetStreamContext, photo: Path):
    session = await gateway.create_session(fps_limit=15, confidence_threshold=0.6)
    jpeg = photo.read_bytes()
    now = time.time()
    response = await gateway.client.post(
        session["upload_endpoint"], json={"image_data": b64(jpeg), "frame_id": "f-1", "timestamp": now}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["frame_id"] == "f-1"
    frame, headers = await last_frame(js, session["client_id"])
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert (frame.sid, frame.seq, frame.frame_id, frame.source) == (session["client_id"], body["seq"], "f-1", "upload")
    assert (frame.height, frame.width) == image.shape[:2]
    assert frame.jpeg == jpeg
    assert frame.captured_at_ns == int(now * 1e9) or abs(frame.captured_at_ns - now * 1e9) < 1e3
    assert frame.captured_at_ns <= frame.ingested_at_ns
    assert frame.max_age_ms == session["config"]["max_frame_age_ms"]
    assert headers["Nats-Msg-Id"] == subjects.frame_msg_id(frame.sid, frame.seq)


async def test_data_url_and_raw_bodies(gateway: Gateway, js: JetStreamContext, photo: Path):
    session = await gateway.create_session()
    jpeg = photo.read_bytes()
    data_url = await gateway.client.post(
        session["upload_endpoint"], json={"image_data": "data:image/jpeg;base64," + b64(jpeg), "frame_id": 7}
    )
    assert data_url.status_code == 202 and data_url.json()["frame_id"] == "7"
    raw = await gateway.client.post(
        session["upload_endpoint"] + "&frame_id=raw-1", content=jpeg, headers={"Content-Type": "image/jpeg"}
    )
    assert raw.status_code == 202
    frame, _ = await last_frame(js, session["client_id"])
    assert frame.frame_id == "raw-1" and frame.jpeg == jpeg
    assert raw.json()["seq"] > data_url.json()["seq"]


async def test_png_is_reencoded_as_jpeg(gateway: Gateway, js: JetStreamContext, photo: Path):
    image = cv2.imread(str(photo))
    ok, png = cv2.imencode(".png", image)
    assert ok
    session = await gateway.create_session()
    response = await gateway.client.post(session["upload_endpoint"], json={"image_data": b64(png.tobytes())})
    assert response.status_code == 202, response.text
    frame, _ = await last_frame(js, session["client_id"])
    assert frame.jpeg.startswith(b"\xff\xd8")
    decoded = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape == (frame.height, frame.width, 3)


async def test_seq_increases_and_implausible_client_clock_is_replaced(
    gateway: Gateway, js: JetStreamContext, photo: Path
):
    session = await gateway.create_session()
    jpeg = b64(photo.read_bytes())
    seqs = []
    for ts in (time.time() + 3600, 1.0, None):
        before = time.time_ns()
        response = await gateway.client.post(session["upload_endpoint"], json={"image_data": jpeg, "timestamp": ts})
        seqs.append(response.json()["seq"])
        frame, _ = await last_frame(js, session["client_id"])
        assert frame.captured_at_ns >= before  # the receive time, not the client's claim
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


async def test_depth_flag_follows_config_and_depth_fps(gateway: Gateway, js: JetStreamContext, photo: Path):
    jpeg = b64(photo.read_bytes())
    off = await gateway.create_session(enable_depth=False)
    await gateway.client.post(off["upload_endpoint"], json={"image_data": jpeg})
    assert (await last_frame(js, off["client_id"]))[0].depth is False
    slow = await gateway.create_session(enable_depth=True, depth_fps=0.01)
    flags = []
    for _ in range(3):
        assert (await gateway.client.post(slow["upload_endpoint"], json={"image_data": jpeg})).status_code == 202
        flags.append((await last_frame(js, slow["client_id"]))[0].depth)
    assert flags == [True, False, False]


async def test_depth_is_sampled_on_the_clients_capture_time(gateway: Gateway, js: JetStreamContext, photo: Path):
    """Like every source's: depth_fps frames a second of the scene, however fast the uploads came in."""
    session = await gateway.create_session(enable_depth=True, depth_fps=1, max_frame_age_ms=10_000)
    jpeg = b64(photo.read_bytes())
    start = time.time() - 3
    flags = []
    for offset in (0.0, 0.5, 1.0, 1.5):
        body = {"image_data": jpeg, "timestamp": start + offset}
        assert (await gateway.client.post(session["upload_endpoint"], json=body)).status_code == 202
        flags.append((await last_frame(js, session["client_id"]))[0].depth)
    assert flags == [True, False, True, False]


async def test_rate_cap_per_session(nats_server: EmbeddedNatsServer, js: JetStreamContext, photo: Path):
    settings = gateway_settings(nats_server.url, upload_rate_per_s=0.01, upload_burst=2)
    async with running_gateway(settings) as gw:
        limited = await gw.create_session()
        other = await gw.create_session()
        body = {"image_data": b64(photo.read_bytes())}
        statuses = [(await gw.client.post(limited["upload_endpoint"], json=body)).status_code for _ in range(4)]
        assert statuses == [202, 202, 429, 429]
        refused = await gw.client.post(limited["upload_endpoint"], json=body)
        assert refused.json()["error_code"] == "RATE_LIMITED"
        assert int(refused.headers["Retry-After"]) >= 90  # the next token at 0.01/s is about 100 s away
        assert (await gw.client.post(other["upload_endpoint"], json=body)).status_code == 202
        assert await frames_stored(js, limited["client_id"]) == 2
        stats = (await gw.client.get("/stream/stats")).json()
        assert stats["uploads"]["RATE_LIMITED"] == 3
        assert stats["frames"]["dropped"]["gateway"]["rate_limited"] == 3
        session_stats = await gw.client.get(limited["stats_endpoint"])
        assert session_stats.json()["uploads"] == {"accepted": 2, "RATE_LIMITED": 3}


async def test_uploads_to_a_camera_session_are_refused(gateway: Gateway, photo: Path):
    session = await gateway.create_session(source={"type": "rtsp", "url": "rtsp://127.0.0.1:8554/cam"})
    response = await gateway.client.post(session["upload_endpoint"], json={"image_data": b64(photo.read_bytes())})
    assert response.status_code == 409
    assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_patch_applies_to_the_next_upload(gateway: Gateway, js: JetStreamContext, photo: Path):
    session = await gateway.create_session(enable_depth=True, depth_fps=30)
    body = {"image_data": b64(photo.read_bytes())}
    await gateway.client.post(session["upload_endpoint"], json=body)
    assert (await last_frame(js, session["client_id"]))[0].depth is True
    patch = await gateway.client.patch(
        f"/stream/sessions/{session['client_id']}/config",
        json={"enable_depth": False, "max_frame_age_ms": 500},
        headers={"Authorization": f"Bearer {session['token']}"},
    )
    assert patch.status_code == 200
    await gateway.client.post(session["upload_endpoint"], json=body)
    frame, _ = await last_frame(js, session["client_id"])
    assert (frame.depth, frame.max_age_ms) == (False, 500)


@pytest.mark.parametrize("timestamp", [1.7e308, 1e200, -1.0, 0.0])
def test_absurd_client_timestamps_are_ignored_not_a_500(timestamp: float):
    """Regression (found by the schemathesis fuzz): 1.7e308 s overflowed int() -> 500."""
    assert capture_ns(timestamp) is None


def test_seconds_and_milliseconds_are_both_understood():
    assert capture_ns(1_700_000_000.5) == 1_700_000_000_500_000_000
    assert capture_ns(1_700_000_000_500.0) == 1_700_000_000_500_000_000
