"""Checkpoint writes are off the message path, and never ahead of the SCENE writes they cover.

In-process `SessionOwner` against a real nats-server, with a checkpoint store (a small fake of our
own `CheckpointStore`, over the real bucket) whose writes wait at a gate: while one write hangs,
later RESULTS must still come out on SCENE; each checkpoint holds a RESULTS seq whose SCENE message
is already stored; a release waits for the hanging write and then saves the last state.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.sessions import SessionConfig
from tests.workers.scene.support import Live, detections, moving_box, publish_det, seqs, stored_scene
from workers.scene import checkpoint
from workers.scene.checkpoint import CheckpointStore
from workers.scene.owner import SessionOwner
from workers.scene.settings import SceneSettings
from workers.scene.stats import SceneStats

SID = "gated"


class GatedStore(CheckpointStore):
    """Saves wait until `gate` opens; `saved` = the RESULTS seq of each checkpoint written."""

    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store.kv, store.timeout_s)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.saved: list[int] = []
        self.scene_stored_when_saved: list[list[int]] = []
        self.js: JetStreamContext | None = None

    async def save(self, sid: str, data: bytes, revision: int | None) -> int:
        self.waiting.set()
        await self.gate.wait()
        assert self.js is not None
        self.scene_stored_when_saved.append([out.results_seq for out in await stored_scene(self.js, sid)])
        revision = await super().save(sid, data, revision)
        self.saved.append(int(checkpoint.decode(sid, data)["pipeline"]["results_seq"]))
        return revision


async def test_a_hanging_checkpoint_write_holds_no_message_and_covers_only_stored_ones(
    js: JetStreamContext, nc: NATS
) -> None:
    live = await Live(nc).start()
    kv = await checkpoint.open_bucket(js, 1024 * 1024, 64 * 1024 * 1024, 1)
    store = GatedStore(CheckpointStore(kv, 5))
    store.js = js
    settings = SceneSettings(scene_checkpoint_interval_s=0.1, scene_reorder_wait_ms=0)
    owner = SessionOwner(SID, SessionConfig(), js, store, settings, SceneStats("t"))
    task = asyncio.create_task(owner.run())

    first = await publish_det(js, detections(SID, 1, [moving_box(1)]))
    await asyncio.wait_for(store.waiting.wait(), 30)  # a checkpoint of seq 1 is being written: it hangs
    later = [await publish_det(js, detections(SID, n, [moving_box(n)])) for n in (2, 3, 4)]
    await live.until(lambda: seqs(live.scene[SID]) == [1, 2, 3, 4], 30, "frames 2-4 despite the hanging write")
    assert store.saved == []

    store.gate.set()
    owner.stop("release")
    await asyncio.wait_for(task, 30)
    assert store.saved == [first, later[-1]]  # the hanging one, then the final state at release
    for saved, stored in zip(store.saved, store.scene_stored_when_saved, strict=True):
        assert saved in stored  # the SCENE message of the checkpoint's last RESULTS seq was already stored
    data, _ = await store.load(SID)
    assert data is not None and checkpoint.decode(SID, data)["pipeline"]["results_seq"] == later[-1]
