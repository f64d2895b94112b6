"""Session lifecycle as one real ingest process follows it: delete, close, pushed sources, counters.

Deleting or closing a camera session stops its source and releases its lease;
upload and WebRTC sessions are never claimed (ingest pulls nothing for them);
the heartbeat counts published frames and fps drops.
"""

from __future__ import annotations

import time
from pathlib import Path

from nats.js.kv import KeyValue

from shared.sessions import SessionRecord, SessionStore
from shared.telemetry import DropReason
from tests.ingest.conftest import Traffic, camera_session, eventually, ingest_env, lease_owner, start_ingest, wait_for
from tests.support.procs import ComponentRunner


def frames_since(traffic: Traffic, sid: str, t: float) -> int:
    return sum(1 for at in traffic.arrival.get(sid, []) if at > t)


async def test_deleted_and_closed_sessions_stop_and_release(
    components: ComponentRunner, store: SessionStore, leases: KeyValue, traffic: Traffic, media_dir: Path
) -> None:
    await start_ingest(components, traffic, "ingest-life", ingest_env(media_dir))
    for sid in ("gone", "closed", "kept"):
        await camera_session(store, sid, "file", "clip.mp4", loop=True, fps_limit=5)
    await camera_session(store, "upload", "upload", "")
    await wait_for(lambda: all(traffic.count(s) >= 2 for s in ("gone", "closed", "kept")), 30, "frames of 3 cameras")

    await store.delete("gone")

    def close(record: SessionRecord) -> SessionRecord:
        return record.model_copy(update={"status": "closed"})

    await store.update("closed", close)

    async def released() -> bool:
        return [await lease_owner(leases, s) for s in ("gone", "closed", "kept")] == [None, None, "ingest-life"]

    await eventually(released, 10, "the leases of the deleted and closed sessions to go")
    quiet_from = time.monotonic() + 0.5  # frames already in flight may still land
    await wait_for(lambda: frames_since(traffic, "kept", quiet_from) >= 5, 15, "more frames of the kept camera")
    assert frames_since(traffic, "gone", quiet_from) == 0 and frames_since(traffic, "closed", quiet_from) == 0
    assert await lease_owner(leases, "upload") is None and traffic.count("upload") == 0

    await wait_for(lambda: traffic.owned_by("ingest-life") == {"kept"}, 5, "the heartbeat to list only `kept`")
    beat = traffic.beats["ingest-life"]
    assert beat.processed > 0 and beat.dropped[DropReason.FPS] > 0
