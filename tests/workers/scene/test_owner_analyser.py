"""The analyser contract of the scene owner, in-process against a real nats-server.

A recording analyser (a small fake of our own `SceneAnalyser` protocol) checks what the events
engineer's evaluator will rely on: `observe` once per finished message in order with its RESULTS
seq, events published to EVENTS with `Nats-Msg-Id` = the event id (a replay writes nothing twice),
its state carried through a config change and through a checkpoint into a new owner, and a final
`session_closed` message when the session ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from nats.js import JetStreamContext, api

from shared import subjects
from shared.sessions import SessionConfig
from tests.workers.scene.support import detections, moving_box, publish_det
from workers.scene import checkpoint
from workers.scene.checkpoint import CheckpointStore
from workers.scene.owner import Closing, SessionOwner
from workers.scene.settings import SceneSettings
from workers.scene.stats import SceneStats

SID = "analysed"


class Recorder:
    """Counts messages; emits one `zone_enter` event per detection message, with a stable id."""

    made: list[Recorder] = []

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.seen: list[tuple[str, int]] = []
        self.count = 0
        Recorder.made.append(self)

    def observe(self, message: Mapping[str, Any], results_seq: int) -> list[dict[str, Any]]:
        self.seen.append((str(message["type"]), results_seq))
        if message["type"] != "detection_result":
            return [{"id": f"{SID}-closed", "kind": "session_closed", "sid": SID}]
        self.count += 1
        return [{"id": f"{SID}-{results_seq}", "kind": "zone_enter", "sid": SID, "count": self.count}]

    def state(self) -> dict[str, Any]:
        return {"count": self.count}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.count = int(state.get("count", 0))


def factory(sid: str, config: SessionConfig) -> Recorder:
    return Recorder(config)


async def stored_events(js: JetStreamContext) -> list[dict[str, Any]]:
    config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE)
    psub = await js.pull_subscribe(subjects.session_events(SID), stream=subjects.EVENTS_STREAM, config=config)
    try:
        pending = (await psub.consumer_info()).num_pending or 0
        msgs = await psub.fetch(pending, timeout=5) if pending else []
        return [json.loads(m.data) for m in msgs]
    finally:
        await psub.unsubscribe()


async def until(condition: Any, what: str, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_the_analyser_sees_every_message_in_order_and_its_state_survives(js: JetStreamContext) -> None:
    Recorder.made.clear()
    settings = SceneSettings(scene_checkpoint_interval_s=0.1, scene_reorder_wait_ms=0)
    kv = await checkpoint.open_bucket(js, 1024 * 1024, 64 * 1024 * 1024, 1)
    store = CheckpointStore(kv, 5)
    owner = SessionOwner(SID, SessionConfig(), js, store, settings, SceneStats("t"), analysers=factory)
    task = asyncio.create_task(owner.run())
    rseqs = [await publish_det(js, detections(SID, n, [moving_box(n)])) for n in (1, 2, 3)]
    await until(lambda: len(Recorder.made[0].seen) == 3, "three messages observed")
    assert Recorder.made[0].seen == [("detection_result", r) for r in rseqs]

    owner.update_config(SessionConfig(confidence_threshold=0.6))  # a new analyser, the old state
    rseqs.append(await publish_det(js, detections(SID, 4, [moving_box(4)])))
    await until(lambda: len(Recorder.made) == 2 and Recorder.made[1].count == 4, "the new analyser to continue")
    assert Recorder.made[1].config.confidence_threshold == 0.6
    await asyncio.sleep(0.5)  # a checkpoint interval
    owner.stop("release")
    await asyncio.wait_for(task, 30)

    # a new owner (as after a failover) continues from the checkpoint: the count goes on
    successor = SessionOwner(SID, SessionConfig(), js, store, settings, SceneStats("t2"), analysers=factory)
    task = asyncio.create_task(successor.run())
    rseqs.append(await publish_det(js, detections(SID, 5, [moving_box(5)])))
    await until(lambda: len(Recorder.made) == 3 and Recorder.made[2].count == 5, "the successor to continue")
    successor.stop("closed", Closing("SESSION_CLOSED", "bye"))
    await asyncio.wait_for(task, 30)
    assert Recorder.made[2].seen[-1][0] == "session_closed"

    events = await stored_events(js)
    assert [e["event"]["id"] for e in events] == [f"{SID}-{r}" for r in rseqs] + [f"{SID}-closed"]
    assert all(e["type"] == "event" for e in events)
    assert [e["event"]["count"] for e in events[:-1]] == [1, 2, 3, 4, 5]
    assert (await store.load(SID))[0] is None  # a closed session leaves no checkpoint
