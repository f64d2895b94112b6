"""Event snapshots: the frame that triggered an event, copied from FRAMES into `sw-snapshots`.

A durable `snapshots` consumer on EVENTS (separate from webhook delivery, so a slow receiver
never delays a snapshot): for an event with a `snapshot` path and a `frame_seq`, find that frame
among the few FRAMES still holds for the session (`max_msgs_per_subject`) and store its JPEG as
`<event id>.jpg`. FRAMES keeps live video for seconds only, so this runs at once; a frame already
gone is counted (`missing`) and the snapshot URL answers 404: never an error for the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from shared import subjects
from shared.envelopes import Frame
from shared.errors import EnvelopeError
from shared.jetstream import durable_consumer
from shared.snapshots import snapshot_name
from workers.notifier.webhooks import finish_tasks

log = logging.getLogger(__name__)

SNAPSHOTS_DURABLE = "snapshots"
FETCH_BATCH = 32
FETCH_WAIT_S = 1.0
MAX_FRAMES_SCANNED = 256


def snapshots_consumer(replicas: int, max_ack_pending: int) -> api.ConsumerConfig:
    return durable_consumer(
        SNAPSHOTS_DURABLE, subjects.EVENTS_ALL, replicas, max_ack_pending, ack_wait=30.0, max_deliver=3
    )


async def find_frame(js: JetStreamContext, sid: str, frame_seq: int) -> bytes | None:
    """The JPEG of frame `frame_seq` of `sid` if FRAMES still holds it."""
    subject = subjects.frames(sid)
    stream_seq = 1
    for _ in range(MAX_FRAMES_SCANNED):
        try:
            raw = await js.get_msg(subjects.FRAMES_STREAM, seq=stream_seq, subject=subject, next=True)
        except NotFoundError:
            return None
        if raw.data is None or raw.seq is None:
            return None
        try:
            frame = Frame.from_bytes(raw.data)
        except EnvelopeError:
            frame = None
        if frame is not None and frame.seq == frame_seq:
            return frame.jpeg
        if frame is not None and frame.seq > frame_seq:
            return None
        stream_seq = raw.seq + 1
    return None


class Snapshotter:
    """Stores the triggering frame of each event that names one."""

    def __init__(self, js: JetStreamContext, store: ObjectStore, concurrency: int, drain_timeout_s: float) -> None:
        self.drain_timeout_s = drain_timeout_s
        self.js = js
        self.store = store
        self.concurrency = concurrency
        self.counts: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.js.pull_subscribe_bind(SNAPSHOTS_DURABLE, stream=subjects.EVENTS_STREAM)
        free = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except TimeoutError:
                    continue
                except Exception as exc:  # reconnecting: retry after a pause
                    log.warning("event fetch failed", extra={"error": repr(exc)})
                    await asyncio.sleep(FETCH_WAIT_S)
                    continue
                for msg in msgs:
                    await free.acquire()
                    task = asyncio.create_task(self._guarded(msg, free))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            await finish_tasks(tasks, self.drain_timeout_s)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _guarded(self, msg: Msg, free: asyncio.Semaphore) -> None:
        try:
            self._count(await self.handle(msg.subject, msg.data))
            await msg.ack()
        except Exception:
            log.exception("snapshot failed", extra={"subject": msg.subject})
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)
        finally:
            free.release()

    async def handle(self, subject: str, data: bytes) -> str:
        """Store the snapshot of one EVENTS message; returns the outcome for the counters."""
        try:
            event = json.loads(data)["event"]
            event_id, frame_seq, wanted = event["id"], event.get("frame_seq"), event.get("snapshot")
            name = snapshot_name(str(event_id))
        except (ValueError, KeyError, TypeError):
            return "malformed"
        if not wanted or not isinstance(frame_seq, int):
            return "none"
        with contextlib.suppress(ObjectNotFoundError):
            await self.store.get_info(name)
            return "exists"
        sid = subjects.sid_of(subject)
        jpeg = await find_frame(self.js, sid, frame_seq)
        if jpeg is None:
            return "missing"
        await self.store.put(name, jpeg, meta=api.ObjectMeta(name=name, description=sid))  # the owner, checked on GET
        return "stored"

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
