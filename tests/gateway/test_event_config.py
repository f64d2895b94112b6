"""Zones, lines and webhooks in the session config over the real API: bounds -> 422 naming the field,
webhook URLs policed like camera URLs, and a webhook `secret` stored but never returned."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from nats.js import JetStreamContext

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionRecord
from tests.support.gateway_app import Gateway, auth, gateway_settings, running_gateway, serving_gateway

ZONE = {"name": "bay", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]], "dwell_s": 5}
LINE = {"name": "gate", "a": [0.3, 0.9], "b": [0.3, 0.1]}
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-value", "kinds": ["line_cross"]}


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


async def stored(js: JetStreamContext, sid: str) -> SessionRecord:
    entry = await (await js.key_value(subjects.SESSIONS_BUCKET)).get(sid)
    assert entry.value is not None
    return SessionRecord.from_bytes(entry.value)


BAD_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]}]}, "zones.0.polygon.1.0"),
    ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.2, -0.1], [0.5, 0.9]]}]}, "zones.0.polygon.1.1"),
    ({"zones": [{**ZONE, "polygon": [[0.5, 0.5]] * 1000}]}, "zones.0.polygon"),
    ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.2, 0.2]]}]}, "zones.0.polygon"),
    ({"zones": [ZONE, ZONE]}, "zones"),
    ({"zones": [{**ZONE, "name": f"z{i}"} for i in range(33)]}, "zones"),
    ({"zones": [{**ZONE, "name": "x" * 65}]}, "zones.0.name"),
    ({"zones": [{**ZONE, "dwell_s": -1}]}, "zones.0.dwell_s"),
    ({"lines": [LINE, LINE]}, "lines"),
    ({"lines": [{**LINE, "b": LINE["a"]}]}, "lines.0"),
    ({"lines": [{**LINE, "a": [0.3, 2]}]}, "lines.0.a.1"),
    ({"lines": [{**LINE, "colour": "red"}]}, "lines.0.colour"),
    ({"anchor": "top_left"}, "anchor"),
    ({"webhooks": [HOOK] * 9}, "webhooks"),
    ({"webhooks": [{**HOOK, "url": "ftp://127.0.0.1/x"}]}, "webhooks.0.url"),
    ({"webhooks": [{**HOOK, "url": "http://user:pw@127.0.0.1/x"}]}, "webhooks.0.url"),
    ({"webhooks": [{**HOOK, "url": "http://169.254.169.254/latest/meta-data"}]}, "webhooks.0.url"),
    ({"webhooks": [{**HOOK, "url": "http://[fe80::1]/hook"}]}, "webhooks.0.url"),
    ({"webhooks": [{**HOOK, "url": "http://metadata.google.internal/"}]}, "webhooks.0.url"),
    ({"webhooks": [{**HOOK, "kinds": ["everything"]}]}, "webhooks.0.kinds.0"),
    ({"webhooks": [{**HOOK, "secret": "k" * 300}]}, "webhooks.0.secret"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CONFIGS, ids=[f for _, f in BAD_CONFIGS])
async def test_bad_event_configs_are_422_naming_the_field(gateway: Gateway, body: dict[str, Any], field: str):
    created = await gateway.client.post("/stream/sessions", json=body)
    assert (created.status_code, created.json()["error_code"]) == (422, "VALIDATION_ERROR")
    assert field in created.json()["error"], created.json()["error"]
    session = await gateway.create_session()
    patched = await gateway.client.patch(
        f"/stream/sessions/{session['client_id']}/config", json=body, headers=auth(session["token"])
    )
    assert (patched.status_code, patched.json()["error_code"]) == (422, "VALIDATION_ERROR")
    assert field in patched.json()["error"], patched.json()["error"]


async def test_self_intersecting_polygons_are_allowed(gateway: Gateway):
    bowtie = {"name": "bowtie", "polygon": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]}
    session = await gateway.create_session(zones=[bowtie])
    assert session["config"]["zones"][0]["polygon"] == bowtie["polygon"]


async def test_a_full_config_round_trips_and_the_secret_is_never_returned(gateway: Gateway, js: JetStreamContext):
    body = {"zones": [ZONE], "lines": [LINE], "anchor": "center", "webhooks": [HOOK]}
    session = await gateway.create_session(**body)
    sid, headers = session["client_id"], auth(session["token"])
    assert "s3cret-value" not in str(session)
    assert session["config"]["webhooks"] == [{**HOOK, "secret": None}]
    assert session["config"]["zones"] == [{**ZONE, "classes": None}] and session["config"]["anchor"] == "center"
    record = await stored(js, sid)
    assert record.config.webhooks[0].secret is not None
    assert record.config.webhooks[0].secret.get_secret_value() == "s3cret-value"

    patched = await gateway.client.patch(f"/stream/sessions/{sid}/config", json={"fps_limit": 3}, headers=headers)
    assert patched.status_code == 200 and "s3cret-value" not in patched.text
    record = await stored(js, sid)
    assert record.config.webhooks[0].secret is not None, "a PATCH of another field keeps the secret"
    assert record.config.webhooks[0].secret.get_secret_value() == "s3cret-value"
    stats = await gateway.client.get(f"/stream/sessions/{sid}/stats", headers=headers)
    assert stats.status_code == 200 and "s3cret-value" not in stats.text
    assert stats.json()["webhooks_failed"] == 0

    replaced = await gateway.client.patch(
        f"/stream/sessions/{sid}/config", json={"lines": [], "webhooks": []}, headers=headers
    )
    assert replaced.json()["config"]["lines"] == [] and replaced.json()["config"]["webhooks"] == []
    assert (await stored(js, sid)).config.zones[0].name == "bay"
    cleared = await gateway.client.patch(f"/stream/sessions/{sid}/config", json={"zones": None}, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["config"]["zones"] == []


async def test_websocket_config_update_takes_zones_and_polices_webhooks(nats_server: EmbeddedNatsServer):
    async with serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        async with httpx.AsyncClient(base_url=base) as http:
            session = (await http.post("/stream/sessions", json={})).json()
        url = "ws" + base.removeprefix("http") + f"/stream/sessions/{session['client_id']}/ws?token={session['token']}"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "config_update", "config": {"zones": [ZONE], "webhooks": [HOOK]}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            bad = {"webhooks": [{"url": "http://169.254.169.254/"}]}
            await ws.send(json.dumps({"type": "config_update", "config": bad}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "config_updated" and ack["config"]["zones"][0]["name"] == "bay"
    assert ack["config"]["webhooks"][0]["secret"] is None
    assert refused["error_code"] == "VALIDATION_ERROR" and "webhooks.0.url" in refused["error"]
