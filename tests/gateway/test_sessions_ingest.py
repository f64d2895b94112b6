"""DELETE of a camera-file session stops the real ingest process from publishing its frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
from nats.js import JetStreamContext

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import auth, gateway_settings, poll_until, running_gateway
from tests.support.procs import ComponentRunner

QUIET_S = 2.0  # a 10 fps looping file publishes several frames in this window unless stopped


def looping_video(coco_dir: Path, path: Path) -> Path:
    """A short MJPEG AVI made of real photos."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for photo in sorted(coco_dir.glob("*.jpg"))[:10]:
        writer.write(cv2.resize(cv2.imread(str(photo)), (640, 480)))
    writer.release()
    return path


async def last_seq(js: JetStreamContext, sid: str) -> int:
    try:
        return int((await js.get_last_msg(subjects.FRAMES_STREAM, subjects.frames(sid))).seq or 0)
    except Exception:
        return 0


async def test_delete_stops_ingest_of_a_file_source(
    nats_server: EmbeddedNatsServer, js: JetStreamContext, components: ComponentRunner, coco_dir: Path, tmp_path: Path
):
    video = looping_video(coco_dir, tmp_path / "loop.avi")
    ingest = components.start("ingest", env={"SIGHTWIRE_FILE_SOURCE_ROOTS": json.dumps([str(tmp_path)])})
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        session = await gw.create_session(fps_limit=10, source={"type": "file", "url": video.name, "loop": True})
        sid = session["client_id"]
        first = 0

        async def publishing() -> bool:
            nonlocal first
            seq = await last_seq(js, sid)
            first = first or seq
            return bool(first) and seq > first

        await poll_until(publishing, timeout_s=60, every_s=0.2)
        response = await gw.client.delete(f"/stream/sessions/{sid}", headers=auth(session["token"]))
        assert response.status_code == 204
        stable_since = {"seq": -1, "at": 0.0}

        async def stopped() -> bool:
            seq = await last_seq(js, sid)
            if seq != stable_since["seq"]:
                stable_since.update(seq=seq, at=time.monotonic())
            return time.monotonic() - stable_since["at"] >= QUIET_S

        await poll_until(stopped, timeout_s=30, every_s=0.2)
    assert ingest.poll() is None, components.log_of(ingest)
