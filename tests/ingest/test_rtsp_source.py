"""An RTSP camera (GStreamer's RTSP server, H.264) through a real ingest process, killed and brought back.

The camera is SIGKILLed like a camera losing power: ingest reports the drop
once (SOURCE_LOST), keeps reconnecting with backoff, and when the camera
comes back on the same port the stream resumes with higher `seq`, the
session still active.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.errors import ErrorCode
from shared.sessions import SessionStore
from tests.ingest.conftest import Traffic, camera_session, ingest_env, start_ingest, wait_for
from tests.support import clips
from tests.support.procs import ComponentRunner
from tests.support.rtsp_server import RtspServer


@pytest.fixture
def rtsp_camera(tmp_path: Path, coco_dir: Path) -> Iterator[RtspServer]:
    pattern = clips.write_frame_folder(tmp_path / "rtsp-frames", clips.coco_photos(coco_dir, 3))
    server = RtspServer(pattern, fps=10, log_path=tmp_path / "rtsp-server.log")
    server.start(0)
    yield server
    server.kill()


@pytest.mark.rtsp
async def test_rtsp_camera_resumes_after_the_server_restarts(
    components: ComponentRunner, store: SessionStore, traffic: Traffic, media_dir: Path, rtsp_camera: RtspServer
) -> None:
    env = ingest_env(media_dir, SIGHTWIRE_FAILURE_LIMIT="100")
    await start_ingest(components, traffic, "ingest-rtsp", env)
    await camera_session(store, "rtsp", "rtsp", rtsp_camera.url(), fps_limit=5)

    first_frame_s = await wait_for(lambda: traffic.count("rtsp") >= 1, 45, "the first RTSP frame")
    await wait_for(lambda: traffic.count("rtsp") >= 5, 30, "RTSP frames")
    first = traffic.frames["rtsp"]
    assert all(f.source == "rtsp" and (f.width, f.height) == (320, 240) for f in first)

    port = rtsp_camera.port
    rtsp_camera.kill()
    await wait_for(lambda: ErrorCode.SOURCE_LOST in traffic.codes("rtsp"), 30, "SOURCE_LOST after the kill")
    last_seq = traffic.frames["rtsp"][-1].seq
    seen = traffic.count("rtsp")

    assert await asyncio.to_thread(rtsp_camera.start, port) == port
    resumed_s = await wait_for(lambda: traffic.count("rtsp") > seen, 45, "a frame after the camera came back")
    await wait_for(lambda: traffic.count("rtsp") >= seen + 5, 30, "frames after the camera came back")
    print(f"\nRTSP: first frame {first_frame_s:.2f} s after the session was created, {resumed_s:.2f} s after restart")
    resumed = traffic.frames["rtsp"][seen:]
    assert all(f.seq > last_seq for f in resumed)
    assert traffic.codes("rtsp").count(ErrorCode.SOURCE_LOST) == 1, "one SOURCE_LOST per drop"
    await wait_for(lambda: ErrorCode.SOURCE_RESTORED in traffic.codes("rtsp"), 30, "SOURCE_RESTORED after the restart")
    assert traffic.codes("rtsp") == [ErrorCode.SOURCE_LOST, ErrorCode.SOURCE_RESTORED], "the recovery reported once"
    record = await store.get("rtsp")
    assert record is not None and record[0].status == "active"
