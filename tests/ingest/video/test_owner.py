"""A real ingest process serves the video of the camera it owns, and stops when the session ends.

The camera is a looping file clip at 10 fps analysed at 2 fps: the viewer
must get the camera's rate, not the analysis rate. Offers go over NATS to the
owner's own subject (what the gateway does after reading the lease); deleting
the session closes the viewer and stops the encoder.
"""

from __future__ import annotations

import time
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from shared import subjects
from shared.sessions import SessionStore
from shared.webrtc import WebRtcAnswer, WebRtcOffer
from tests.ingest.conftest import (
    CLIP_FPS,
    Traffic,
    camera_session,
    eventually,
    ingest_env,
    lease_owner,
    start_ingest,
    wait_for,
)
from tests.support.procs import ComponentRunner
from tests.support.video_viewer import ViewerPeer
from tests.support.webrtc_peer import wait_for_state

INSTANCE = "ingest-video-owner"


async def ask(nc: NATS, sid: str, sdp: str) -> WebRtcAnswer:
    msg = await nc.request(subjects.ingest_video(INSTANCE), WebRtcOffer(sid=sid, sdp=sdp).to_bytes(), timeout=10)
    return WebRtcAnswer.from_bytes(msg.data)


async def test_owner_serves_camera_rate_video_and_stops_with_the_session(
    components: ComponentRunner, nc: NATS, store: SessionStore, leases: KeyValue, traffic: Traffic, media_dir: Path
) -> None:
    await start_ingest(components, traffic, INSTANCE, ingest_env(media_dir))
    await camera_session(store, "cam", "file", "clip.mp4", loop=True, fps_limit=2)

    async def owned() -> bool:
        return await lease_owner(leases, "cam") == INSTANCE

    await eventually(owned, 20, "the camera's lease")
    refused = await ask(nc, "not-a-camera-here", "v=0")
    assert not refused.ok and refused.code == "WEBRTC_UNAVAILABLE"

    viewer = ViewerPeer()
    try:
        answer = await ask(nc, "cam", await viewer.offer())
        assert answer.ok and answer.instance == INSTANCE, answer
        await viewer.accept(answer.sdp)
        await wait_for_state(viewer.pc, {"connected"})
        await wait_for(lambda: viewer.frames >= 3, 30, "first video frames")
        published, decoded, start = traffic.count("cam"), viewer.frames, time.monotonic()
        await wait_for(lambda: time.monotonic() - start >= 4, 10, "4 s of video")
        video_fps = (viewer.frames - decoded) / (time.monotonic() - start)
        analysed_fps = (traffic.count("cam") - published) / (time.monotonic() - start)
        assert video_fps >= 0.6 * CLIP_FPS and video_fps > 2 * analysed_fps, (video_fps, analysed_fps)
        assert viewer.clock, "no RTP-clock mapping on the sync channel"
        beat = traffic.beats[INSTANCE].counters
        assert beat.get("video_encoders") == 1 and beat.get("video_viewers") == 1, beat

        await store.delete("cam")
        await wait_for_state(viewer.pc, {"closed", "failed", "disconnected"}, timeout_s=20)

        def encoder_stopped() -> bool:
            counters = traffic.beats[INSTANCE].counters
            return counters.get("video_encoders") == 0 and counters.get("video_viewers") == 0

        await wait_for(encoder_stopped, 10, "the encoder to stop with the session")
    finally:
        await viewer.pc.close()
