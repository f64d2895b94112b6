"""Event replay, counts and snapshots over the real API, from events published to EVENTS directly
(as the scene stage publishes them) and a snapshot put in the real sw-snapshots bucket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js import JetStreamContext, api

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings
from shared.snapshots import ensure_snapshots, snapshot_name
from tests.support.gateway_app import Gateway, auth, gateway_settings, running_gateway

ZONE = {"name": "bay", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]}
LINE = {"name": "gate", "a": [0.3, 0.9], "b": [0.3, 0.1]}


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer, js: JetStreamContext) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


def event(sid: str, i: int, kind: str) -> dict[str, Any]:
    return {
        "id": f"ev_{sid[:8]}_{i}",
        "kind": kind,
        "sid": sid,
        "timestamp": 1000.0 + i,
        "counts": {"zones": {"bay": i % 3}, "lines": {"gate": {"in": i, "out": 0}}},
        "snapshot": None,
    }


async def publish(js: JetStreamContext, events: list[dict[str, Any]]) -> None:
    for ev in events:
        body = json.dumps({"type": "event", "event": ev}).encode()
        await js.publish(subjects.events(ev["sid"], ev["kind"]), body, headers={"Nats-Msg-Id": ev["id"]})


async def test_replay_pages_through_every_event_oldest_first(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session(zones=[ZONE], lines=[LINE])
    other = await gateway.create_session()
    sid, headers = session["client_id"], auth(session["token"])
    kinds = ["line_cross", "zone_enter", "zone_exit", "dwell"]
    events = [event(sid, i, kinds[i % 4]) for i in range(25)]
    await publish(js, [*events[:10], event(other["client_id"], 99, "zone_enter"), *events[10:]])
    await publish(js, events[:5])  # repeats (a failover replay): dropped by the duplicate window

    seen: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 7, **({"after": after} if after else {})}
        page = (await gateway.client.get(f"/stream/sessions/{sid}/events", params=params, headers=headers)).json()
        seen += page["events"]
        after = page["next"]
        if not page["has_more"]:
            break
    assert seen == events

    crossings = await gateway.client.get(
        f"/stream/sessions/{sid}/events", params={"kinds": "line_cross,dwell", "limit": 100}, headers=headers
    )
    assert [e["id"] for e in crossings.json()["events"]] == [e["id"] for e in events if e["kind"] in kinds[::3]]
    assert crossings.json()["has_more"] is False

    empty = await gateway.client.get(f"/stream/sessions/{other['client_id']}/events", headers=auth(other["token"]))
    assert [e["sid"] for e in empty.json()["events"]] == [other["client_id"]]


async def test_replay_bad_parameters(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session()
    sid, headers = session["client_id"], auth(session["token"])
    url = f"/stream/sessions/{sid}/events"
    for params, status in [
        ({"kinds": "zone_enter,nonsense"}, 422),
        ({"limit": 0}, 422),
        ({"limit": 100_000}, 422),
        ({"after": "a/b"}, 422),
        ({"after": "ev_never_was"}, 404),
    ]:
        response = await gateway.client.get(url, params=params, headers=headers)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error_code"] in ("VALIDATION_ERROR", "NOT_FOUND")
    assert (await gateway.client.get(url)).status_code == 401
    other = await gateway.create_session()
    assert (await gateway.client.get(url, headers=auth(other["token"]))).status_code == 403


async def test_counts_are_those_of_the_newest_event(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session(zones=[ZONE], lines=[LINE, {**LINE, "name": "new"}])
    sid, headers = session["client_id"], auth(session["token"])
    url = f"/stream/sessions/{sid}/counts"
    before = (await gateway.client.get(url, headers=headers)).json()
    assert before["zones"] == {"bay": 0} and before["lines"]["gate"] == {"in": 0, "out": 0}
    assert before["as_of"] is None
    await publish(js, [event(sid, 1, "line_cross"), event(sid, 2, "zone_enter"), event(sid, 4, "line_cross")])
    after = (await gateway.client.get(url, headers=headers)).json()
    assert after["zones"] == {"bay": 1} and after["lines"] == {"gate": {"in": 4, "out": 0}, "new": {"in": 0, "out": 0}}
    assert after["event_id"] == event(sid, 4, "line_cross")["id"]


async def test_snapshot_of_an_event_and_never_another_sessions(
    gateway: Gateway, js: JetStreamContext, nats_settings: NatsSettings
):
    session = await gateway.create_session()
    other = await gateway.create_session()
    sid, headers = session["client_id"], auth(session["token"])
    url = f"/stream/sessions/{sid}/events/ev_abc/snapshot.jpg"
    missing = await gateway.client.get(url, headers=headers)
    assert (missing.status_code, missing.json()["error_code"]) == (404, "NOT_FOUND")

    store = await ensure_snapshots(js, nats_settings, 16 * 1024 * 1024)
    jpeg = b"\xff\xd8 not really a jpeg \xff\xd9"
    await store.put(snapshot_name("ev_abc"), jpeg, meta=api.ObjectMeta(name="ev_abc.jpg", description=sid))
    found = await gateway.client.get(url, headers=headers)
    assert found.status_code == 200 and found.content == jpeg and found.headers["content-type"] == "image/jpeg"
    stolen = await gateway.client.get(
        f"/stream/sessions/{other['client_id']}/events/ev_abc/snapshot.jpg", headers=auth(other["token"])
    )
    assert stolen.status_code == 404
