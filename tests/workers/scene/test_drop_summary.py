"""The periodic drop summary, end to end: a real scene worker, a real gateway, an SSE viewer.

RESULTS envelopes are published directly: in order, then one that comes too late (`late`) and
one twice while it waits in the reorder window (`duplicate`). The session's viewer gets a
`{"type": "drops"}` message with those counts on its open stream, byte for byte the SCENE body.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from nats.js import JetStreamContext

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from tests.support.gateway_app import gateway_settings, serving_gateway
from tests.support.procs import ComponentRunner
from tests.support.sse import sse_events
from tests.workers.scene.support import detections, moving_box, publish_det

SCENE_ENV = {
    "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3",
    "SIGHTWIRE_SCENE_REORDER_WINDOW": "4",
    "SIGHTWIRE_SCENE_REORDER_WAIT_MS": "10000",
    "SIGHTWIRE_SCENE_DROP_SUMMARY_S": "1",
    "SIGHTWIRE_DRAIN_TIMEOUT_S": "1",
}


async def read_until_drops(
    client: httpx.AsyncClient, url: str, seen: list[dict[str, Any]], names: list[str], want: int
) -> None:
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        async for event in sse_events(response):
            if not event.data:
                continue
            seen.append(event.json())
            names.append(event.event)
            dropped = sum(m["data"]["total"] for m in seen if m.get("type") == "drops")
            if dropped >= want:
                return


async def test_viewers_get_a_drop_summary_by_reason(
    nats_server: EmbeddedNatsServer, js: JetStreamContext, components: ComponentRunner
) -> None:
    components.start("worker", "scene", env=SCENE_ENV, name="scene")
    async with (
        serving_gateway(gateway_settings(nats_server.url)) as (base, _app),
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        session = (await client.post("/stream/sessions", json={"fps_limit": 30})).json()
        sid = session["client_id"]
        seen: list[dict[str, Any]] = []
        names: list[str] = []
        url = session["sse_endpoint"] + "&events=named"  # `event: drops`, for addEventListener
        reader = asyncio.create_task(read_until_drops(client, url, seen, names, want=2))
        await publish_det(js, detections(sid, 1, [moving_box(1)]))
        deadline = time.monotonic() + 60
        while not any(m.get("type") == "detection_result" for m in seen):  # the scene worker owns it now
            assert time.monotonic() < deadline, "no result reached the viewer"
            await asyncio.sleep(0.2)
        for seq in (2, 3):
            await publish_det(js, detections(sid, seq, [moving_box(seq)]))
        await publish_det(js, detections(sid, 2, [moving_box(2)]))  # behind seq 3: late
        await publish_det(js, detections(sid, 6, [moving_box(6)]))  # waits for 4 and 5 ...
        await publish_det(js, detections(sid, 6, [moving_box(6)]))  # ... so this one is a duplicate
        await asyncio.wait_for(reader, 60)

    summaries = [m for m in seen if m.get("type") == "drops"]
    counts: dict[str, int] = {}
    for summary in summaries:
        assert summary["data"]["total"] == sum(summary["data"]["counts"].values())
        assert summary["data"]["interval_s"] == 1.0
        for reason, n in summary["data"]["counts"].items():
            counts[reason] = counts.get(reason, 0) + n
    assert counts == {"late": 1, "duplicate": 1}, summaries
    assert {n for n, m in zip(names, seen, strict=True) if m["type"] == "drops"} == {"drops"}
    stored = await js.subscribe(subjects.scene(sid), stream=subjects.SCENE_STREAM, ordered_consumer=True)
    bodies = []
    while True:
        try:
            bodies.append(json.loads((await stored.next_msg(timeout=2)).data))
        except TimeoutError:
            break
    assert [b for b in bodies if b["type"] == "drops"] == summaries  # forwarded unchanged
