"""The real pipeline around a test gateway: worker processes, frames in, RESULTS counted.

Workers are real `sightwire worker` processes with the real models (started
through the `components` fixture); readiness is their first heartbeat, polled
with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import cv2
import numpy as np
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from shared import subjects
from tests.support.procs import ComponentRunner


async def start_workers(components: ComponentRunner, nc: NATS, kinds: tuple[str, ...] = ("detector",)) -> None:
    """Start one worker per kind and wait for a heartbeat from each."""
    seen: set[str] = set()

    async def on_beat(msg: object) -> None:
        seen.add(getattr(msg, "subject", "").split(".")[2])

    sub = await nc.subscribe(subjects.HEARTBEAT_ALL, cb=on_beat)
    try:
        for kind in kinds:
            # a short drain bound keeps teardown quick: a stopping worker waits that long for its pending pull
            components.start("worker", kind, env={"SIGHTWIRE_DRAIN_TIMEOUT_S": "1"})
        deadline = time.monotonic() + 60
        while not set(kinds) <= seen:
            if time.monotonic() > deadline:
                logs = "\n".join(components.log_with_stacks(p) for p in components.procs)
                raise AssertionError(f"workers {kinds} not up; heartbeats from {seen}\n{logs}")
            await asyncio.sleep(0.05)
    finally:
        await sub.unsubscribe()


def jpeg_of(path: Path, size: tuple[int, int] | None = (640, 480), zoom: float = 1.0) -> bytes:
    """A photo as JPEG, optionally zoomed (centre crop resized back) and resized."""
    image = cv2.imread(str(path))
    assert image is not None, path
    if zoom != 1.0:
        h, w = image.shape[:2]
        ch, cw = round(h / zoom), round(w / zoom)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        image = cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    if size is not None:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(np.asarray(buf).tobytes())


async def result_ids(js: JetStreamContext, sid: str, kind: subjects.ResultKind) -> list[int]:
    """Stream sequences of every stored result of one kind for one session, in order."""
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE, inactive_threshold=10, mem_storage=True
    )
    psub = await js.pull_subscribe(subjects.results(sid, kind), stream=subjects.RESULTS_STREAM, config=config)
    try:
        pending = (await psub.consumer_info()).num_pending or 0
        ids: list[int] = []
        while len(ids) < pending:
            msgs = await psub.fetch(min(256, pending - len(ids)), timeout=5)
            ids += [m.metadata.sequence.stream for m in msgs]
        return ids
    finally:
        await psub.unsubscribe()
