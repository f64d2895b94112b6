"""A real scene worker against a real nats-server: order, the reorder window, errors, close.

RESULTS envelopes are published directly, out of order on purpose, and SCENE is read back.
"""

from __future__ import annotations

import subprocess

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import subjects
from shared.sessions import SessionStore
from shared.telemetry import DropReason
from tests.support.procs import ComponentRunner
from tests.workers.scene.support import (
    Live,
    create_session,
    detections,
    moving_box,
    publish_det,
    publish_error,
    seqs,
    stored_scene,
)

SCENE_ENV = {
    "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3",
    "SIGHTWIRE_SCENE_REORDER_WINDOW": "2",
    "SIGHTWIRE_SCENE_REORDER_WAIT_MS": "10000",  # only the window size releases a gap here
    "SIGHTWIRE_DRAIN_TIMEOUT_S": "1",
}


def logs(procs: list[subprocess.Popen[bytes]]) -> str:
    return "\n".join(ComponentRunner.log_with_stacks(p) for p in procs)


async def test_results_are_put_in_order_within_the_window_and_counted_beyond_it(
    components: ComponentRunner, js: JetStreamContext, nc: NATS
) -> None:
    live = await Live(nc).start()
    proc = components.start("worker", "scene", env=SCENE_ENV, name="scene")
    sid = "reorder"
    await create_session(js, sid)
    await live.until(lambda: live.counter("sessions") == 1, 60, "the scene worker to own the session")

    results: dict[int, int] = {}  # frame seq -> RESULTS seq
    for seq in (1, 2, 4, 3, 5):  # 4 before 3: within the window
        results[seq] = await publish_det(js, detections(sid, seq, [moving_box(seq)]))
    for seq in (7, 8, 9):  # 6 missing: the window (2) overflows at 9 and gives up on 6
        results[seq] = await publish_det(js, detections(sid, seq, [moving_box(seq)]))
    try:
        await live.until(lambda: len(live.scene[sid]) >= 8, 60, "8 scene messages")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {live.scene[sid]}\n{logs([proc])}") from None
    results[6] = await publish_det(js, detections(sid, 6, [moving_box(6)]))  # too late now
    await publish_error(js, sid, 10)
    await live.until(lambda: live.dropped(DropReason.LATE) == 1, 60, "the late result to be counted")
    await live.until(lambda: len(live.scene[sid]) >= 9, 60, "the error to pass through")

    assert seqs(live.scene[sid]) == [1, 2, 3, 4, 5, 7, 8, 9]
    assert live.scene[sid][-1]["type"] == "error" and live.scene[sid][-1]["error_code"] == "INVALID_IMAGE"
    stored = await stored_scene(js, sid)
    by_seq = {o.message["data"]["seq"]: o.results_seq for o in stored if o.message["type"] == "detection_result"}
    assert by_seq == {s: r for s, r in results.items() if s != 6}  # each message names its RESULTS message
    tracks = {d["track_id"] for o in stored[1:8] for d in o.message["data"]["detections"]}
    assert tracks == {1}, stored  # one person walking: one id from its second frame on
    first = stored[0].message["data"]
    assert first["width"] == 640 and set(first["detections"][0]) >= {
        "label",
        "class_id",
        "confidence",
        "bbox",
        "track_id",
        "depth_rel",
        "distance_m",
        "distance_source",
    }
    assert first["detections"][0]["distance_source"] == "size_prior"

    # closing the session ends its ownership and removes its checkpoint
    store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
    await store.delete(sid)
    await live.until(lambda: live.counter("sessions") == 0, 60, "the session to be released")
    checkpoints = await js.key_value(subjects.SCENE_CHECKPOINTS_BUCKET)
    try:
        remaining = await checkpoints.keys()
    except Exception:  # nats-py: no keys at all
        remaining = []
    assert sid not in remaining
    assert proc.poll() is None, logs([proc])


async def test_sigterm_hands_sessions_over_at_once(components: ComponentRunner, js: JetStreamContext, nc: NATS) -> None:
    """A graceful stop writes final checkpoints and releases the leases: no waiting for the TTL."""
    live = await Live(nc).start()
    env = {**SCENE_ENV, "SIGHTWIRE_SCENE_LEASE_TTL_S": "600"}  # only a release can free the sessions
    first = components.start("worker", "scene", env=env, name="first")
    for n in range(3):
        await create_session(js, f"handover{n}")
    await live.until(lambda: live.counter("sessions") == 3, 60, "the first worker to own all three")
    for n in range(3):
        await publish_det(js, detections(f"handover{n}", 1, [moving_box(1)]))
    await live.until(lambda: all(live.scene[f"handover{n}"] for n in range(3)), 60, "a message per session")
    second = components.start("worker", "scene", env=env, name="second")
    assert components.stop(first) == 0, logs([first])
    assert "scene worker stopped" in ComponentRunner.log_of(first)
    second_id = f"-{second.pid}"
    await live.until(
        lambda: any(i.endswith(second_id) and b.counters.get("sessions") == 3 for i, b in live.beats.items()),
        60,
        "the second worker to own all three",
    )
    for n in range(3):
        await publish_det(js, detections(f"handover{n}", 2, [moving_box(2)]))
    await live.until(lambda: all(len(live.scene[f"handover{n}"]) == 2 for n in range(3)), 60, "the next messages")
    assert all(seqs(live.scene[f"handover{n}"]) == [1, 2] for n in range(3))
    assert live.counter("restored") >= 3  # continued from the checkpoints written at shutdown
