"""kill -9 of the embedded nats-server under `sightwire up`, mid-stream.

`up` restarts it on the same store and port; uploads answer 503 (never 500)
while it is away; every frame answered 202 still gets its result (JetStream
kept it on disk, the worker's durable resumes); the SSE viewer hears of the
outage (a non-final UNAVAILABLE error) on the same open stream, then sees
results again, up to the last frame sent: the scene stage re-creates its RESULTS consumers as
soon as the link is back (workers/scene/owner.py `relink`), so the first result after the kill
reaches the viewer right after its frame is accepted (it took ~18 s when the scene stage waited for
its ordered consumers to notice). Timings are printed (the report's recovery figures), not asserted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from tests.faults.results import results_of
from tests.faults.stack import start_up, wait_ready
from tests.faults.viewer import SseViewer

PHOTO = "000000000139.jpg"


def upload(client: httpx.Client, endpoint: str, jpeg: bytes, frame_id: str) -> httpx.Response:
    """A raw JPEG upload; the endpoint carries `?token=`, so the frame id goes in a header."""
    return client.post(endpoint, content=jpeg, headers={"Content-Type": "image/jpeg", "X-Frame-Id": frame_id})


def wait_for(check: object, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < timeout_s, f"{what} not within {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_broker_kill_under_up(tmp_path: Path, model_dir: Path, coco_dir: Path) -> None:
    stack = start_up(tmp_path, model_dir, {"SIGHTWIRE_SSE_PING_S": "2", "SIGHTWIRE_STREAM_REPLICAS": "1"})
    viewer: SseViewer | None = None
    try:
        wait_ready(stack, 120)
        ready = stack.wait_log("sightwire is up", 10)
        assert str(ready["broker"]).startswith("embedded, supervised"), ready
        broker_pid = stack.child_pid("nats-server")
        jpeg = (coco_dir / PHOTO).read_bytes()
        client = httpx.Client(base_url=stack.base, timeout=30)
        config = {"fps_limit": 30, "enable_depth": False, "confidence_threshold": 0.3, "max_frame_age_ms": 60_000}
        session = client.post("/stream/sessions", json=config).json()
        viewer = SseViewer(stack.base, session["sse_endpoint"]).start()
        wait_for(lambda: viewer.connects >= 1, 30, "viewer connected")
        accepted: list[int] = []
        for i in range(6):
            response = upload(client, session["upload_endpoint"], jpeg, f"before-{i}")
            assert response.status_code == 202, response.text
            accepted.append(response.json()["seq"])
            time.sleep(0.3)
        wait_for(lambda: len(viewer.results()) >= 1, 90, "a first result")

        os.kill(broker_pid, signal.SIGKILL)
        killed, killed_wall_ns = time.monotonic(), time.time_ns()
        statuses: list[int] = []
        while True:
            response = upload(client, session["upload_endpoint"], jpeg, f"during-{len(statuses)}")
            statuses.append(response.status_code)
            if response.status_code == 202:
                accepted.append(response.json()["seq"])
                break
            assert time.monotonic() - killed < 90, f"uploads never came back: {statuses[-5:]}"
            time.sleep(0.2)
        uploads_back_s = time.monotonic() - killed
        assert set(statuses[:-1]) <= {503}, statuses  # unavailable, never 500
        after_kill = accepted[-1]
        for i in range(5):
            response = upload(client, session["upload_endpoint"], jpeg, f"after-{i}")
            assert response.status_code == 202, response.text
            accepted.append(response.json()["seq"])
            time.sleep(0.3)
        seq_after = lambda: [e for e in viewer.results() if e.body["data"]["seq"] >= after_kill]  # noqa: E731
        wait_for(lambda: bool(seq_after()), 90, "a result for a frame sent after the restart")
        viewer_back_s = seq_after()[0].at - killed
        # the viewer keeps up again: the last frame sent also reaches it, on the same open stream
        wait_for(lambda: any(e.body["data"]["seq"] == accepted[-1] for e in seq_after()), 90, "the last result")
        told = [e for e in viewer.errors() if e.body.get("error_code") == "UNAVAILABLE" and e.at >= killed]
        assert told and told[0].at < seq_after()[0].at, viewer.errors()  # told of the outage, then results resume
        assert viewer.connects == 1, viewer.connects  # the stream stayed open throughout

        # the scene stage read on from where it was at once, rather than waiting for its consumer to notice
        stack.wait_log("results consumer re-created", 10, sid=session["client_id"])
        restarted = stack.child_pid("nats-server")
        assert restarted != broker_pid
        exited = stack.wait_log("component exited", 10, component="nats-server")
        assert exited["code"] == -signal.SIGKILL
        finished: dict[int, int] = {}
        results = asyncio.run(results_of(str(ready["nats"]), session["client_id"], set(accepted), 90, finished))
        missing = sorted(set(accepted) - set(results))
        pipeline_back_s = (finished.get(after_kill, killed_wall_ns) - killed_wall_ns) / 1e9
        print(
            f"\nbroker kill: {len(accepted)} frames accepted, {len(missing)} without a result; "
            f"uploads back after {uploads_back_s:.2f} s ({len(statuses) - 1} answered 503), "
            f"first result published after {pipeline_back_s:.2f} s, "
            f"viewer result after {viewer_back_s:.2f} s ({viewer_back_s - uploads_back_s:.2f} s after the first "
            f"upload accepted again); viewer reconnects {viewer.connects - 1}, "
            f"error events {len(viewer.errors())}"
        )
        assert not missing, f"accepted frames without a result: {missing}"
        assert all(results[s] == "det" for s in accepted), results
    finally:
        if viewer is not None:
            viewer.close()
        code = stack.stop()
    assert code == 0, stack.log_path.read_text()[-3000:]
