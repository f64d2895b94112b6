"""The scene stage behind the real detector: COCO frames in FRAMES, finished messages in SCENE.

A real `sightwire worker detector` (YOLOX-Nano) and a real `sightwire worker scene` on one
nats-server; a photo and its 2x zoom go in; the person's size-prior distance halves, and a photo
sent three times keeps its objects' track ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from tests.support.pipeline import jpeg_of, start_workers
from tests.support.procs import ComponentRunner
from tests.workers.scene.support import Live, create_session
from tests.workers.support import frame, publish_frame

LONE_PERSON = "000000002261.jpg"  # one person, wholly inside the central crop


def people(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in message["data"]["detections"] if d["label"] == "person"]


@pytest.mark.usefixtures("frames_backlog")  # four frames queue before the detector takes them
async def test_real_detections_become_scene_messages_with_distances_and_tracks(
    components: ComponentRunner, js: JetStreamContext, nc: NATS, coco_dir: Path
) -> None:
    live = await Live(nc).start()
    await start_workers(components, nc, ("detector",))
    components.start("worker", "scene", env={"SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3"}, name="scene")
    sid = "realmodels"
    await create_session(js, sid)
    await live.until(lambda: live.counter("sessions") == 1, 60, "the scene worker to own the session")

    wide = jpeg_of(coco_dir / LONE_PERSON, size=None)
    zoomed = jpeg_of(coco_dir / LONE_PERSON, size=None, zoom=2.0)
    for seq, jpeg in enumerate([wide, wide, wide, zoomed], start=1):
        await publish_frame(js, frame(sid, seq, jpeg))
    try:
        await live.until(lambda: len(live.scene[sid]) >= 4, 120, "four scene messages")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(components.log_of(p)[-3000:] for p in components.procs)) from None

    messages = live.scene[sid]
    assert [m["data"]["seq"] for m in messages] == [1, 2, 3, 4]
    assert all(m["type"] == "detection_result" for m in messages)
    (far,), (near,) = people(messages[0]), people(messages[3])
    assert far["distance_source"] == near["distance_source"] == "size_prior"
    assert 0.4 < near["distance_m"] / far["distance_m"] < 0.6, (near, far)
    repeated = [sorted(d["track_id"] for d in m["data"]["detections"]) for m in messages[1:3]]
    assert repeated[0] == repeated[1] and None not in repeated[0] and repeated[0], repeated
