"""Two real ingest processes share camera sessions through sw-leases, and take over from each other.

With two instances each camera session runs exactly once: one lease per
session, the heartbeats' `owned` lists are disjoint and cover every session,
and every session's frames have strictly increasing, unique `seq`. SIGKILL of
one instance (no chance to release anything): its cameras come back on the
survivor within the lease TTL plus a few seconds, `seq` still increasing. A
graceful stop (SIGTERM) releases leases at once, so a third instance takes
over without waiting for the TTL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nats.js.kv import KeyValue

from shared.sessions import SessionStore
from tests.ingest.conftest import (
    LEASE_TTL_S,
    Traffic,
    camera_session,
    eventually,
    ingest_env,
    lease_owner,
    start_ingest,
    wait_for,
)
from tests.support.procs import ComponentRunner

SIDS = [f"cam{i}" for i in range(4)]
TAKEOVER_SLACK_S = 10.0  # "a few seconds" on a busy 2-core machine: claim interval, process scheduling


async def owners(leases: KeyValue) -> dict[str, str | None]:
    return {sid: await lease_owner(leases, sid) for sid in SIDS}


def frames_after(traffic: Traffic, sid: str, t: float) -> int:
    return sum(1 for at in traffic.arrival.get(sid, []) if at > t)


def assert_runs_once(traffic: Traffic, sid: str) -> None:
    seqs = [f.seq for f in traffic.frames[sid]]
    assert seqs == sorted(set(seqs)), f"{sid}: seq not strictly increasing (a second producer?)"


async def test_each_camera_runs_once_and_fails_over(
    components: ComponentRunner, store: SessionStore, leases: KeyValue, traffic: Traffic, media_dir: Path
) -> None:
    env = ingest_env(media_dir)
    procs = {name: await start_ingest(components, traffic, name, env) for name in ("ingest-a", "ingest-b")}
    for sid in SIDS:
        await camera_session(store, sid, "file", "clip.mp4", loop=True, fps_limit=5, enable_depth=False)

    start = time.monotonic()
    await wait_for(lambda: all(frames_after(traffic, sid, start) >= 3 for sid in SIDS), 30, "frames of every camera")
    by_lease = await owners(leases)
    assert set(by_lease.values()) <= set(procs), by_lease

    def heartbeats_agree() -> bool:
        owned = {name: traffic.owned_by(name) for name in procs}
        return {sid: name for name, sids in owned.items() for sid in sids} == by_lease

    await wait_for(heartbeats_agree, 10, f"heartbeats to list the owners {by_lease}")
    assert traffic.owned_by("ingest-a").isdisjoint(traffic.owned_by("ingest-b"))
    for sid in SIDS:
        assert_runs_once(traffic, sid)

    # SIGKILL the instance owning cam0: its cameras resume on the survivor
    victim = by_lease["cam0"]
    assert victim is not None
    survivor = next(name for name in procs if name != victim)
    moved = [sid for sid, owner in by_lease.items() if owner == victim]
    last_seq = {sid: traffic.frames[sid][-1].seq for sid in moved}
    components.kill(procs[victim])
    killed_at = time.monotonic()
    took = await wait_for(
        lambda: all(frames_after(traffic, sid, killed_at + 0.5) >= 2 for sid in moved),
        LEASE_TTL_S + TAKEOVER_SLACK_S,
        f"{moved} to resume on {survivor}",
    )
    print(f"\nfailover after SIGKILL: {len(moved)} camera(s) resumed in {took:.2f} s (lease TTL {LEASE_TTL_S:g} s)")
    assert await owners(leases) == dict.fromkeys(SIDS, survivor)
    for sid in moved:
        assert traffic.frames[sid][-1].seq > last_seq[sid]
        assert_runs_once(traffic, sid)

    # a graceful stop releases the leases: a new instance takes over well within the TTL
    await start_ingest(components, traffic, "ingest-c", env)
    stopped_at = time.monotonic()
    stopping = asyncio.create_task(asyncio.to_thread(components.stop, procs[survivor]))

    async def all_on_c() -> bool:
        return await owners(leases) == dict.fromkeys(SIDS, "ingest-c")

    took = await eventually(all_on_c, LEASE_TTL_S + TAKEOVER_SLACK_S, "every camera on ingest-c")
    await wait_for(lambda: all(frames_after(traffic, sid, stopped_at) >= 2 for sid in SIDS), 15, "frames from ingest-c")
    print(f"failover after SIGTERM: {len(SIDS)} cameras claimed by ingest-c in {took:.2f} s")
    assert await stopping == 0, "a graceful stop exits 0"
    for sid in SIDS:
        assert_runs_once(traffic, sid)
