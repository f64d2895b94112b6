"""Two real scene workers, 20 sessions, one SIGKILLed mid-stream (DESIGN §7).

Checks: each session has exactly one owner and the sessions are split roughly evenly; after the
kill every session continues on the survivor within the lease TTL plus a few seconds; no SCENE
message is lost or stored twice (by RESULTS seq); the track id of the person who stays in view
never changes, across the failover included.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from tests.support.procs import ComponentRunner
from tests.workers.scene.support import (
    Live,
    create_session,
    detections,
    moving_box,
    owners,
    publish_det,
    stored_scene,
)

SESSIONS = 20
LEASE_TTL_S = 3.0
ENV = {
    "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.5",
    "SIGHTWIRE_SCENE_PEER_TIMEOUT_S": "2",
    "SIGHTWIRE_SCENE_LEASE_TTL_S": str(LEASE_TTL_S),
    "SIGHTWIRE_SCENE_CLAIM_INTERVAL_S": "0.3",
    "SIGHTWIRE_SCENE_CHECKPOINT_INTERVAL_S": "0.5",
    "SIGHTWIRE_DRAIN_TIMEOUT_S": "1",
}
FRAME_INTERVAL_S = 0.2


async def publish_round(js: JetStreamContext, sids: list[str], seq: int, published: dict[str, list[int]]) -> None:
    for sid in sids:
        published[sid].append(await publish_det(js, detections(sid, seq, [moving_box(seq)])))


async def test_sessions_survive_a_killed_scene_worker(
    components: ComponentRunner, js: JetStreamContext, nc: NATS
) -> None:
    live = await Live(nc).start()
    procs = [components.start("worker", "scene", env=ENV, name=f"scene{i}") for i in range(2)]
    await live.until(lambda: len(live.beats) == 2, 60, "two scene heartbeats")
    sids = [f"s{i:02d}" for i in range(SESSIONS)]
    for sid in sids:
        await create_session(js, sid)

    async def settled() -> dict[str, str]:
        deadline = time.monotonic() + 60
        while True:
            held = await owners(js)
            split = Counter(held.values())
            if len(held) == SESSIONS and len(split) == 2 and max(split.values()) <= SESSIONS // 2 + 2:
                return held
            if time.monotonic() > deadline:
                logs = "\n".join(ComponentRunner.log_with_stacks(p) for p in procs)
                raise AssertionError(f"sessions not spread: {split}\n{logs}")
            await asyncio.sleep(0.2)

    held = await settled()
    split = Counter(held.values())
    assert set(held) == set(sids) and min(split.values()) >= SESSIONS // 2 - 2, split

    published: dict[str, list[int]] = {sid: [] for sid in sids}
    seq = 0
    for _ in range(15):  # 3 s of frames at 5 fps, all sessions
        seq += 1
        await publish_round(js, sids, seq, published)
        await asyncio.sleep(FRAME_INTERVAL_S)
    await live.until(lambda: all(len(live.scene[s]) >= 10 for s in sids), 60, "every session to be live")
    await asyncio.sleep(1.0)  # a checkpoint interval or two

    victim = procs[0]
    victim_id = next(i for i, b in live.beats.items() if b.counters.get("sessions", 0) and i.endswith(str(victim.pid)))
    orphaned = [s for s, owner in held.items() if owner == victim_id]
    components.kill(victim)
    killed_at = time.monotonic()
    frames_before = {s: len(live.scene[s]) for s in orphaned}

    moved_at: float | None = None
    for _ in range(40):  # 8 s more of frames: through the failover
        seq += 1
        await publish_round(js, sids, seq, published)
        if moved_at is None and all(len(live.scene[s]) > frames_before[s] + 2 for s in orphaned):
            moved_at = time.monotonic()
        await asyncio.sleep(FRAME_INTERVAL_S)
    await live.until(
        lambda: all(len(live.scene[s]) >= len(published[s]) for s in sids), 60, "every session to catch up"
    )
    moved_at = moved_at or time.monotonic()
    failover_s = moved_at - killed_at
    print(f"failover: {len(orphaned)} sessions continued {failover_s:.1f}s after SIGKILL (lease TTL {LEASE_TTL_S}s)")
    assert failover_s < LEASE_TTL_S + 8, failover_s

    survivor = procs[1]
    assert survivor.poll() is None, ComponentRunner.log_of(survivor)
    assert set((await owners(js)).values()) <= {i for i in live.beats if i != victim_id}
    for sid in sids:
        stored = await stored_scene(js, sid)
        results_seqs = [o.results_seq for o in stored]
        assert len(results_seqs) == len(set(results_seqs)), f"{sid}: a RESULTS message written twice"
        assert sorted(results_seqs) == published[sid], f"{sid}: SCENE lost messages"
        frame_seqs = [o.message["data"]["seq"] for o in stored]
        assert frame_seqs == sorted(frame_seqs), f"{sid}: out of order"
        track_ids = [d["track_id"] for o in stored[1:] for d in o.message["data"]["detections"]]
        assert len(track_ids) == len(stored) - 1 and set(track_ids) == {1}, f"{sid}: track ids {Counter(track_ids)}"
    assert live.counter("restored") >= len(orphaned)
