"""Hubs against a real nats-server: real envelopes published to RESULTS, the real gateway runtime.

No workers here: the tests publish what a detector and a depth worker would,
so that every rule of the hub (sharing, filtering, ordering, fusion inputs,
errors, close, resume) is checked exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from nats.js import JetStreamContext

from gateway.fanout import ClientSubscription, OutMessage
from shared import subjects
from shared.envelopes import Box, DepthMap, Detections, ErrorResult, now_ns
from shared.natsserver import EmbeddedNatsServer
from shared.subjects import ResultKind
from tests.support.gateway_app import Gateway, gateway_settings, poll_until, running_gateway

W, H = 640, 480


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url, hub_grace_s=0.2)) as gw:
        yield gw


def detections(sid: str, seq: int, boxes: list[Box], captured_at_ns: int | None = None) -> Detections:
    t = captured_at_ns or now_ns()
    return Detections(
        sid=sid, seq=seq, captured_at_ns=t, started_at_ns=t + 1_000_000, finished_at_ns=t + 9_000_000,
        worker="test", model="yolox_nano", width=W, height=H, boxes=boxes, frame_id=None,
    )  # fmt: skip


PERSON = Box(0.25, 0.25, 0.5, 0.75, 0.9, 0, "person")
CHAIR = Box(0.6, 0.5, 0.8, 0.7, 0.4, 56, "chair")


async def publish(js: JetStreamContext, sid: str, kind: ResultKind, body: bytes) -> int:
    ack = await js.publish(subjects.results(sid, kind), body)
    return ack.seq


async def next_of(sub: ClientSubscription, timeout: float = 10.0) -> OutMessage:
    msg = await sub.next(timeout)
    assert msg is not None, "no message within the timeout"
    return msg


async def test_one_hub_serves_all_viewers_with_the_section4_message(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session(confidence_threshold=0.5)
    sid = session["client_id"]
    hubs = gateway.runtime.hubs
    async with hubs.subscribe(sid, "sse", 30) as a, hubs.subscribe(sid, "ws", 30) as b:
        assert hubs.global_stats()["sessions"] == 1
        event_id = await publish(js, sid, ResultKind.DET, detections(sid, 7, [PERSON, CHAIR]).to_bytes())
        got_a, got_b = await next_of(a), await next_of(b)
    assert got_a is got_b  # encoded once, shared
    assert got_a.event_id == event_id and got_a.kind == "detection_result"
    data = got_a.payload["data"]
    assert got_a.payload["type"] == "detection_result"
    assert data["frame_id"] == "7" and data["seq"] == 7 and (data["width"], data["height"]) == (W, H)
    assert data["processing_time_ms"] == 8.0 and data["latency_ms"] >= 0
    (person,) = data["detections"]  # the chair is under the session threshold
    assert person["label"] == "person" and person["class_id"] == 0 and person["confidence"] == 0.9
    assert person["bbox"] == [160.0, 120.0, 320.0, 360.0]
    assert isinstance(person["track_id"], int)
    assert person["distance_source"] == "size_prior" and person["distance_m"] > 0
    assert person["depth_rel"] is None  # no depth map yet
    assert hubs.session_stats(sid)["delivered"] == 2


async def test_config_changes_apply_without_reconnecting(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session(confidence_threshold=0.5)
    sid, token = session["client_id"], session["token"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        response = await gateway.client.patch(
            f"/stream/sessions/{sid}/config",
            json={"confidence_threshold": 0.3, "classes": ["chair"], "enable_tracking": False},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text

        async def applied() -> bool:
            hub = gateway.runtime.hubs._hubs[sid]
            return hub.pipeline.config.classes == ["chair"]

        await poll_until(applied)
        await publish(js, sid, ResultKind.DET, detections(sid, 1, [PERSON, CHAIR]).to_bytes())
        msg = await next_of(sub)
    (chair,) = msg.payload["data"]["detections"]
    assert chair["label"] == "chair" and chair["track_id"] is None


async def test_out_of_order_and_bad_results_are_dropped_and_counted(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        await publish(js, sid, ResultKind.DET, detections(sid, 10, [PERSON]).to_bytes())
        assert (await next_of(sub)).seq == 10
        await publish(js, sid, ResultKind.DET, detections(sid, 9, [PERSON]).to_bytes())  # a slower replica
        await publish(js, sid, ResultKind.DET, b"\x93not an envelope")
        await publish(js, sid, ResultKind.DEPTH, b"\xc1")
        await publish(js, sid, ResultKind.DET, detections(sid, 11, [PERSON]).to_bytes())
        assert (await next_of(sub)).seq == 11
    stats = gateway.runtime.hubs.global_stats()
    assert stats["dropped"] == {"out_of_order": 1, "bad_envelope": 2}


async def test_error_results_become_error_messages(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "ws", 30) as sub:
        err = ErrorResult(sid=sid, seq=5, code="INVALID_IMAGE", message="cannot decode", frame_id="f-5")
        event_id = await publish(js, sid, ResultKind.ERROR, err.to_bytes())
        msg = await next_of(sub)
    assert msg.kind == "error" and msg.event_id == event_id
    assert msg.payload == {
        "type": "error",
        "error": "cannot decode",
        "error_code": "INVALID_IMAGE",
        "frame_id": "f-5",
        "timestamp": err.at_ns / 1e9,
    }


def depth_map(sid: str, seq: int, captured_at_ns: int) -> DepthMap:
    """Near at the bottom, far at the top (larger is farther), like a street scene."""
    grid = np.tile(np.linspace(10.0, 1.0, 56, dtype=np.float32)[:, None], (1, 80)).astype("<f2")
    t = captured_at_ns
    return DepthMap(
        sid=sid, seq=seq, captured_at_ns=t, started_at_ns=t, finished_at_ns=t, worker="test", model="pydnet",
        width=W, height=H, grid=grid.tobytes(), grid_w=80, grid_h=56, larger_is_farther=True,
    )  # fmt: skip


async def test_detections_fuse_with_a_fresh_depth_map_only(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session(confidence_threshold=0.3))["client_id"]
    t0 = now_ns()
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30) as sub:
        await publish(js, sid, ResultKind.DEPTH, depth_map(sid, 1, t0).to_bytes())
        await publish(js, sid, ResultKind.DET, detections(sid, 1, [PERSON, CHAIR], captured_at_ns=t0).to_bytes())
        fresh = (await next_of(sub)).payload["data"]["detections"]
        later = t0 + 5_000_000_000  # 5 s after the depth map: too old to use
        await publish(js, sid, ResultKind.DET, detections(sid, 2, [CHAIR], captured_at_ns=later).to_bytes())
        stale = (await next_of(sub)).payload["data"]["detections"]
    person, chair = fresh
    assert person["distance_source"] == "size_prior"
    assert chair["distance_source"] == "depth_scaled" and chair["depth_rel"] is not None
    assert chair["depth_rel"] < person["depth_rel"]  # the chair sits lower in the frame: nearer in this map
    assert stale[0]["depth_rel"] is None


async def test_session_end_sends_a_final_event(gateway: Gateway, js: JetStreamContext):
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


async def test_resume_replays_missed_results_then_joins_live(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    other = (await gateway.create_session())["client_id"]
    hubs = gateway.runtime.hubs
    ids = []
    async with hubs.subscribe(sid, "sse", 30) as sub:
        ids.append(await publish(js, sid, ResultKind.DET, detections(sid, 1, [PERSON]).to_bytes()))
        last_seen = (await next_of(sub)).event_id
    missed = []
    for seq in range(2, 6):  # while disconnected; other sessions' results interleave
        missed.append(await publish(js, sid, ResultKind.DET, detections(sid, seq, [PERSON]).to_bytes()))
        await publish(js, other, ResultKind.DET, detections(other, seq, [PERSON]).to_bytes())
    async with hubs.subscribe(sid, "sse", 1, last_event_id=last_seen) as sub:
        replayed = [await next_of(sub) for _ in missed]  # unthrottled catch-up despite fps 1
        live_id = await publish(js, sid, ResultKind.DET, detections(sid, 6, [PERSON]).to_bytes())
        live = await next_of(sub)
    assert [m.event_id for m in replayed] == missed
    assert [m.seq for m in replayed] == [2, 3, 4, 5]
    assert live.event_id == live_id and live.seq == 6


async def test_resume_from_an_unknown_future_id_falls_back_to_live(gateway: Gateway, js: JetStreamContext):
    sid = (await gateway.create_session())["client_id"]
    async with gateway.runtime.hubs.subscribe(sid, "sse", 30, last_event_id=10_000_000) as sub:
        event_id = await publish(js, sid, ResultKind.DET, detections(sid, 1, [PERSON]).to_bytes())
        assert (await next_of(sub)).event_id == event_id
