"""TO WIRE AFTER THE MERGE (issues 8 + 9): rename to test_events_clip.py once `sightwire worker scene`
and the gateway's EVENTS fan-out (SSE `type: "event"`) are on main. Not collected until then (no
`test_` prefix), because the scene worker is not on the `events` branch.

The clip (tests/support/event_clip.py: a COCO person crossing the line `gate` into the zone `bay`)
is uploaded at its frame rate to a session with that zone/line config and a webhook, through a
stack of 2 gateways, 2 scene workers, 2 detectors and a notifier. Each of the four expected events
(line_cross in, zone_enter, dwell, zone_exit) must arrive exactly once on: an SSE viewer of each
gateway, REST replay and the webhook. Then again with the scene owner SIGKILLed mid-path.
Prints capture-to-webhook latency p50/p95 (the closing note's number).

What may need adjusting when wiring: the scene worker's CLI name (`worker scene`) and how a test
finds the owner of a session (here: the `sw-scene-leases` KV key = sid, value = instance id; adapt
to the scene engineer's ownership mechanism).
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

from tests.support import event_clip
from tests.support.net import free_port
from tests.support.pipeline import start_workers
from tests.support.procs import ComponentRunner
from tests.support.sse import sse_events
from tests.support.webhook_receiver import WebhookReceiver

SCENE_OWNERS_BUCKET = "sw-scene-leases"  # ADJUST to the scene stage's ownership bucket


async def start_stack(components: ComponentRunner, nc: NATS) -> list[str]:
    await start_workers(components, nc, ("detector", "detector"))
    for _ in range(2):
        components.start("worker", "scene", env={"SIGHTWIRE_DRAIN_TIMEOUT_S": "1"})
    components.start("worker", "notifier", env={"SIGHTWIRE_WEBHOOK_BACKOFF_S": "[0.5, 1]"})
    urls = []
    for _ in range(2):
        port = free_port()
        components.start("gateway", env={"SIGHTWIRE_HOST": "127.0.0.1", "SIGHTWIRE_PORT": str(port)})
        urls.append(f"http://127.0.0.1:{port}")
    async with httpx.AsyncClient() as http:
        for url in urls:
            for _ in range(600):
                try:
                    if (await http.get(f"{url}/stream/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
    return urls


async def collect_sse(url: str, sid: str, token: str, into: list[dict[str, Any]], stop: asyncio.Event) -> None:
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", f"{url}/stream/events/{sid}", params={"token": token}) as response,
    ):
        async for message in sse_events(response):
            body = message.json()
            if body.get("type") == "event":
                into.append(body["event"])
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
        stop = asyncio.Event()
        viewers = [asyncio.create_task(collect_sse(u, sid, token, seen[i], stop)) for i, u in enumerate(urls)]

        async def kill() -> None:
            kv = await js.key_value(SCENE_OWNERS_BUCKET)
            owner = (await kv.get(sid)).value.decode()
            proc = next(p for p in components.procs if owner.endswith(f"-{p.pid}"))
            proc.send_signal(signal.SIGKILL)

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
        arrivals = [r.arrived_at - ev["timestamp"] for r, ev in zip(receiver.accepted(), hooks, strict=True)]
        print(
            f"\ncapture -> webhook: p50 {statistics.median(arrivals) * 1000:.0f} ms, max {max(arrivals) * 1000:.0f} ms"
        )
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
        viewer = asyncio.create_task(collect_sse(urls[1], sid, token, seen, stop))
        await asyncio.sleep(10)  # frames flowing (ADJUST: wait for a detection_result instead)
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
