"""PATCH .../config and the WebSocket `config_update` take effect alike (real nats-server, real gateway app).

Both write the session record and hand it to the process's session watcher at
once, the path a change made by another replica takes when the watch brings
it. So on the gateway that took the change, a subscribed stream runs at the
new rate from the moment the reply is sent, whichever API was used, even while
the watch itself lags (here: held up by a slow listener busy with a change that
another replica made), and the stream itself shows the same effect: results at
the session's new fps.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

import httpx
import websockets
from nats.js import JetStreamContext

from gateway.fanout import ClientSubscription
from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionRecord, SessionStore
from tests.gateway.test_ws import create, receive_type, ws_url
from tests.support import scene
from tests.support.gateway_app import auth, gateway_settings, serving_gateway

RESULTS = 20
SPACING_S = 0.05  # 20 results over 1 s


async def change_by_patch(base: str, sid: str, token: str, changes: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        response = await client.patch(f"/stream/sessions/{sid}/config", json=changes, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["config"]  # type: ignore[no-any-return]


async def change_by_ws(base: str, sid: str, token: str, changes: dict[str, Any]) -> dict[str, Any]:
    async with websockets.connect(ws_url(base, f"/stream/sessions/{sid}/ws?token={token}")) as ws:
        await ws.send(json.dumps({"type": "config_update", "config": changes}))
        ack = await receive_type(ws, "config_updated")
    return ack["config"]  # type: ignore[no-any-return]


async def results_received(sub: ClientSubscription, done: asyncio.Event) -> int:
    """Results this viewer gets, reading as a transport would, until `done` and a quiet second."""
    received = 0
    while True:
        msg = await sub.next(1.0)
        if msg is not None and msg.kind == "detection_result":
            received += 1
        elif msg is None and done.is_set():
            return received


class LaggingWatch:
    """A slow listener: each change of session `busy` made elsewhere holds this process's watch up for a while."""

    def __init__(self, store: SessionStore, busy: str) -> None:
        self.store = store
        self.busy = busy
        self.holding = asyncio.Event()
        self.fps = 30  # the busy session's fps; each change elsewhere lowers it
        self.held: int | None = None  # the fps of the change to hold the watch up for

    async def listener(self, sid: str, record: SessionRecord | None) -> None:
        if sid == self.busy and record is not None and record.config.fps_limit == self.held:
            self.holding.set()
            await asyncio.sleep(1.0)

    async def hold(self) -> None:
        """Another replica changes `busy`; return once this process's watch is held up applying it."""
        self.holding.clear()
        self.fps -= 1
        self.held = self.fps

        def other_replica(record: SessionRecord) -> SessionRecord:
            config = record.config.model_copy(update={"fps_limit": self.fps})
            return record.model_copy(update={"config": config})

        await self.store.update(self.busy, other_replica)
        await asyncio.wait_for(self.holding.wait(), 10)


async def test_patch_and_ws_config_update_take_effect_alike(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, app):
        hubs = app.state.runtime.hubs
        sessions = {how: await create(base, fps_limit=30) for how in ("patch", "ws", "unchanged")}
        busy, _token = await create(base, fps_limit=30)
        lag = LaggingWatch(SessionStore(await js.key_value(subjects.SESSIONS_BUCKET)), busy)
        await app.state.runtime.sessions.subscribe(lag.listener)
        async with AsyncExitStack() as stack:
            viewers = {
                how: await stack.enter_async_context(hubs.subscribe(sid, "sse", 30))
                for how, (sid, _token) in sessions.items()
            }
            acks = {}
            for how, change in (("patch", change_by_patch), ("ws", change_by_ws)):
                sid, token = sessions[how]
                await lag.hold()
                acks[how] = await change(base, sid, token, {"fps_limit": 2})
                assert viewers[how].delivery_fps == 2, f"{how}: not in effect when the reply came"
            assert viewers["unchanged"].delivery_fps == 30

            done = asyncio.Event()
            readers = {how: asyncio.create_task(results_received(sub, done)) for how, sub in viewers.items()}
            for seq in range(1, RESULTS + 1):
                for sid, _token in sessions.values():
                    await scene.publish_scene(js, sid, seq, scene.result(seq))
                await asyncio.sleep(SPACING_S)
            done.set()
            received = {how: await asyncio.wait_for(task, 20) for how, task in readers.items()}
    assert acks["patch"] == acks["ws"] and acks["ws"]["fps_limit"] == 2
    # 2 fps over ~1 s of input: the token bucket's burst of 2, about 2 more, and the last one held
    assert received["patch"] <= 6 and received["ws"] <= 6, received
    assert abs(received["patch"] - received["ws"]) <= 1, received
    assert received["unchanged"] >= 3 * max(received["patch"], received["ws"]), received
