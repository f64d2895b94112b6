"""SSE over a real socket: wire format, per-client FPS on a shared inference stream, resume.

The gateway runs in uvicorn on 127.0.0.1; the FPS and resume tests use a real
detector worker with the real model and a real COCO photo, and a real
`sightwire worker scene` between RESULTS and the gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.natsserver import EmbeddedNatsServer
from shared.subjects import ResultKind
from tests.support import scene
from tests.support.gateway_app import gateway_settings, poll_until, serving_gateway
from tests.support.pipeline import jpeg_of, result_ids, start_workers
from tests.support.procs import ComponentRunner
from tests.support.sse import SseEvent, sse_events

PHOTO = "000000000139.jpg"  # a living room with a person, chairs and a TV


async def create(client: httpx.AsyncClient, **body: object) -> tuple[str, str]:
    response = await client.post("/stream/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["client_id"], response.json()["token"]


async def raw_lines(source: AsyncIterator[str], *until: str, limit: int = 200) -> list[str]:
    """Lines until one starting with each of `until` was seen (in any order)."""
    lines: list[str] = []
    wanted = set(until)
    async for line in source:
        lines.append(line)
        wanted = {u for u in wanted if not line.startswith(u)}
        if not wanted or len(lines) > limit:
            break
    return lines


async def test_wire_format_default_unnamed_named_on_request_and_final_event(
    nats_server: EmbeddedNatsServer, js: JetStreamContext
):
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, app),
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        sid, token = await create(client)
        hubs = app.state.runtime.hubs
        async with (
            client.stream("GET", f"/stream/events/{sid}?token={token}") as plain,
            client.stream("GET", f"/stream/events/{sid}?token={token}&events=named") as named,
        ):
            assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/event-stream")
            await poll_until(lambda: _clients(hubs, sid, 2))
            body = scene.result(1)
            seq_det = await scene.publish_scene(js, sid, 1, body)
            ev = await scene.publish_event(js, sid, "zone_enter", "ev-1", frame_seq=1)
            seq_err = await scene.publish_scene(js, sid, 2, scene.error("2", message="bad jpeg"))
            plain_iter, named_iter = plain.aiter_lines(), named.aiter_lines()
            plain_lines = await raw_lines(plain_iter, 'data: {"type":"error"', 'data: {"type":"event"')
            named_lines = await raw_lines(named_iter, 'data: {"type":"error"', 'data: {"type":"event"')
            deleted = await client.delete(f"/stream/sessions/{sid}", headers={"Authorization": f"Bearer {token}"})
            assert deleted.status_code == 204
            closing = [line async for line in plain_iter]
    assert any(line.startswith("retry: ") for line in plain_lines)
    assert f"id: {seq_det}" in plain_lines and f"id: {seq_err}" in plain_lines
    assert not any(line.startswith("event:") for line in plain_lines)  # EventSource.onmessage sees them
    assert f"data: {body.decode()}" in plain_lines  # the SCENE bytes, unchanged
    assert f"data: {ev.decode()}" in plain_lines and f"data: {ev.decode()}" in named_lines  # events beside results
    assert "event: detection_result" in named_lines and "event: error_result" in named_lines
    assert "event: event" in named_lines
    assert "event: session_closed" in closing  # and then the response ended
    assert any('"error_code":"SESSION_CLOSED"' in line for line in closing)
    assert not any(line.startswith("id:") for line in closing)


async def _clients(hubs: object, sid: str, n: int) -> bool:
    return bool(hubs.session_stats(sid)["clients"] == n)  # type: ignore[attr-defined]


async def test_sse_needs_the_session_token(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, _app),
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        sid, _token = await create(client)
        other_sid, other_token = await create(client)
        missing = await client.get(f"/stream/events/{sid}")
        wrong = await client.get(f"/stream/events/{sid}?token={other_token}")
        bad_fps = await client.get(f"/stream/events/{other_sid}?token={other_token}&fps_limit=31")
    assert (missing.status_code, missing.json()["error_code"]) == (401, "UNAUTHORIZED")
    assert (wrong.status_code, wrong.json()["error_code"]) == (403, "FORBIDDEN")
    assert (bad_fps.status_code, bad_fps.json()["error_code"]) == (422, "VALIDATION_ERROR")


class Reader:
    """Collects one SSE connection's detection results in a task."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[SseEvent] = []
        self.client, self.url, self.headers = client, url, headers or {}
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with self.client.stream("GET", self.url, headers=self.headers) as response:
            assert response.status_code == 200
            async for event in sse_events(response):
                if event.json()["type"] == "detection_result":
                    self.events.append(event)

    @property
    def seqs(self) -> list[int]:
        return [e.json()["data"]["seq"] for e in self.events]

    @property
    def ids(self) -> list[int]:
        return [int(e.id or 0) for e in self.events]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def feed(client: httpx.AsyncClient, sid: str, token: str, jpeg: bytes, fps: float, count: int) -> list[int]:
    """POST `count` frames paced at `fps` (a schedule, not a wait for anything); returns their seqs."""
    seqs, start = [], time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / fps - time.monotonic()))
        response = await client.post(
            f"/stream/process/{sid}?token={token}&frame_id=f{n}", content=jpeg, headers={"Content-Type": "image/jpeg"}
        )
        assert response.status_code == 202, response.text
        seqs.append(response.json()["seq"])
    return seqs


@pytest.fixture
def every_frame_answered(frames_backlog: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """However slow the machine: FRAMES keeps a backlog, and the scene stage waits long for a missing
    earlier result rather than dropping it as `late` (the session's max age is raised too, below)."""
    monkeypatch.setenv("SIGHTWIRE_SCENE_REORDER_WAIT_MS", "10000")


@pytest.mark.usefixtures("every_frame_answered")
async def test_two_clients_at_2_and_10_fps_share_one_inference_per_frame(
    nats_server: EmbeddedNatsServer, nc: NATS, js: JetStreamContext, components: ComponentRunner, coco_dir: Path
):
    await start_workers(components, nc, ("detector", "scene"))
    jpeg = jpeg_of(coco_dir / PHOTO)
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, app),
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        sid, token = await create(client, fps_limit=15, enable_depth=False, max_frame_age_ms=60_000)
        slow = Reader(client, f"/stream/events/{sid}?token={token}&fps_limit=2")
        fast = Reader(client, f"/stream/events/{sid}?token={token}&fps_limit=10")
        await poll_until(lambda: _clients(app.state.runtime.hubs, sid, 2))
        fed = await feed(client, sid, token, jpeg, fps=15, count=75)

        async def all_detected() -> bool:
            return len(await result_ids(js, sid, ResultKind.DET)) >= len(fed)

        await poll_until(all_detected, timeout_s=60, every_s=0.2)

        async def last_delivered() -> bool:  # latest wins: the newest result always arrives
            return bool(slow.seqs and fast.seqs and slow.seqs[-1] == fast.seqs[-1] == fed[-1])

        await poll_until(last_delivered, timeout_s=10)
        await slow.stop()
        await fast.stop()
        stats = app.state.runtime.hubs.session_stats(sid)
    assert len(await result_ids(js, sid, ResultKind.DET)) == len(fed) == 75  # one inference per frame
    assert await result_ids(js, sid, ResultKind.ERROR) == []
    assert 7 <= len(slow.seqs) <= 13, slow.seqs
    assert 30 <= len(fast.seqs) <= 56, fast.seqs
    for reader in (slow, fast):
        assert reader.seqs == sorted(set(reader.seqs)) and set(reader.seqs) <= set(fed)
        assert reader.ids == sorted(set(reader.ids))
    # the scene stage wrote one SCENE message per result (reordered, none dropped); the hub read each once
    assert stats["results"] == len(await scene.scene_ids(js, sid)) == len(fed), stats
    # the same photo every frame: its person keeps one track id from its second frame on (ByteTrack confirms)
    people = [
        sorted(d["track_id"] for d in e.json()["data"]["detections"] if d["label"] == "person") for e in fast.events[1:]
    ]
    assert people[0] and None not in people[0] and all(ids == people[0] for ids in people), people


@pytest.mark.usefixtures("frames_backlog")
async def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(
    nats_server: EmbeddedNatsServer, nc: NATS, js: JetStreamContext, components: ComponentRunner, coco_dir: Path
):
    await start_workers(components, nc, ("detector", "scene"))
    jpeg = jpeg_of(coco_dir / PHOTO)
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, app),
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        sid, token = await create(client, fps_limit=30, enable_depth=False)
        url = f"/stream/events/{sid}?token={token}"
        first = Reader(client, url)
        await poll_until(lambda: _clients(app.state.runtime.hubs, sid, 1))
        feeder = asyncio.create_task(feed(client, sid, token, jpeg, fps=5, count=60))
        await poll_until(lambda: _at_least(first, 4), timeout_s=30)
        await first.stop()
        last_id = first.ids[-1]

        async def missed_some() -> bool:
            return len([i for i in await scene.scene_ids(js, sid) if i > last_id]) >= 5

        await poll_until(missed_some, timeout_s=30)
        missed = [i for i in await scene.scene_ids(js, sid) if i > last_id]
        second = Reader(client, url, headers={"Last-Event-ID": str(last_id)})
        await poll_until(lambda: _at_least(second, len(missed) + 4), timeout_s=30)
        await second.stop()
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        skipped = app.state.runtime.hubs.session_stats(sid)["skipped"]
    assert second.ids[: len(missed)] == missed  # exactly the missed results, in order, first
    received = first.ids + second.ids
    assert received == sorted(set(received))  # never a duplicate, never backwards
    stored = [i for i in await scene.scene_ids(js, sid) if i <= received[-1]]
    assert len(set(stored) - set(received)) <= skipped  # anything else missing was replaced by a newer result


async def _at_least(reader: Reader, n: int) -> bool:
    return len(reader.events) >= n


async def test_result_published_right_after_headers_is_not_missed(
    nats_server: EmbeddedNatsServer, js: JetStreamContext
):
    """Regression: the viewer joined the hub only when the body started, so a frame sent
    from EventSource's `onopen` (fired on the headers) could lose its result."""
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, _app),
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        sid, token = await create(client)
        async with client.stream("GET", f"/stream/events/{sid}?token={token}") as stream:
            assert stream.status_code == 200  # headers only: nothing of the body read yet
            seq = await scene.publish_scene(js, sid, 1, scene.result(1))
            lines = await asyncio.wait_for(raw_lines(stream.aiter_lines(), f"id: {seq}"), 15)
    assert f"id: {seq}" in lines
