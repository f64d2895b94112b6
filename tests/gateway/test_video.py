"""`POST /stream/sessions/{id}/video` end to end without a browser.

Real nats-server, the real gateway app, the real ingest video responder
(`ingest.video.serve`) with a `VideoHub` that owns the session (a thread
plays frames into its tap, as a capture thread would), and aiortc peers as
the viewers, over 127.0.0.1 only. The lease in sw-leases is written the way
the session manager writes it, so the gateway finds the owner the real way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from ingest import video
from ingest.settings import IngestSettings
from ingest.stats import IngestStats
from ingest.webrtc.ice import use_host_addresses
from shared import subjects
from tests.support.gateway_app import Gateway, auth, gateway_settings, poll_until, running_gateway
from tests.support.video_viewer import ViewerPeer
from tests.support.webrtc_peer import wait_for_state

INSTANCE = "ingest-video-test"
CAMERA = "rtsp://127.0.0.1:8554/cam"


@dataclass
class Source:
    """What the hub needs of a running camera: the capture thread's tap."""

    tap: Any = None


@dataclass
class Ingest:
    hub: video.VideoHub
    stats: IngestStats


@pytest.fixture
async def gateway(nats_server: Any, js: JetStreamContext) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url, webrtc_offer_timeout_s=5)) as gw:
        yield gw


@pytest.fixture
async def ingest(nc: NATS, js: JetStreamContext) -> AsyncIterator[Ingest]:
    settings = IngestSettings(
        nats_url="nats://unused",
        instance_id=INSTANCE,
        webrtc_host_addresses=["127.0.0.1"],
        video_max_viewers_per_session=3,
    )
    stats = IngestStats()
    hub = video.build_hub(settings, stats)
    stop = asyncio.Event()
    task = asyncio.create_task(video.serve(nc, hub, settings, stats, stop))
    await poll_until(lambda: _answers(nc), timeout_s=10)
    yield Ingest(hub, stats)
    stop.set()
    await asyncio.wait_for(task, 15)
    use_host_addresses([])


async def _answers(nc: NATS) -> bool:
    try:
        await nc.request(subjects.ingest_video(INSTANCE), b"junk", timeout=0.5)
    except Exception:
        return False
    return True


@pytest.fixture
def camera() -> Iterator[Source]:
    """A capture thread stand-in: 25 frames a second into whatever tap is attached."""
    source = Source()
    stop = threading.Event()

    def run() -> None:
        i = 0
        while not stop.wait(0.04):
            tap = source.tap
            if tap is not None:
                tap(np.full((240, 320, 3), (i * 7) % 256, np.uint8), time.time_ns())
            i += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield source
    stop.set()
    thread.join(5)


async def lease(js: JetStreamContext, sid: str, owner: str) -> None:
    kv = await js.key_value(subjects.LEASES_BUCKET)
    await kv.put(sid, owner.encode())


async def post_offer(gateway: Gateway, session: dict[str, Any], sdp: str, token: str | None = None) -> Any:
    return await gateway.client.post(
        f"/stream/sessions/{session['client_id']}/video",
        json={"sdp": sdp, "type": "offer"},
        headers=auth(token or session["token"]),
    )


async def test_three_viewers_share_one_encoder_and_get_the_clock(
    gateway: Gateway, ingest: Ingest, camera: Source, js: JetStreamContext
) -> None:
    session = await gateway.create_session(source={"type": "rtsp", "url": CAMERA})
    sid = session["client_id"]
    ingest.hub.owned(sid, camera)
    await lease(js, sid, INSTANCE)
    viewers = [ViewerPeer() for _ in range(3)]
    try:
        for viewer in viewers:
            response = await post_offer(gateway, session, await viewer.offer())
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["instance"] == INSTANCE and "H264" in body["sdp"] and "VP8" not in body["sdp"]
            await viewer.accept(body["sdp"])
        for viewer in viewers:
            await wait_for_state(viewer.pc, {"connected"})
        await poll_until(lambda: _all_decode(viewers, 25), timeout_s=30)
        assert ingest.hub.encoders() == 1 and ingest.hub.viewer_count(sid) == 3
        counts = ingest.stats.snapshot()
        assert counts["video_encoders_started"] == 1, counts
        # one encode per frame for all three: each viewer decoded about as many frames as were encoded
        assert max(v.frames for v in viewers) <= counts["video_frames_encoded"] + 1, counts
        assert all(v.clock for v in viewers)
        assert '"type": "clock"' in viewers[0].clock[0]

        # a fourth viewer is over the per-session limit
        extra = ViewerPeer()
        refused = await post_offer(gateway, session, await extra.offer())
        await extra.pc.close()
        assert refused.status_code == 429 and refused.json()["error_code"] == "RATE_LIMITED"

        # the camera stops here (lease lost, session over): viewers are closed, the encoder stops
        ingest.hub.released(sid)
        for viewer in viewers:
            await wait_for_state(viewer.pc, {"closed", "failed", "disconnected"}, timeout_s=15)
        assert ingest.hub.encoders() == 0 and camera.tap is None
    finally:
        for viewer in viewers:
            await viewer.pc.close()


async def _all_decode(viewers: list[ViewerPeer], n: int) -> bool:
    return all(v.frames >= n for v in viewers)


async def test_last_viewer_leaving_stops_the_encoder(
    gateway: Gateway, ingest: Ingest, camera: Source, js: JetStreamContext
) -> None:
    session = await gateway.create_session(source={"type": "http", "url": "http://127.0.0.1:8080/video.mjpg"})
    sid = session["client_id"]
    ingest.hub.owned(sid, camera)
    await lease(js, sid, INSTANCE)
    viewer = ViewerPeer()
    response = await post_offer(gateway, session, await viewer.offer())
    assert response.status_code == 200, response.text
    await viewer.accept(response.json()["sdp"])
    await poll_until(lambda: _all_decode([viewer], 5), timeout_s=30)
    assert camera.tap is not None
    await viewer.pc.close()

    async def stopped() -> bool:
        return ingest.hub.encoders() == 0 and camera.tap is None

    await poll_until(stopped, timeout_s=20)


async def test_offers_that_cannot_be_served_get_coded_errors(
    gateway: Gateway, ingest: Ingest, js: JetStreamContext
) -> None:
    viewer = ViewerPeer()
    sdp = await viewer.offer()
    await viewer.pc.close()
    upload = await gateway.create_session()
    response = await post_offer(gateway, upload, sdp)
    assert response.status_code == 400 and response.json()["error_code"] == "VALIDATION_ERROR"

    camera = await gateway.create_session(source={"type": "rtsp", "url": CAMERA})
    no_lease = await post_offer(gateway, camera, sdp)
    assert no_lease.status_code == 503 and no_lease.json()["error_code"] == "WEBRTC_UNAVAILABLE"

    await lease(js, camera["client_id"], "ingest-that-died")  # nobody listens on its subject
    dead = await post_offer(gateway, camera, sdp)
    assert dead.status_code == 503 and dead.json()["error_code"] == "WEBRTC_UNAVAILABLE", dead.text

    await lease(js, camera["client_id"], INSTANCE)  # the lease says us, but the hub does not run it (stale lease)
    stale = await post_offer(gateway, camera, sdp)
    assert stale.status_code == 503 and stale.json()["error_code"] == "WEBRTC_UNAVAILABLE", stale.text

    junk = await post_offer(gateway, camera, "v=0\r\nnot an offer")
    assert junk.status_code == 400 and junk.json()["error_code"] == "INVALID_SDP"
    other = await gateway.create_session(source={"type": "rtsp", "url": CAMERA})
    forbidden = await post_offer(gateway, camera, sdp, token=other["token"])
    assert forbidden.status_code == 403
