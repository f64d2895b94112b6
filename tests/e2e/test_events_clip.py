"""Events end to end: a clip with known ground truth through the whole stack (issues 8 + 9).

The clip (tests/support/event_clip.py: a COCO person crossing the line `gate` into the zone `bay`)
is uploaded at its frame rate to a session with that zone/line config and a webhook, through a
stack of 2 gateways, 2 scene workers, 2 detectors and a notifier (real processes, real models).
Each of the four expected events (line_cross in, zone_enter, dwell, zone_exit) must arrive exactly
once on: an SSE viewer of each gateway, REST replay and the webhook. Then again with the scene
owner (its `sw-scene-leases` entry: key = sid, value = instance id `host-pid`) SIGKILLed mid-path.
Prints capture-to-webhook latency p50/p95 (the closing note's number). A third test stops and
restarts an RTSP camera: source_lost then source_restored, once each, everywhere.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import subjects
from tests.support import event_clip
from tests.support.net import free_port
from tests.support.procs import ComponentRunner
from tests.support.sse import sse_events
from tests.support.webhook_receiver import WebhookReceiver

# a short lease keeps the failover (and the test) short; the survivor claims within TTL + a claim interval
SCENE_ENV = {"SIGHTWIRE_SCENE_LEASE_TTL_S": "3", "SIGHTWIRE_SCENE_PEER_TIMEOUT_S": "3",
             "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.5"}  # fmt: skip


async def wait_for_instances(components: ComponentRunner, nc: NATS, wanted: dict[str, int]) -> None:
    """Until heartbeats came from `wanted[kind]` distinct instances of each kind (generous deadline)."""
    seen: dict[str, set[str]] = {kind: set() for kind in wanted}

    async def on_beat(msg: Any) -> None:
        parts = msg.subject.split(".")
        if len(parts) >= 4 and parts[2] in seen:
            seen[parts[2]].add(parts[3])

    sub = await nc.subscribe(subjects.HEARTBEAT_ALL, cb=on_beat)
    try:
        deadline = time.monotonic() + 120
        while any(len(seen[k]) < n for k, n in wanted.items()):
            if time.monotonic() > deadline:
                logs = "\n".join(components.log_with_stacks(p) for p in components.procs)
                raise AssertionError(f"instances {wanted} not up; heartbeats from {seen}\n{logs}")
            await asyncio.sleep(0.1)
    finally:
        await sub.unsubscribe()


async def start_stack(components: ComponentRunner, nc: NATS) -> list[str]:
    """2 detectors, 2 scene workers, a notifier and 2 gateways; returns the gateways' URLs once healthy."""
    for _ in range(2):
        components.start("worker", "detector", env={"SIGHTWIRE_DRAIN_TIMEOUT_S": "1"})
        components.start("worker", "scene", env=SCENE_ENV)
    components.start("worker", "notifier", env={"SIGHTWIRE_WEBHOOK_BACKOFF_S": "[0.5, 1]"})
    urls = []
    for _ in range(2):
        port = free_port()
        components.start("gateway", env={"SIGHTWIRE_HOST": "127.0.0.1", "SIGHTWIRE_PORT": str(port)})
        urls.append(f"http://127.0.0.1:{port}")
    await wait_for_instances(components, nc, {"detector": 2, "scene": 2})
    async with httpx.AsyncClient() as http:
        for url in urls:
            for _ in range(1200):
                try:
                    if (await http.get(f"{url}/stream/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"gateway {url} not healthy")
    return urls


async def collect_sse(
    url: str,
    sid: str,
    token: str,
    into: list[dict[str, Any]],
    stop: asyncio.Event,
    results: list[int] | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Events of one SSE connection into `into`; the seq of each detection result into `results`."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", f"{url}/stream/events/{sid}", params={"token": token}) as response,
    ):
        assert response.status_code == 200
        if ready is not None:
            ready.set()
        async for message in sse_events(response):
            body = message.json()
            if body.get("type") == "event":
                into.append(body["event"])
            elif body.get("type") == "detection_result" and results is not None:
                results.append(body["data"]["seq"])
            if stop.is_set():
                return


async def upload_clip(url: str, sid: str, token: str, clip: event_clip.EventClip, kill: Any = None) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        for i, jpeg in enumerate(clip.jpegs()):
            if kill is not None and i == len(clip.frames) // 3:
                await kill()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
            response = await http.post(
                f"/stream/process/{sid}", content=jpeg, headers=headers, params={"timestamp": str(time.time())}
            )
            assert response.status_code == 202, response.text
            await asyncio.sleep(1 / clip.fps)


def kinds_of(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["kind"], e.get("direction")) for e in events if e["kind"] not in ("session_closed",)]


LATENCIES_S: list[float] = []  # capture of the triggering frame -> webhook arrival, every clip run


async def owner_of(leases: Any, sid: str, timeout_s: float = 60) -> str:
    """The instance id holding the session's scene lease (waits for one to claim it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            entry = await leases.get(sid)
            if entry.value:
                return str(entry.value.decode())
        except Exception:  # nats-py raises KeyNotFoundError until the session is claimed
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no scene owner of {sid}")
        await asyncio.sleep(0.1)


async def run_clip(
    components: ComponentRunner, nc: NATS, js: JetStreamContext, coco_dir: Path, *, kill_owner: bool
) -> None:
    urls = await start_stack(components, nc)
    receiver = await WebhookReceiver().start()
    clip = event_clip.build(coco_dir)
    try:
        async with httpx.AsyncClient(base_url=urls[0]) as http:
            body = {**clip.config(), "webhooks": [{"url": receiver.url, "secret": "k"}], "fps_limit": 30}
            session = (await http.post("/stream/sessions", json=body)).json()
        sid, token = session["client_id"], session["token"]
        seen: list[list[dict[str, Any]]] = [[], []]
        stop, ready = asyncio.Event(), [asyncio.Event(), asyncio.Event()]
        viewers = [
            asyncio.create_task(collect_sse(u, sid, token, seen[i], stop, ready=ready[i])) for i, u in enumerate(urls)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
        leases = await js.key_value(subjects.SCENE_LEASES_BUCKET)
        first_owner = await owner_of(leases, sid)
        scene_pids = {p.pid for p in components.procs if p.args[-1] == "scene"}
        victims: list[int] = []

        async def kill() -> None:
            owner = await owner_of(leases, sid)
            (proc,) = [p for p in components.procs if owner.endswith(f"-{p.pid}")]
            assert proc.pid in scene_pids and proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            victims.append(proc.pid)

        await upload_clip(urls[0], sid, token, clip, kill if kill_owner else None)
        deadline = time.monotonic() + 60
        while len(receiver.accepted()) < len(event_clip.EXPECTED) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # anything extra (a repeat) would arrive now
        stop.set()
        for v in viewers:
            v.cancel()
        async with httpx.AsyncClient(base_url=urls[1]) as http:
            replay = (await http.get(f"/stream/sessions/{sid}/events", params={"token": token})).json()["events"]
        hooks = [json.loads(r.body)["event"] for r in receiver.accepted()]
        for where, events in (("sse A", seen[0]), ("sse B", seen[1]), ("replay", replay), ("webhook", hooks)):
            assert kinds_of(events) == event_clip.EXPECTED, (where, events)
        assert [e["id"] for e in seen[0]] == [e["id"] for e in seen[1]] == [e["id"] for e in replay]
        if kill_owner:  # the survivor took the session over
            assert victims and not (await owner_of(leases, sid)).endswith(f"-{victims[0]}")
        else:
            assert await owner_of(leases, sid) == first_owner  # nobody took it away
        arrivals = [r.arrived_at - ev["timestamp"] for r, ev in zip(receiver.accepted(), hooks, strict=True)]
        LATENCIES_S.extend(arrivals)
        for label, values in (("this run", arrivals), ("all runs", LATENCIES_S)):
            ms = sorted(a * 1000 for a in values)
            p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
            print(f"\ncapture -> webhook, {label} (kill_owner={kill_owner}), {len(ms)} events: "
                  f"p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, all {[round(m) for m in ms]}")  # fmt: skip
    finally:
        await receiver.stop()


async def test_the_clip_gives_each_event_once_everywhere(
    components: ComponentRunner, nc: NATS, js: JetStreamContext, coco_dir: Path
) -> None:
    await run_clip(components, nc, js, coco_dir, kill_owner=False)


async def test_the_clip_survives_the_scene_owner_being_killed(
    components: ComponentRunner, nc: NATS, js: JetStreamContext, coco_dir: Path
) -> None:
    await run_clip(components, nc, js, coco_dir, kill_owner=True)


# ---- camera health through the whole stack (also to wire after the merge) ---------------------


async def test_camera_stop_and_restart_give_source_lost_then_restored_once_everywhere(
    components: ComponentRunner, nc: NATS, js: JetStreamContext, coco_dir: Path, tmp_path: Path
) -> None:
    """Stopping the RTSP camera gives `source_lost`, its restart `source_restored`, each once, on
    SSE, REST replay and the webhook (issue 9's camera-health test)."""
    from tests.support import clips
    from tests.support.rtsp_server import RtspServer

    pattern = clips.write_frame_folder(tmp_path / "rtsp-frames", clips.coco_photos(coco_dir, 3))
    camera = RtspServer(pattern, fps=10, log_path=tmp_path / "rtsp-server.log")
    camera.start(0)
    receiver = await WebhookReceiver().start()
    try:
        urls = await start_stack(components, nc)
        components.start("ingest", env={"SIGHTWIRE_FAILURE_LIMIT": "100", "SIGHTWIRE_RECONNECT_MAX_S": "1"})
        async with httpx.AsyncClient(base_url=urls[0]) as http:
            body = {"source": {"type": "rtsp", "url": camera.url()}, "fps_limit": 5,
                    "webhooks": [{"url": receiver.url, "kinds": ["source_lost", "source_restored"]}]}  # fmt: skip
            session = (await http.post("/stream/sessions", json=body)).json()
        sid, token = session["client_id"], session["token"]
        seen: list[dict[str, Any]] = []
        stop = asyncio.Event()
        results: list[int] = []
        viewer = asyncio.create_task(collect_sse(urls[1], sid, token, seen, stop, results))
        deadline = time.monotonic() + 120
        while len(results) < 3 and time.monotonic() < deadline:  # frames flowing through the whole stack
            await asyncio.sleep(0.2)
        assert len(results) >= 3, results
        port = camera.port
        camera.kill()
        deadline = time.monotonic() + 60
        while not any(e["kind"] == "source_lost" for e in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(camera.start, port) == port
        while len(receiver.accepted()) < 2 and time.monotonic() < deadline + 60:
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)
        stop.set()
        viewer.cancel()
        async with httpx.AsyncClient(base_url=urls[0]) as http:
            replay = (await http.get(f"/stream/sessions/{sid}/events", params={"token": token})).json()["events"]
        hooks = [json.loads(r.body)["event"] for r in receiver.accepted()]
        expected = [("source_lost", None), ("source_restored", None)]
        for where, events in (("sse", seen), ("replay", replay), ("webhook", hooks)):
            assert kinds_of(events) == expected, (where, events)
    finally:
        camera.kill()
        await receiver.stop()
