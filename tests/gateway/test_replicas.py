"""Two gateway replicas on one NATS, one session: every viewer gets the same bytes for the same message.

Each replica is a real app on its own uvicorn socket with its own NATS
connection; the test publishes what the scene stage would (SCENE messages with
track ids and distances, EVENTS) straight into the real nats-server and reads
real SSE streams. Viewers: one live on each replica, one that joins late, one
that disconnects from replica A and resumes on replica B with `Last-Event-ID`,
and one at 1 result/s that must still get every event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from nats.js import JetStreamContext

from shared.natsserver import EmbeddedNatsServer
from tests.support import scene
from tests.support.gateway_app import gateway_settings, poll_until, serving_gateway
from tests.support.sse import sse_events


class Viewer:
    """One SSE connection: SCENE messages by SSE id (the data line as sent), events in order."""

    def __init__(self, client: httpx.AsyncClient, url: str, last_event_id: int | None = None) -> None:
        self.messages: dict[int, str] = {}
        self.order: list[int] = []
        self.events: list[str] = []
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        self.task = asyncio.create_task(self._run(client, url, headers))

    async def _run(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        async with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            async for event in sse_events(response):
                kind = event.json()["type"]
                if kind == "event":
                    assert event.id is None  # events carry no SSE id
                    self.events.append(event.data)
                elif kind in ("detection_result", "error"):
                    assert event.id is not None
                    self.messages[int(event.id)] = event.data
                    self.order.append(int(event.id))

    def has(self, event_id: int) -> Callable[[], Any]:
        async def check() -> bool:
            return event_id in self.messages

        return check

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def clients(app: Any, sid: str, n: int) -> Callable[[], Any]:
    async def check() -> bool:
        return bool(app.state.runtime.hubs.session_stats(sid)["clients"] == n)

    return check


async def all_have(viewers: list[Viewer], event_id: int) -> None:
    for viewer in viewers:
        await poll_until(viewer.has(event_id), timeout_s=20)


async def test_two_replicas_serve_one_session_with_identical_messages(
    nats_server: EmbeddedNatsServer, js: JetStreamContext
):
    settings = gateway_settings(nats_server.url)
    async with (
        serving_gateway(settings) as (base_a, app_a),
        serving_gateway(settings) as (base_b, app_b),
        httpx.AsyncClient(timeout=30) as client,
    ):
        created = await client.post(f"{base_a}/stream/sessions", json={"fps_limit": 30})
        sid, token = created.json()["client_id"], created.json()["token"]

        def url(base: str, extra: str = "") -> str:
            return f"{base}/stream/events/{sid}?token={token}{extra}"

        on_a, on_b = Viewer(client, url(base_a)), Viewer(client, url(base_b))
        leaver = Viewer(client, url(base_a))
        slow = Viewer(client, url(base_b, "&fps_limit=1"))
        await poll_until(clients(app_a, sid, 2))
        await poll_until(clients(app_b, sid, 2))

        published: dict[int, bytes] = {}
        events: list[bytes] = []

        async def publish(n: int, wait_for: list[Viewer]) -> int:
            people = [scene.person(n % 5 + 1, distance_m=2.0 + n / 10), scene.person(9, x=420.0, distance_m=7.5)]
            body = scene.result(n, people) if n % 7 else scene.error(str(n))
            event_id = await scene.publish_scene(js, sid, 100 + n, body)
            published[event_id] = body
            await all_have(wait_for, event_id)
            return event_id

        for n in range(1, 9):  # paced: every live viewer gets every message
            await publish(n, [on_a, on_b, leaver])
        await leaver.stop()
        left_at = leaver.order[-1]
        late = Viewer(client, url(base_b))
        await poll_until(clients(app_b, sid, 3))
        joined_after = max(published)
        for n in range(9, 17):  # the leaver misses these
            await publish(n, [on_a, on_b, late])
        resumed = Viewer(client, url(base_b), last_event_id=left_at)  # on the other replica
        await poll_until(resumed.has(max(published)), timeout_s=20)
        for n in range(17, 21):
            last = await publish(n, [on_a, on_b, late, resumed])

        paced_ids = set(published)
        # a burst: results faster than the slow viewer's 1/s, events among them
        for n in range(21, 31):
            body = scene.result(n, [scene.person(3)])
            last = await scene.publish_scene(js, sid, 100 + n, body)
            published[last] = body
            events.append(await scene.publish_event(js, sid, "zone_enter", f"{sid}-ev-{n}", frame_seq=n))
        await all_have([on_a, on_b, late, resumed, slow], last)

        async def slow_has_every_event() -> bool:
            return len(slow.events) == len(events)

        await poll_until(slow_has_every_event, timeout_s=20)
        for viewer in (on_a, on_b, late, resumed, slow):
            await viewer.stop()

    sent = {event_id: body.decode() for event_id, body in published.items()}
    paced = {i: b for i, b in sent.items() if i in paced_ids}
    burst = set(sent) - paced_ids
    # every viewer got exactly the published bytes for every id it received, in increasing order
    for viewer in (on_a, on_b, late, resumed, slow, leaver):
        assert viewer.messages == {i: sent[i] for i in viewer.messages}
        assert viewer.order == sorted(set(viewer.order))
    # the live viewers on both replicas: every paced message, identical
    assert {i: on_a.messages[i] for i in paced} == {i: on_b.messages[i] for i in paced} == paced
    # the late joiner: everything from its join on; the resumed viewer: exactly what it missed, then live
    assert {i: late.messages[i] for i in paced if i > joined_after} == {
        i: b for i, b in paced.items() if i > joined_after
    }
    assert resumed.order[: len([i for i in paced if i > left_at])] == [i for i in sorted(paced) if i > left_at]
    assert set(leaver.order) & set(resumed.order) == set()  # no message twice across the reconnect
    assert set(leaver.order) | set(resumed.order) >= set(paced)  # and none lost
    # events: to every viewer, all of them, never thinned by the FPS limit
    wanted = [e.decode() for e in events]
    assert on_a.events == on_b.events == late.events == resumed.events == slow.events == wanted
    assert last in slow.messages and len(burst & set(slow.messages)) < len(burst)  # results thinned, newest kept
