"""HTTP sources through a real ingest process: an MJPEG camera with a password, a video file over HTTP.

The camera asks for HTTP Basic auth, so the URL carries a password: frames
must arrive (FFmpeg used the credentials) while the ingest log shows the URL
only in its redacted form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.sessions import SessionStore
from tests.ingest.conftest import Traffic, camera_session, ingest_env, start_ingest, wait_for
from tests.support import clips
from tests.support.mjpeg_server import MjpegServer
from tests.support.procs import ComponentRunner

PASSWORD = "Mjpeg-S3cret-42"


@pytest.fixture
def camera(coco_dir: Path, media_dir: Path) -> Iterator[MjpegServer]:
    frames = clips.jpeg_frames(clips.coco_photos(coco_dir, 2), size=(320, 240))
    files = {"/clip.mp4": media_dir / "clip.mp4"}
    with MjpegServer(frames, fps=15, credentials=("alice", PASSWORD), files=files) as srv:
        yield srv


async def test_mjpeg_camera_with_credentials_and_a_file_over_http(
    components: ComponentRunner, store: SessionStore, traffic: Traffic, media_dir: Path, camera: MjpegServer
) -> None:
    proc = await start_ingest(components, traffic, "ingest-http", ingest_env(media_dir))
    await camera_session(store, "mjpeg", "http", camera.url(), fps_limit=5)
    await camera_session(store, "remote-file", "http", camera.url("/clip.mp4"), fps_limit=30)

    await wait_for(lambda: traffic.count("mjpeg") >= 8, 30, "MJPEG frames")
    await wait_for(lambda: traffic.count("remote-file") >= 20, 30, "frames of the file over HTTP")
    frames = traffic.frames["mjpeg"]
    assert all(f.source == "http" and (f.width, f.height) == (320, 240) for f in frames)
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs))

    log = components.log_of(proc)
    assert PASSWORD not in log
    assert "alice:***@127.0.0.1" in log, "the source is logged, redacted"
