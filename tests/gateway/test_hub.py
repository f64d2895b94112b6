"""Hubs against a real nats-server: finished messages published to SCENE/EVENTS, the real gateway runtime.

No workers here: the tests publish what the scene stage would, so that every
rule of the hub (sharing, forwarding bytes as they are, events beside results,
errors, close, resume) is checked exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext

from gateway.fanout import ClientSubscription, OutMessage
from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from tests.support import scene
from tests.support.gateway_app import Gateway, gateway_settings, poll_until, running_gateway


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url, hub_grace_s=0.2)) as gw:
        yield gw


async def next_of(sub: ClientSubscription, timeout: float = 10.0) -> OutMessage:
    msg = await sub.next(timeout)
    assert msg is not None, "no message within the timeout"
    return msg


async def test_one_hub_serves_all_viewers_the_scene_bytes_unchanged(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    hubs = gateway.runtime.hubs
    body = scene.result(7, [scene.person(4), scene.person(5, x=400.0, distance_m=6.25)])
    async with hubs.subscribe(sid, "sse", 30) as a, hubs.subscribe(sid, "ws", 30) as b:
        assert hubs.global_stats()["sessions"] == 1
        event_id = await scene.publish_scene(js, sid, 11, body)
        got_a, got_b = await next_of(a), await next_of(b)
    assert got_a is got_b  # parsed once, shared
    assert got_a.event_id == event_id and got_a.kind == "detection_result" and got_a.seq == 7
    assert got_a.json_bytes() == body  # forwarded as published: track ids and distances are the scene stage's
    assert got_a.payload == json.loads(body)
    assert got_a.captured_at_ns is not None and got_a.captured_at_ns > 0
    assert hubs.session_stats(sid)["delivered"] == 2


async def test_fps_changes_apply_without_reconnecting(gateway: Gateway):
    session = await gateway.create_session(fps_limit=20)
    sid, token = session["client_id"], session["token"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        assert sub.delivery_fps == 20
        response = await gateway.client.patch(
            f"/stream/sessions/{sid}/config", json={"fps_limit": 3}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text

        async def applied() -> bool:
            return sub.delivery_fps == 3

        await poll_until(applied)


async def test_unreadable_scene_messages_are_dropped_and_counted(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        await scene.publish_scene(js, sid, 1, scene.result(10))
        assert (await next_of(sub)).seq == 10
        await scene.publish_scene(js, sid, 2, b"\x93not json")
        await scene.publish_scene(js, sid, 3, b'{"type": "something_else"}')
        await scene.publish_scene(js, sid, 4, scene.result(11))
        assert (await next_of(sub)).seq == 11
        stats = gateway.runtime.hubs.global_stats()
    assert stats["dropped"] == {"bad_message": 2}


async def test_error_messages_pass_through(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "ws", 30) as sub:
        body = scene.error("f-5")
        event_id = await scene.publish_scene(js, sid, 5, body)
        msg = await next_of(sub)
    assert msg.kind == "error" and msg.event_id == event_id
    assert msg.json_bytes() == body and msg.payload["error_code"] == "INVALID_IMAGE"


async def test_events_reach_every_viewer_even_when_fps_drops_results(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    hubs = gateway.runtime.hubs
    async with hubs.subscribe(sid, "sse", 1) as slow, hubs.subscribe(sid, "ws", 30) as fast:
        await scene.publish_scene(js, sid, 1, scene.result(1))
        assert (await next_of(slow)).seq == 1 and (await next_of(fast)).seq == 1  # slow's token is spent
        sent = []
        started_s = time.monotonic()
        for n in range(2, 6):  # results and events interleaved, faster than 1/s
            await scene.publish_scene(js, sid, n, scene.result(n))
            sent.append(await scene.publish_event(js, sid, "zone_enter", f"ev-{n}", frame_seq=n))

        async def all_events_here() -> bool:
            return hubs.session_stats(sid)["events"] == 4

        await poll_until(all_events_here)
        slow_got = [await next_of(slow) for _ in range(4)]
        fast_got: list[OutMessage] = []
        while len(fast_got) < 4:  # the fast viewer may skip results too (they came faster than 30/s)
            if (msg := await next_of(fast)).kind == "event":
                fast_got.append(msg)
        slow_results = 0
        while (msg := await slow.next(0.05)) is not None:
            slow_results += msg.kind == "detection_result"
        elapsed_s = time.monotonic() - started_s
    assert [m.kind for m in slow_got] == ["event"] * 4  # events never wait for the FPS limiter
    assert [m.json_bytes() for m in slow_got] == sent == [m.json_bytes() for m in fast_got]
    assert all(m.event_id == 0 for m in slow_got)  # no SSE id: Last-Event-ID names SCENE sequences
    # the results were thinned by latest-wins: each of the 4 was delivered or counted as skipped, but for the
    # newest, which may still wait for a token; and the 1/s client got no more than its bucket allows over the
    # time this took (a loaded machine is slow)
    assert 3 <= slow_results + slow.skipped <= 4, (slow_results, slow.skipped)
    assert slow_results <= 1 + int(elapsed_s) and slow.skipped >= 1, (slow_results, elapsed_s)


async def test_session_end_sends_a_final_event(gateway: Gateway):
    session = await gateway.create_session()
    sid, token = session["client_id"], session["token"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        response = await gateway.client.delete(f"/stream/sessions/{sid}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 204
        msg = await next_of(sub)
        assert msg.kind == "closed" and msg.payload["error_code"] == "SESSION_CLOSED"
        assert await sub.next(0.05) is None
    assert gateway.runtime.hubs.global_stats()["sessions"] == 0


async def test_a_session_deleted_by_another_replica_closes_streams_here(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        kv = await js.key_value(subjects.SESSIONS_BUCKET)
        await kv.delete(sid)
        msg = await next_of(sub)
    assert msg.kind == "closed"


async def test_hub_closes_after_the_last_viewer_leaves(gateway: Gateway):
    sid = (await gateway.create_session())["client_id"]
    hubs = gateway.runtime.hubs
    async with hubs.subscribe(sid, "sse", 30):
        pass
    assert hubs.global_stats()["sessions"] == 1  # within the grace period

    async def gone() -> bool:
        return hubs.global_stats()["sessions"] == 0

    await poll_until(gone)


async def test_resume_replays_the_missed_scene_messages_then_joins_live(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    other = (await gateway.create_session())["client_id"]
    hubs = gateway.runtime.hubs
    async with hubs.subscribe(sid, "sse", 30) as sub:
        await scene.publish_scene(js, sid, 1, scene.result(1))
        last_seen = (await next_of(sub)).event_id
    missed, bodies = [], []
    for seq in range(2, 6):  # while disconnected; other sessions' messages interleave
        bodies.append(scene.result(seq))
        missed.append(await scene.publish_scene(js, sid, seq, bodies[-1]))
        await scene.publish_scene(js, other, seq, scene.result(seq))
    async with hubs.subscribe(sid, "sse", 1, last_event_id=last_seen) as sub:
        replayed = [await next_of(sub) for _ in missed]  # unthrottled catch-up despite fps 1
        live_id = await scene.publish_scene(js, sid, 6, scene.result(6))
        live = await next_of(sub)
    assert [m.event_id for m in replayed] == missed
    assert [m.json_bytes() for m in replayed] == bodies  # the very bytes a live viewer got
    assert live.event_id == live_id and live.seq == 6


async def test_resume_from_an_unknown_future_id_falls_back_to_live(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30, last_event_id=10_000_000) as sub:
        event_id = await scene.publish_scene(js, sid, 1, scene.result(1))
        assert (await next_of(sub)).event_id == event_id
