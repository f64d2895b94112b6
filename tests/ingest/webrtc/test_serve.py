"""WebRTC ingest end to end without a browser: aiortc sends photos, frames land on FRAMES.

Real nats-server, the real `serve()` with its NATS request/reply and session
watch, a real peer connection over 127.0.0.1 (host addresses pinned by the
setting, no ICE servers): nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from ingest.stats import IngestStats
from ingest.webrtc import serve
from ingest.webrtc.ice import use_host_addresses
from shared import subjects
from shared.envelopes import Frame
from shared.sessions import SessionConfig, SessionRecord, SessionStore, SourceSpec
from shared.webrtc import WebRtcAnswer, WebRtcOffer
from tests.support.gateway_app import poll_until
from tests.support.webrtc_peer import PhotoTrack, RtcSettings, accept_answer, load_photos, offer_for, wait_for_state


@pytest.fixture
async def ingest(request: pytest.FixtureRequest, nc: NATS, js: JetStreamContext) -> AsyncIterator[RtcSettings]:
    settings: RtcSettings = getattr(request, "param", RtcSettings())  # tests may pass their own (indirect)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(nc, js, settings, IngestStats(), stop))
    await poll_until(lambda: _has_responder(nc), timeout_s=10)
    yield settings
    stop.set()
    try:
        await asyncio.wait_for(task, 15)
    finally:
        use_host_addresses([])  # process-wide aioice state: never leak it into the next test


async def _has_responder(nc: NATS) -> bool:
    with contextlib.suppress(Exception):
        await nc.request(subjects.WEBRTC_SUBJECT, b"ping", timeout=0.5)
        return True
    return False


@pytest.fixture
async def store(js: JetStreamContext) -> SessionStore:
    return SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))


async def new_session(store: SessionStore, sid: str, **config: Any) -> SessionRecord:
    record = SessionRecord(sid=sid, token_hash="x", source=SourceSpec(type="webrtc"), config=SessionConfig(**config))
    await store.create(record)
    return record


async def ask(nc: NATS, sid: str, sdp: str) -> WebRtcAnswer:
    reply = await nc.request(subjects.WEBRTC_SUBJECT, WebRtcOffer(sid=sid, sdp=sdp).to_bytes(), timeout=15)
    return WebRtcAnswer.from_bytes(reply.data)


async def test_camera_frames_reach_frames_stream_sampled(
    nc: NATS, store: SessionStore, ingest: RtcSettings, coco_dir: Path
) -> None:
    await new_session(store, "cam1", fps_limit=5, depth_fps=1.0)
    got: list[tuple[Msg, Frame]] = []

    async def on_frame(msg: Msg) -> None:
        got.append((msg, Frame.from_bytes(msg.data)))

    await nc.subscribe(subjects.frames("cam1"), cb=on_frame)
    pc, offer = await offer_for(PhotoTrack(load_photos(sorted(coco_dir.glob("*.jpg"))[:2])))
    try:
        answer = await ask(nc, "cam1", offer)
        assert answer.ok and answer.type == "answer" and answer.instance == "ingest-test"
        assert "127.0.0.1" in answer.sdp
        await accept_answer(pc, answer.sdp)
        await poll_until(lambda: _at_least(got, 11), timeout_s=30)
    finally:
        await pc.close()

    frames = [f for _, f in got]
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs)), "seq strictly increasing"
    for msg, f in got:
        assert msg.headers and msg.headers["Nats-Msg-Id"] == subjects.frame_msg_id("cam1", f.seq)
        assert f.source == "webrtc" and (f.width, f.height) == (640, 480)
        assert f.captured_at_ns <= f.ingested_at_ns
        assert f.max_age_ms == SessionConfig().max_frame_age_ms
    image = cv2.imdecode(np.frombuffer(frames[-1].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    gaps = np.diff([f.captured_at_ns for f in frames]) / 1e9
    assert gaps.min() >= 0.5 / 5 and gaps.mean() >= 0.9 / 5, f"sampled to 5 fps of capture time: {gaps}"
    depth = [f.depth for f in frames]
    assert 1 <= sum(depth) <= len(depth) // 3, f"depth at 1 of 5 frames: {depth}"


async def _answered(nc: NATS, sid: str, photos: list[Any], peers: list[Any]) -> bool:
    pc, offer = await offer_for(PhotoTrack(photos))
    peers.append(pc)
    return (await ask(nc, sid, offer)).ok


async def _at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def test_peer_closes_when_session_is_deleted(
    nc: NATS, store: SessionStore, ingest: RtcSettings, coco_dir: Path
) -> None:
    await new_session(store, "gone1")
    pc, offer = await offer_for(PhotoTrack(load_photos(sorted(coco_dir.glob("*.jpg"))[:1])))
    try:
        answer = await ask(nc, "gone1", offer)
        await accept_answer(pc, answer.sdp)
        await wait_for_state(pc, {"connected"})
        await store.delete("gone1")
        await wait_for_state(pc, {"closed", "failed", "disconnected"})
    finally:
        await pc.close()


@pytest.mark.parametrize("ingest", [RtcSettings(webrtc_media_timeout_s=1.0)], indirect=True)
async def test_peer_whose_video_stops_is_closed_long_before_ice_consent_expires(
    nc: NATS, store: SessionStore, ingest: RtcSettings, coco_dir: Path
) -> None:
    await new_session(store, "frozen1")
    track = PhotoTrack(load_photos(sorted(coco_dir.glob("*.jpg"))[:1]), stall_after=10)
    pc, offer = await offer_for(track)
    try:
        await accept_answer(pc, (await ask(nc, "frozen1", offer)).sdp)
        await wait_for_state(pc, {"connected"})
        connected_at = time.monotonic()
        await wait_for_state(pc, {"closed", "failed", "disconnected"})  # the ingest hung up
        # ICE consent keeps the connection itself alive for ~30 s; only the media timeout ends it this soon.
        assert time.monotonic() - connected_at < 15
        assert track.sent == 10
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("sdp", "code"),
    [
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "INVALID_SDP"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "INVALID_SDP"),
        ("\x00\xff garbage", "INVALID_SDP"),
        ("x" * 70_000, "INVALID_SDP"),
    ],
)
async def test_bad_offers_get_a_coded_refusal(
    nc: NATS, store: SessionStore, ingest: RtcSettings, sdp: str, code: str
) -> None:
    await new_session(store, "bad1")
    answer = await ask(nc, "bad1", sdp)
    assert not answer.ok and answer.code == code


@pytest.mark.parametrize(
    "ingest", [RtcSettings(webrtc_connect_timeout_s=10.0, webrtc_media_timeout_s=3.0)], indirect=True
)
async def test_refusals_for_unknown_session_junk_envelope_and_full_instance(
    nc: NATS, store: SessionStore, ingest: RtcSettings, coco_dir: Path
) -> None:
    unknown = await ask(nc, "nobody", "v=0\r\n")
    assert (unknown.ok, unknown.code) == (False, "NOT_FOUND")
    junk = WebRtcAnswer.from_bytes((await nc.request(subjects.WEBRTC_SUBJECT, b"\xc1junk", timeout=5)).data)
    assert (junk.ok, junk.code) == (False, "INVALID_ENVELOPE")

    photos = load_photos(sorted(coco_dir.glob("*.jpg"))[:1])
    peers = []
    try:
        for n in range(ingest.webrtc_max_peers + 1):
            await new_session(store, f"full{n}")
            pc, offer = await offer_for(PhotoTrack(photos))
            peers.append(pc)
            answer = await ask(nc, f"full{n}", offer)
            if n < ingest.webrtc_max_peers:
                assert answer.ok, answer
                await accept_answer(pc, answer.sdp)
            else:
                assert (answer.ok, answer.code) == (False, "WEBRTC_UNAVAILABLE")
        await wait_for_state(peers[0], {"connected"})
        await peers[0].close()  # the browser leaves: its peer closes and frees the slot
        last = f"full{ingest.webrtc_max_peers}"
        # At once when the DTLS close arrives; at worst after connect + media timeouts (13 s here).
        await poll_until(lambda: _answered(nc, last, photos, peers), timeout_s=30)
    finally:
        for pc in peers:
            await pc.close()
