"""`sightwire up` end to end: embedded broker, four components, a frame in, a stop sign out,
and a clean stop of every process on SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats

from shared.natsserver import EmbeddedNatsServer
from tests.support.net import free_port


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def wait_healthy(base: str, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sightwire up exited early"
        try:
            if httpx.get(f"{base}/stream/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("stack never became ready")


def first_detection(base: str, session: dict[str, str], jpeg: bytes, deadline_s: float) -> dict[str, object]:
    payload = {"image_data": base64.b64encode(jpeg).decode(), "frame_id": "stop-1", "timestamp": time.time()}
    with httpx.Client(base_url=base, timeout=10) as client, client.stream("GET", session["sse_endpoint"]) as events:
        upload = client.post(session["upload_endpoint"], json=payload)
        assert upload.status_code in (200, 202), upload.text
        deadline = time.monotonic() + deadline_s
        for line in events.iter_lines():
            assert time.monotonic() < deadline, "no detection result in time"
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("type") == "detection_result":
                    return message
    raise AssertionError("stream ended without a result")


def test_up_runs_the_stack_and_stops_cleanly(tmp_path: Path, model_dir: Path, coco_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SIGHTWIRE_NATS_URL"}
    env |= {"SIGHTWIRE_MODEL_DIR": str(model_dir), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", "--port", str(port)], env=env, stderr=log, stdout=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, 90)
        kids = children_of(proc.pid)
        assert len(kids) >= 6  # nats-server + gateway + ingest + detector + depth + scene
        session = httpx.post(f"{base}/stream/sessions", json={"fps_limit": 5, "confidence_threshold": 0.3}).json()
        message = first_detection(base, session, (coco_dir / "000000000724.jpg").read_bytes(), 60)
        labels = [d["label"] for d in message["data"]["detections"]]  # type: ignore[index]
        assert "stop sign" in labels
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
    assert not [pid for pid in kids if alive(pid)]
    assert (tmp_path / "cache" / "sightwire" / "nats").is_dir()  # embedded store in the user cache


async def test_up_with_an_external_nats_starts_no_broker(
    tmp_path: Path, model_dir: Path, nats_server: EmbeddedNatsServer
) -> None:
    """SIGHTWIRE_NATS_URL set: the six components use that server; no nats-server is started."""
    port = free_port()
    env = os.environ | {
        "SIGHTWIRE_NATS_URL": nats_server.url,
        "SIGHTWIRE_MODEL_DIR": str(model_dir),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    with (tmp_path / "up.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up", "--port", str(port)], env=env, stderr=log, stdout=log
        )
    try:
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}", proc, 90)
        kids = children_of(proc.pid)
        commands = {Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() for pid in kids}
        nc = await nats.connect(nats_server.url)
        streams = {s.config.name for s in await nc.jetstream().streams_info()}
        await nc.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
    assert len(kids) == 6 and commands == {sys.executable}  # gateway, ingest, detector, depth, scene, notifier
    assert {"FRAMES", "RESULTS"} <= streams  # provisioned on the given server
    assert not (tmp_path / "cache" / "sightwire" / "nats").exists()
