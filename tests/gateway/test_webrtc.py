"""WebRTC signalling through the gateway: auth, cheap SDP checks, the NATS relay, ICE config.

The relay test runs the real ingest responder (`ingest.webrtc.serve`) on the
same nats-server and a real aiortc peer as the browser, over 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from ingest.stats import IngestStats
from ingest.webrtc import serve
from ingest.webrtc.ice import use_host_addresses
from shared import subjects
from tests.support.gateway_app import Gateway, auth, gateway_settings, poll_until, running_gateway
from tests.support.webrtc_peer import PhotoTrack, RtcSettings, accept_answer, load_photos, offer_for, wait_for_state

CHROME_OFFER = (Path(__file__).parent / "data" / "chrome_offer.sdp").read_text()
ICE = [
    {"urls": ["stun:stun.example.org:3478"]},
    {"urls": "turn:turn.example.org:3478", "username": "static", "credential": "static-pass"},
]


@pytest.fixture
async def gateway(nats_server: Any, js: JetStreamContext) -> AsyncIterator[Gateway]:
    settings = gateway_settings(
        nats_server.url, webrtc_ice_servers=ICE, webrtc_turn_secret="s3cret", webrtc_offer_timeout_s=3
    )
    async with running_gateway(settings) as gw:
        yield gw


@pytest.fixture
async def ingest(nc: NATS, js: JetStreamContext) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(nc, js, RtcSettings(), IngestStats(), stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 15)
    use_host_addresses([])


def offer_path(session: dict[str, Any]) -> str:
    return f"/stream/sessions/{session['client_id']}/webrtc"


async def test_offer_is_relayed_to_ingest_and_frames_flow(
    gateway: Gateway, ingest: None, nc: NATS, coco_dir: Path
) -> None:
    session = await gateway.create_session(source={"type": "webrtc"}, fps_limit=10)
    frames: list[bytes] = []

    async def on_frame(msg: Any) -> None:
        frames.append(msg.data)

    await nc.subscribe(subjects.frames(session["client_id"]), cb=on_frame)
    pc, offer = await offer_for(PhotoTrack(load_photos(sorted(coco_dir.glob("*.jpg"))[:1])))
    try:
        response = await gateway.client.post(
            offer_path(session), json={"sdp": offer, "type": "offer"}, headers=auth(session["token"])
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["type"] == "answer" and body["sdp"].startswith("v=0")
        assert [s["urls"] for s in body["ice_servers"]] == [
            ["stun:stun.example.org:3478"],
            ["turn:turn.example.org:3478"],
        ]
        await accept_answer(pc, body["sdp"])
        await wait_for_state(pc, {"connected"})
        await poll_until(lambda: _nonempty(frames), timeout_s=20)
    finally:
        await pc.close()


async def _nonempty(items: list[bytes]) -> bool:
    return bool(items)


async def test_no_ingest_is_503_webrtc_unavailable(gateway: Gateway) -> None:
    session = await gateway.create_session(source={"type": "webrtc"})
    response = await gateway.client.post(
        offer_path(session), json={"sdp": CHROME_OFFER, "type": "offer"}, headers=auth(session["token"])
    )
    assert response.status_code == 503
    assert response.json()["error_code"] == "WEBRTC_UNAVAILABLE"


async def test_silent_ingest_is_504_webrtc_unavailable(gateway: Gateway, nc: NATS) -> None:
    await nc.subscribe(subjects.WEBRTC_SUBJECT, queue=subjects.WEBRTC_QUEUE, cb=_ignore)
    session = await gateway.create_session(source={"type": "webrtc"})
    response = await gateway.client.post(
        offer_path(session), json={"sdp": CHROME_OFFER, "type": "offer"}, headers=auth(session["token"])
    )
    assert response.status_code == 504
    assert response.json()["error_code"] == "WEBRTC_UNAVAILABLE"


async def _ignore(msg: Any) -> None:
    return None


HOSTILE = [
    ("not json at all", "INVALID_SDP"),
    ('{"sdp": 5}', "INVALID_SDP"),
    ('{"type": "offer"}', "INVALID_SDP"),
    ('{"sdp": "v=0\\r\\n", "type": "answer"}', "INVALID_SDP"),
    ('{"sdp": "hello", "type": "offer"}', "INVALID_SDP"),
    ('{"sdp": "v=0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\n", "type": "offer"}', "INVALID_SDP"),
    ('{"sdp": "v=0\\r\\n\\u0000\\u0001binary", "type": "offer"}', "INVALID_SDP"),
    ('{"sdp": "' + "v=0\\r\\n" + "a=x\\r\\n" * 20_000 + '", "type": "offer"}', "INVALID_SDP"),
    ('{"sdp": "' + "A" * 300_000 + '", "type": "offer"}', "PAYLOAD_TOO_LARGE"),  # over the body cap: 413
    ("\xff\xfe\x00", "INVALID_SDP"),
]


@pytest.mark.parametrize(("body", "code"), HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_offers_are_400_invalid_sdp(gateway: Gateway, body: str, code: str) -> None:
    session = await gateway.create_session(source={"type": "webrtc"})
    response = await gateway.client.post(
        offer_path(session),
        content=body.encode("utf-8", "surrogateescape"),
        headers={**auth(session["token"]), "Content-Type": "application/json"},
    )
    assert response.status_code == (413 if code == "PAYLOAD_TOO_LARGE" else 400), response.text
    assert response.json()["error_code"] == code


async def test_missing_video_credentials_are_refused(gateway: Gateway) -> None:
    session = await gateway.create_session(source={"type": "webrtc"})
    no_ice = "\n".join(line for line in CHROME_OFFER.splitlines() if not line.startswith("a=ice-ufrag"))
    response = await gateway.client.post(
        offer_path(session), json={"sdp": no_ice, "type": "offer"}, headers=auth(session["token"])
    )
    assert response.status_code == 400 and "ice-ufrag" in response.json()["error"]


async def test_offer_needs_the_sessions_token_and_a_webrtc_capable_source(gateway: Gateway) -> None:
    a = await gateway.create_session(source={"type": "webrtc"})
    b = await gateway.create_session(source={"type": "webrtc"})
    body = {"sdp": CHROME_OFFER, "type": "offer"}
    assert (await gateway.client.post(offer_path(a), json=body)).status_code == 401
    assert (await gateway.client.post(offer_path(a), json=body, headers=auth(b["token"]))).status_code == 403
    camera = await gateway.create_session(source={"type": "http", "url": "http://127.0.0.1:9/video.mjpg"})
    response = await gateway.client.post(offer_path(camera), json=body, headers=auth(camera["token"]))
    assert response.status_code == 400 and response.json()["error_code"] == "VALIDATION_ERROR"


async def test_ice_config_gives_minted_turn_credentials_to_the_session_holder(gateway: Gateway) -> None:
    session = await gateway.create_session(source={"type": "webrtc"})
    assert (await gateway.client.get(offer_path(session))).status_code == 401
    response = await gateway.client.get(offer_path(session), headers=auth(session["token"]))
    assert response.status_code == 200
    stun, turn = response.json()["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    expiry, sid = turn["username"].split(":")
    assert sid == session["client_id"] and int(expiry) > 0
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert response.json()["offer_endpoint"] == offer_path(session)
