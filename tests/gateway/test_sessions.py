"""Session lifecycle over the real API: create, stats, config changes, delete, expiry."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionRecord, open_watcher
from tests.support.gateway_app import Gateway, auth, gateway_settings, poll_until, running_gateway


@pytest.fixture
async def gateway(nats_server: EmbeddedNatsServer) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(nats_server.url)) as gw:
        yield gw


async def stored(js: JetStreamContext, sid: str) -> SessionRecord | None:
    kv = await js.key_value(subjects.SESSIONS_BUCKET)
    try:
        entry = await kv.get(sid)
    except Exception:
        return None
    return SessionRecord.from_bytes(entry.value) if entry.value else None


async def test_create_accepts_the_seed_body_and_returns_tokenised_endpoints(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session(fps_limit=15, confidence_threshold=0.6)
    sid, token = session["client_id"], session["token"]
    assert session["sse_endpoint"] == f"/stream/events/{sid}?token={token}"
    assert session["upload_endpoint"] == f"/stream/process/{sid}?token={token}"
    assert session["ws_endpoint"].startswith(f"/stream/sessions/{sid}/ws?token=")
    assert session["webrtc_endpoint"].startswith(f"/stream/sessions/{sid}/webrtc?token=")
    assert session["config"]["fps_limit"] == 15 and session["config"]["confidence_threshold"] == 0.6
    record = await stored(js, sid)
    assert record is not None and record.config.fps_limit == 15
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in record.to_bytes().decode()


async def test_ids_and_tokens_are_unique_and_long(gateway: Gateway):
    sessions = [await gateway.create_session() for _ in range(5)]
    assert len({s["client_id"] for s in sessions}) == 5
    assert len({s["token"] for s in sessions}) == 5
    assert all(len(s["client_id"]) >= 22 and len(s["token"]) >= 43 for s in sessions)


async def test_nested_config_and_flat_fields_merge_flat_wins(gateway: Gateway):
    session = await gateway.create_session(
        fps_limit=12, config={"fps_limit": 3, "enable_depth": False, "classes": ["person"]}, camera_hfov_deg=90
    )
    assert session["config"]["fps_limit"] == 12
    assert session["config"]["enable_depth"] is False
    assert session["config"]["classes"] == ["person"]
    assert session["config"]["camera_hfov_deg"] == 90


async def test_empty_body_gives_an_upload_session_with_defaults(gateway: Gateway):
    response = await gateway.client.post("/stream/sessions")
    assert response.status_code == 201
    assert response.json()["source"] == {"type": "upload", "url": None, "loop": False}


async def test_camera_url_credentials_are_never_echoed(gateway: Gateway, js: JetStreamContext):
    url = "rtsp://admin:hunter2@127.0.0.1:8554/cam"
    response = await gateway.client.post("/stream/sessions", json={"source": {"type": "rtsp", "url": url}})
    assert response.status_code == 201
    assert "hunter2" not in response.text
    assert response.json()["source"]["url"] == "rtsp://admin:***@127.0.0.1:8554/cam"
    sid, token = response.json()["client_id"], response.json()["token"]
    stats = await gateway.client.get(f"/stream/sessions/{sid}/stats", headers=auth(token))
    assert "hunter2" not in stats.text
    record = await stored(js, sid)
    assert record is not None and record.source.url == url  # ingest needs the real one


@pytest.mark.parametrize(
    "source",
    [
        {"type": "rtsp", "url": "http://127.0.0.1/cam"},
        {"type": "rtsp", "url": "rtsp://169.254.169.254/latest"},
        {"type": "http", "url": "file:///etc/passwd"},
        {"type": "http", "url": "concat:http://127.0.0.1/a|http://127.0.0.1/b"},
        {"type": "rtsp"},
        {"type": "file", "url": "http://127.0.0.1/x.mp4"},
    ],
)
async def test_refused_source_urls(gateway: Gateway, source: dict[str, str]):
    response = await gateway.client.post("/stream/sessions", json={"source": source})
    assert response.status_code == 422
    assert response.json()["error_code"] == "INVALID_SOURCE_URL"
    assert "169.254" not in response.json()["error"] or "url" not in source


async def test_stats_of_a_session(gateway: Gateway):
    session = await gateway.create_session(fps_limit=7)
    response = await gateway.client.get(
        f"/stream/sessions/{session['client_id']}/stats", headers=auth(session["token"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == session["client_id"]
    assert body["status"] == "active"
    assert body["config"]["fps_limit"] == 7
    assert body["expires_at"] > body["last_active_at"]
    assert body["streams"]["clients"] == 0


async def test_patch_changes_the_stored_record_at_once(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session()
    sid = session["client_id"]
    response = await gateway.client.patch(
        f"/stream/sessions/{sid}/config",
        json={"fps_limit": 4, "confidence_threshold": 0.25, "classes": ["car"], "enable_depth": False},
        headers=auth(session["token"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["config"]["fps_limit"] == 4
    record = await stored(js, sid)
    assert record is not None
    assert (record.config.fps_limit, record.config.confidence_threshold) == (4, 0.25)
    assert record.config.classes == ["car"] and record.config.enable_depth is False


async def test_patch_accepts_the_seed_config_update_message(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session()
    body = {"type": "config_update", "config": {"fps_limit": 15, "confidence_threshold": 0.6, "enable_tracking": True}}
    response = await gateway.client.patch(
        f"/stream/sessions/{session['client_id']}/config", json=body, headers=auth(session["token"])
    )
    assert response.status_code == 200
    assert response.json()["config"]["fps_limit"] == 15


@pytest.mark.parametrize(
    "patch",
    [
        {"fps_limit": 0},
        {"fps_limit": 31},
        {"confidence_threshold": -0.1},
        {"confidence_threshold": 1.5},
        {"fps_limit": None},
        {"camera_hfov_deg": 0},
        {"unknown_field": 1},
        {"classes": ["x"] * 81},
        {"config": {"fps_limit": 99}},
    ],
)
async def test_patch_bounds(gateway: Gateway, js: JetStreamContext, patch: dict[str, object]):
    session = await gateway.create_session(fps_limit=9)
    response = await gateway.client.patch(
        f"/stream/sessions/{session['client_id']}/config", json=patch, headers=auth(session["token"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    record = await stored(js, session["client_id"])
    assert record is not None and record.config.fps_limit == 9


async def test_delete_removes_the_record(gateway: Gateway, js: JetStreamContext):
    session = await gateway.create_session()
    sid = session["client_id"]
    response = await gateway.client.delete(f"/stream/sessions/{sid}", headers=auth(session["token"]))
    assert response.status_code == 204
    assert await stored(js, sid) is None
    again = await gateway.client.get(f"/stream/sessions/{sid}/stats", headers=auth(session["token"]))
    assert again.status_code == 404
    assert again.json()["error_code"] == "NOT_FOUND"


async def test_api_key_guards_session_creation(nats_server: EmbeddedNatsServer):
    async with running_gateway(gateway_settings(nats_server.url, api_key="k3y")) as gw:
        assert (await gw.client.post("/stream/sessions", json={})).status_code == 401
        wrong = await gw.client.post("/stream/sessions", json={}, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error_code"] == "UNAUTHORIZED"
        assert (await gw.client.post("/stream/sessions", json={}, headers={"X-API-Key": "k3y"})).status_code == 201
        assert (await gw.client.post("/stream/sessions", json={}, headers=auth("k3y"))).status_code == 201
        assert "k3y" not in (await gw.client.get("/stream/stats")).text


async def test_public_base_url_makes_absolute_endpoints(nats_server: EmbeddedNatsServer):
    settings = gateway_settings(nats_server.url, public_base_url="https://cv.example.com/")
    async with running_gateway(settings) as gw:
        session = await gw.create_session()
    sid = session["client_id"]
    assert session["sse_endpoint"].startswith(f"https://cv.example.com/stream/events/{sid}?token=")
    assert session["ws_endpoint"].startswith(f"wss://cv.example.com/stream/sessions/{sid}/ws?token=")


async def test_cors_origins_from_settings(nats_server: EmbeddedNatsServer):
    settings = gateway_settings(nats_server.url, cors_origins="https://app.example.com")
    async with running_gateway(settings) as gw:
        headers = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
        allowed = await gw.client.options("/stream/sessions", headers=headers)
        assert allowed.headers.get("access-control-allow-origin") == "https://app.example.com"
        other = await gw.client.options("/stream/sessions", headers={**headers, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_idle_session_expires_and_activity_keeps_it(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    settings = gateway_settings(nats_server.url, session_ttl_s=2, janitor_interval_s=0.2)
    async with running_gateway(settings) as gw:
        idle = await gw.create_session()
        busy = await gw.create_session()

        async def idle_gone() -> bool:
            await gw.client.get(f"/stream/sessions/{busy['client_id']}/stats", headers=auth(busy["token"]))
            return await stored(js, idle["client_id"]) is None

        await poll_until(idle_gone, timeout_s=15, every_s=0.25)
        assert await stored(js, busy["client_id"]) is not None
        assert gw.runtime.counters["sessions_expired"] >= 1


async def test_a_closed_record_left_behind_is_swept(nats_server: EmbeddedNatsServer, js: JetStreamContext):
    """A replica that died between 'mark closed' and 'delete' leaves a closed record: the janitor deletes it."""
    settings = gateway_settings(nats_server.url, session_ttl_s=1, janitor_interval_s=0.2)
    kv = await js.key_value(subjects.SESSIONS_BUCKET)
    record = SessionRecord(sid="leftover", token_hash="0" * 64, status="closed", last_active_at=0.0)
    await kv.create(record.sid, record.to_bytes())
    async with running_gateway(settings):

        async def gone() -> bool:
            return await stored(js, "leftover") is None

        await poll_until(gone)


async def test_cancelled_watch_start_leaves_no_subscription(js: JetStreamContext, nc: NATS):
    """Regression: a service stopped during start-up left a KV watch subscribed, which blocked drain() for 5 s."""
    kv = await js.key_value(subjects.SESSIONS_BUCKET)
    await kv.put("some-session", b"{}")
    before = len(nc._subs)
    for yields in range(40):  # cancel at every step of the start-up, subscribe and consumer_info included
        opening = asyncio.create_task(open_watcher(kv))
        for _ in range(yields):
            await asyncio.sleep(0)
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            watcher = await opening
            await watcher.stop()
    assert len(nc._subs) == before
