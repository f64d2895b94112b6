"""Distance fusion through the real pipeline: real COCO photos, the real detector and depth models.

Frames go in through the gateway's upload route; results come out of the
session's hub exactly as clients get them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from gateway.fanout import ClientSubscription
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import Gateway, auth, gateway_settings, running_gateway
from tests.support.pipeline import jpeg_of, start_workers
from tests.support.procs import ComponentRunner

LONE_PERSON = "000000002261.jpg"  # one person, wholly inside the central crop
LIVING_ROOM = "000000000139.jpg"  # a person with chairs and a TV (classes without a size prior)


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


async def upload(gateway: Gateway, token: str, sid: str, jpeg: bytes, frame_id: str) -> None:
    response = await gateway.client.post(
        f"/stream/process/{sid}?frame_id={frame_id}",
        content=jpeg,
        headers={**auth(token), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 202, response.text


async def result_of(sub: ClientSubscription, frame_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            msg = await sub.next(30)
            if msg is not None and msg.kind == "detection_result" and msg.payload["data"]["frame_id"] == frame_id:
                return msg.payload["data"]  # type: ignore[no-any-return]


def people(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in data["detections"] if d["label"] == "person"]


async def test_zooming_in_2x_halves_the_size_prior_distance(
    gateway: Gateway, nc: NATS, components: ComponentRunner, coco_dir: Path
):
    await start_workers(components, nc, ("detector",))
    session = await gateway.create_session(enable_depth=False, camera_hfov_deg=60, fps_limit=30)
    sid, token = session["client_id"], session["token"]
    async with gateway.runtime.hubs.subscribe(sid, "test", 30) as sub:
        await upload(gateway, token, sid, jpeg_of(coco_dir / LONE_PERSON, size=None), "wide")
        wide = await result_of(sub, "wide")
        await upload(gateway, token, sid, jpeg_of(coco_dir / LONE_PERSON, size=None, zoom=2.0), "zoomed")
        zoomed = await result_of(sub, "zoomed")
    (near,), (far,) = people(zoomed), people(wide)
    assert far["distance_source"] == near["distance_source"] == "size_prior"
    assert 0.4 < near["distance_m"] / far["distance_m"] < 0.6, (near, far)
    assert 1 < far["distance_m"] < 50


async def test_objects_without_a_prior_are_scaled_from_the_person_in_the_frame(
    gateway: Gateway, nc: NATS, components: ComponentRunner, coco_dir: Path
):
    await start_workers(components, nc, ("detector", "depth"))
    session = await gateway.create_session(enable_depth=True, depth_fps=30, confidence_threshold=0.5)
    sid, token = session["client_id"], session["token"]
    jpeg = jpeg_of(coco_dir / LIVING_ROOM, size=None)
    async with gateway.runtime.hubs.subscribe(sid, "test", 30) as sub:
        # the depth map of a frame arrives after its boxes: the next frame of the same scene fuses with it
        for n in range(20):
            await upload(gateway, token, sid, jpeg, f"room-{n}")
            data = await result_of(sub, f"room-{n}")
            if any(d["distance_source"] == "depth_scaled" for d in data["detections"]):
                break
    by_source: dict[str, list[dict[str, Any]]] = {}
    for d in data["detections"]:
        by_source.setdefault(d["distance_source"], []).append(d)
    assert [d["label"] for d in by_source["size_prior"]] == ["person"]
    scaled = by_source["depth_scaled"]
    assert {d["label"] for d in scaled} <= {"chair", "tv", "clock", "dining table"} and scaled
    for d in data["detections"]:
        assert 0.0 <= d["depth_rel"] <= 1.0
        assert 0.3 < d["distance_m"] < 100
