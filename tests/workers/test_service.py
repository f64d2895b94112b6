"""Real worker processes against a real nats-server: results, bad input, load sharing, SIGKILL.

Each test starts `sightwire worker ...` processes through the `components`
fixture and watches sw.results.> and sw.heartbeat.> on core NATS. Waiting is
always "until a condition holds, with a deadline", woken by messages.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import now_ns
from shared.jetstream import provision
from shared.settings import NatsSettings
from shared.telemetry import DropReason
from tests.support.procs import ComponentRunner
from tests.workers.support import Watcher, coco_jpegs, frame, publish_frame, publish_raw

FAST_BEATS = {"SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3"}


@pytest.fixture(scope="module")
def huge_jpeg(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 50-megapixel JPEG, small on the wire because it is mostly flat (built once)."""
    path = tmp_path_factory.mktemp("huge") / "50mp.jpg"
    image = np.full((5774, 8660, 3), 127, np.uint8)
    image[::97] = 30
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return path.read_bytes()


@pytest.fixture
async def watcher(nc: NATS) -> Watcher:
    return await Watcher(nc).start()


async def until(
    watcher: Watcher, condition: Callable[[], bool], timeout_s: float, what: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    """`watcher.until`, with the workers' logs attached when it fails."""
    try:
        await watcher.until(condition, timeout_s, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await pipeline_state(watcher)}\n{worker_logs(procs)}") from None


def worker_logs(procs: list[subprocess.Popen[bytes]]) -> str:
    """Each worker's log tail, with its thread stacks when it is still running."""
    return "\n".join(f"--- worker {p.pid} log ---\n{ComponentRunner.log_with_stacks(p)}" for p in procs)


async def pipeline_state(watcher: Watcher) -> str:
    """What the broker and the workers say, for a failure message."""
    js = watcher.nc.jetstream()
    consumer = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
    now = now_ns()
    beats = {i: (b.counters, f"{(now - b.at_ns) / 1e9:.1f}s ago") for (_, i), b in watcher.heartbeats.items()}
    return (
        f"answered={len(watcher.answered())} detections={len(watcher.detections)}\n"
        f"detector consumer: delivered={consumer.delivered} ack_floor={consumer.ack_floor} "
        f"pending={consumer.num_pending} ack_pending={consumer.num_ack_pending} "
        f"redelivered={consumer.num_redelivered} waiting={consumer.num_waiting}\nheartbeats: {beats}"
    )


def start_workers(components: ComponentRunner, kind: str, n: int, **env: str) -> list[subprocess.Popen[bytes]]:
    return [components.start("worker", kind, env={**FAST_BEATS, **env}, name=f"{kind}{i}") for i in range(n)]


async def test_detector_answers_frames_and_survives_bad_input(
    js: JetStreamContext, watcher: Watcher, components: ComponentRunner, coco_dir: Path, huge_jpeg: bytes
) -> None:
    procs = start_workers(components, "detector", 1)
    photo = (coco_dir / "000000000724.jpg").read_bytes()
    good = frame("good", 1, photo, width=375, height=500)
    await publish_frame(js, good)
    await until(watcher, lambda: len(watcher.detections) == 1, 60, "the first result", procs)
    [det] = watcher.detections
    assert (det.sid, det.seq, det.frame_id, det.model) == ("good", 1, "good-1", "yolox_nano")
    assert (det.captured_at_ns, det.ingested_at_ns) == (good.captured_at_ns, good.ingested_at_ns)
    assert (det.width, det.height) == (375, 500) and det.worker.endswith(f"-{procs[0].pid}")
    assert max(det.boxes, key=lambda b: b.score).label == "stop sign"

    ok, png = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))
    assert ok
    bad_images = {"truncated": photo[: len(photo) // 2], "png": png.tobytes(), "empty": b"", "huge": huge_jpeg}
    for seq, (sid, jpeg) in enumerate(bad_images.items(), start=10):
        await publish_frame(js, frame(sid, seq, jpeg))
    v99 = {**frame("v99", 20, photo).to_dict(), "v": 99}
    await publish_raw(js, "v99", 20, msgpack.packb(v99, use_bin_type=True))
    await publish_raw(js, "garbage", 21, b"\xc1 this is not msgpack")
    stale = frame("stale", 22, photo, max_age_ms=1000)
    stale.captured_at_ns = now_ns() - 10_000_000_000
    await publish_frame(js, stale)
    await publish_frame(js, frame("after", 23, photo))

    expected = {sid: "INVALID_IMAGE" for sid in bad_images} | {
        "v99": "UNSUPPORTED_VERSION",
        "garbage": "INVALID_ENVELOPE",
    }
    await until(watcher, lambda: len(watcher.errors) == len(expected), 60, "an error per bad frame", procs)
    await until(watcher, lambda: ("after", 23) in watcher.answered(), 60, "the good frame after", procs)
    assert {e.sid: e.code for e in watcher.errors} == expected
    assert {e.sid: e.seq for e in watcher.errors} == {"truncated": 10, "png": 11, "empty": 12, "huge": 13,
                                                      "v99": 20, "garbage": 21}  # fmt: skip
    assert "pixel limit" in next(e.message for e in watcher.errors if e.sid == "huge")
    assert watcher.answered() == {("good", 1), ("after", 23)}  # the stale frame got no result

    def counters_final() -> bool:
        return watcher.processed("detector") == 2 and watcher.dropped("detector", DropReason.STALE) == 1

    await until(watcher, counters_final, 30, "heartbeat counters", procs)
    assert watcher.counter("detector", "errors") == len(expected)
    assert procs[0].poll() is None, "the worker must still be running"
    assert components.stop(procs[0]) == 0


async def test_depth_worker_publishes_grids_and_skips_frames_without_depth(
    js: JetStreamContext, watcher: Watcher, components: ComponentRunner, coco_dir: Path
) -> None:
    procs = start_workers(components, "depth", 1)
    photo = (coco_dir / "000000000139.jpg").read_bytes()
    await publish_frame(js, frame("room", 1, photo, depth=False))
    await publish_frame(js, frame("room", 2, photo))
    await until(watcher, lambda: len(watcher.depth) == 1, 60, "a depth map", procs)
    [depth] = watcher.depth
    assert (depth.seq, depth.model, depth.larger_is_farther, depth.frame_id) == (2, "pydnet", True, "room-2")
    assert (depth.width, depth.height, depth.grid_w, depth.grid_h) == (640, 426, 80, 56)
    assert len(depth.grid) == 2 * 80 * 56
    await until(watcher, lambda: watcher.dropped("depth", DropReason.DEPTH_OFF) == 1, 30, "the depth_off drop", procs)
    assert not watcher.detections and not watcher.errors and len(watcher.depth) == 1


@pytest.mark.usefixtures("frames_backlog")
async def test_depth_worker_counts_bad_frames_but_leaves_reporting_to_the_detector(
    js: JetStreamContext, watcher: Watcher, components: ComponentRunner, coco_dir: Path
) -> None:
    """One bad frame must give a client one error, not one per worker type."""
    procs = start_workers(components, "depth", 1)
    photo = (coco_dir / "000000000139.jpg").read_bytes()
    await publish_frame(js, frame("room", 1, photo[: len(photo) // 3]))
    await publish_raw(js, "room", 2, b"\xc1 not msgpack")
    await publish_frame(js, frame("room", 3, photo))
    await until(watcher, lambda: len(watcher.depth) == 1, 60, "the good frame's depth map", procs)
    await until(
        watcher, lambda: watcher.dropped("depth", DropReason.INVALID_INPUT) == 2, 30, "bad frames counted", procs
    )
    assert not watcher.errors


async def publish_round_robin(
    js: JetStreamContext, jpegs: list[bytes], sessions: int, per_session: int
) -> set[tuple[str, int]]:
    """Frames spread over sessions so no subject exceeds FRAMES' per-subject limit (`FRAMES_BACKLOG`)."""
    sent = set()
    for seq in range(1, per_session + 1):
        for s in range(sessions):
            sid = f"cam{s}"
            await publish_frame(js, frame(sid, seq, jpegs[(seq * sessions + s) % len(jpegs)]))
            sent.add((sid, seq))
    return sent


@pytest.mark.usefixtures("frames_backlog")
async def test_two_detectors_share_the_load_exactly_once(
    js: JetStreamContext, watcher: Watcher, components: ComponentRunner, coco_dir: Path
) -> None:
    procs = start_workers(components, "detector", 2)
    await until(watcher, lambda: len(watcher.instances("detector")) == 2, 60, "both workers up", procs)
    sent = await publish_round_robin(js, coco_jpegs(coco_dir, 12), sessions=8, per_session=8)
    await until(watcher, lambda: watcher.answered() == sent, 90, "every frame answered", procs)
    await until(watcher, lambda: watcher.processed("detector") == len(sent), 30, "final counters", procs)

    per_frame = Counter((d.sid, d.seq) for d in watcher.detections)
    assert max(per_frame.values()) == 1, "a frame was answered twice"
    by_worker = Counter(d.worker for d in watcher.detections)
    assert len(by_worker) == 2 and min(by_worker.values()) > 0, (by_worker, worker_logs(procs))
    assert (await js.stream_info(subjects.RESULTS_STREAM)).state.messages == len(sent)
    consumer = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
    assert consumer.delivered.consumer_seq == consumer.delivered.stream_seq == len(sent), "no redelivery"
    assert consumer.num_ack_pending == 0


@pytest.mark.usefixtures("frames_backlog")
async def test_sigkill_of_a_detector_loses_no_frame(
    nc: NATS, nats_settings: NatsSettings, watcher: Watcher, components: ComponentRunner, coco_dir: Path
) -> None:
    js = nc.jetstream()
    await provision(js, nats_settings.model_copy(update={"consumer_ack_wait_s": 2.0}))
    procs = start_workers(components, "detector", 2, SIGHTWIRE_CONSUMER_ACK_WAIT_S="2")
    victim, survivor = procs
    await until(watcher, lambda: len(watcher.instances("detector")) == 2, 60, "both workers up", procs)
    jpegs = coco_jpegs(coco_dir, 12)
    sent = await publish_round_robin(js, jpegs, sessions=8, per_session=6)

    def victim_busy() -> bool:
        return sum(d.worker.endswith(f"-{victim.pid}") for d in watcher.detections) >= 4

    await until(watcher, victim_busy, 60, "the victim answering frames", procs)
    components.kill(victim)
    sent |= {(f"cam{s}", seq) for seq in range(7, 13) for s in range(8)}
    for seq in range(7, 13):
        for s in range(8):
            await publish_frame(js, frame(f"cam{s}", seq, jpegs[(seq + s) % len(jpegs)]))

    await until(watcher, lambda: sent <= watcher.answered(), 120, "every frame answered", [survivor])
    duplicates = len(watcher.detections) - len(watcher.answered())
    stored = (await js.stream_info(subjects.RESULTS_STREAM)).state.messages
    consumer = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
    redeliveries = consumer.delivered.consumer_seq - consumer.delivered.stream_seq
    print(f"frames={len(sent)} redeliveries={redeliveries} published_twice={duplicates} stored={stored}")
    assert watcher.answered() == sent
    assert redeliveries > 0, "the victim held frames when it was killed; they must have been redelivered"
    assert stored == len(sent), "RESULTS dedupes a result re-published after a redelivery"
    assert survivor.poll() is None


@pytest.mark.usefixtures("frames_backlog")
async def test_sigterm_finishes_in_flight_frames_and_exits_cleanly(
    nc: NATS, nats_settings: NatsSettings, watcher: Watcher, components: ComponentRunner, coco_dir: Path
) -> None:
    js = nc.jetstream()
    await provision(js, nats_settings.model_copy(update={"consumer_ack_wait_s": 2.0}))
    [first] = start_workers(components, "detector", 1, SIGHTWIRE_CONSUMER_ACK_WAIT_S="2")
    sent = await publish_round_robin(js, coco_jpegs(coco_dir, 12), sessions=6, per_session=8)
    await until(watcher, lambda: len(watcher.detections) >= 5, 60, "the first worker answering", [first])
    assert components.stop(first) == 0, ComponentRunner.log_of(first)[-3000:]
    [second] = start_workers(components, "detector", 1, SIGHTWIRE_CONSUMER_ACK_WAIT_S="2")
    await until(watcher, lambda: watcher.answered() == sent, 90, "every frame answered", [second])
    await until(watcher, lambda: watcher.processed("detector") == len(sent), 30, "final counters", [second])
    assert len(watcher.detections) == len(sent), "no frame processed twice across a graceful stop"
    assert {d.worker for d in watcher.detections} == watcher.instances("detector"), "both workers answered"
    assert len(watcher.instances("detector")) == 2


async def test_missing_model_exits_with_a_clear_error(components: ComponentRunner, tmp_path: Path) -> None:
    proc = components.start(
        "worker", "detector", env={"SIGHTWIRE_DETECTOR_MODEL": "yolov8n", "SIGHTWIRE_MODEL_DIR": str(tmp_path)}
    )
    assert proc.wait(60) == 2
    log = ComponentRunner.log_of(proc)
    assert "model unavailable" in log and "no pinned download" in log and "Traceback" not in log
