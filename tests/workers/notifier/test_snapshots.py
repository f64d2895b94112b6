"""Snapshots: the notifier copies the frame that triggered an event from FRAMES into sw-snapshots."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import Frame
from shared.natsserver import EmbeddedNatsServer
from shared.snapshots import SNAPSHOTS_BUCKET
from workers.notifier.service import run as run_notifier
from workers.notifier.settings import NotifierSettings
from workers.notifier.snapshots import SNAPSHOTS_DURABLE


@pytest.fixture
async def notifier(nats_server: EmbeddedNatsServer, js: JetStreamContext) -> AsyncIterator[None]:
    stop = asyncio.Event()
    settings = NotifierSettings(nats_url=nats_server.url, log_json=False, drain_timeout_s=2)
    task = asyncio.create_task(run_notifier(settings, stop))
    async with asyncio.timeout(60):
        while True:
            try:
                await js.consumer_info(subjects.EVENTS_STREAM, SNAPSHOTS_DURABLE)
                await js.object_store(SNAPSHOTS_BUCKET)
                break
            except Exception:
                await asyncio.sleep(0.1)
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


async def publish_frames(js: JetStreamContext, sid: str, jpegs: dict[int, bytes]) -> None:
    for seq, jpeg in jpegs.items():
        now = time.time_ns()
        frame = Frame(sid, seq, now, now, 64, 48, "test", jpeg)
        await js.publish(
            subjects.frames(sid), frame.to_bytes(), headers={"Nats-Msg-Id": subjects.frame_msg_id(sid, seq)}
        )


async def publish_event(js: JetStreamContext, sid: str, ev_id: str, frame_seq: int, snapshot: bool) -> None:
    event = {
        "id": ev_id,
        "kind": "zone_enter",
        "sid": sid,
        "frame_seq": frame_seq,
        "snapshot": "/x" if snapshot else None,
    }
    body = json.dumps({"type": "event", "event": event}).encode()
    await js.publish(subjects.events(sid, "zone_enter"), body, headers={"Nats-Msg-Id": ev_id})


async def test_the_triggering_frame_is_stored_under_the_event_id(
    js: JetStreamContext, notifier: None, coco_dir: Path
) -> None:
    photos = sorted(coco_dir.glob("*.jpg"))[:3]
    jpegs = {seq: p.read_bytes() for seq, p in zip((4, 5, 6), photos, strict=True)}
    await publish_frames(js, "camA", jpegs)
    await publish_frames(js, "camB", {5: b"\xff\xd8 another session's frame 5"})
    await publish_event(js, "camA", "ev_hit", 5, snapshot=True)
    await publish_event(js, "camA", "ev_gone", 1, snapshot=True)  # no longer in FRAMES
    await publish_event(js, "camA", "ev_health", 5, snapshot=False)
    store = await js.object_store(SNAPSHOTS_BUCKET)
    async with asyncio.timeout(60):
        while True:
            info = await js.consumer_info(subjects.EVENTS_STREAM, SNAPSHOTS_DURABLE)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.1)
    stored = await store.get("ev_hit.jpg")
    assert stored.data == jpegs[5] and stored.info.description == "camA"
    names = {o.name for o in await store.list()}
    assert names == {"ev_hit.jpg"}


async def test_snapshots_live_as_long_as_events(js: JetStreamContext, notifier: None) -> None:
    stream = await js.stream_info(f"OBJ_{SNAPSHOTS_BUCKET}")
    assert stream.config.max_age == NotifierSettings().events_max_age_s
