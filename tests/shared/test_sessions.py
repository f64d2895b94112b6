"""Session records in the real sw-sessions bucket: CAS updates, watch, redaction."""

from __future__ import annotations

import asyncio

import pytest
from nats.js import JetStreamContext
from pydantic import ValidationError

from shared import subjects
from shared.sessions import SessionConfig, SessionRecord, SessionStore, SourceSpec


async def store_of(js: JetStreamContext) -> SessionStore:
    return SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))


async def test_create_get_update_delete(js: JetStreamContext) -> None:
    store = await store_of(js)
    await store.create(SessionRecord(sid="a", token_hash="h"))
    updated = await store.update("a", lambda r: r.model_copy(update={"status": "failed", "error_code": "X"}))
    assert updated is not None and updated.status == "failed"
    found = await store.get("a")
    assert found is not None and found[0].error_code == "X"
    await store.delete("a")
    assert await store.get("a") is None
    assert await store.update("a", lambda r: r) is None


async def test_concurrent_updates_both_land(js: JetStreamContext) -> None:
    store = await store_of(js)
    await store.create(SessionRecord(sid="a", token_hash="h"))

    def bump_fps(r: SessionRecord) -> SessionRecord:
        return r.model_copy(update={"config": r.config.model_copy(update={"fps_limit": r.config.fps_limit + 1})})

    await asyncio.gather(*(store.update("a", bump_fps) for _ in range(5)))
    found = await store.get("a")
    assert found is not None and found[0].config.fps_limit == SessionConfig().fps_limit + 5


async def test_watch_sees_current_changes_and_deletes(js: JetStreamContext) -> None:
    store = await store_of(js)
    await store.create(SessionRecord(sid="a", token_hash="h"))
    seen: list[tuple[str, str | None]] = []

    async def watch() -> None:
        async for sid, record in store.watch():
            seen.append((sid, record.status if record else None))
            if record is None:
                return

    task = asyncio.create_task(watch())
    async with asyncio.timeout(10):
        while not seen:  # the watcher has delivered the current value
            await asyncio.sleep(0.01)
    await store.update("a", lambda r: r.model_copy(update={"status": "failed"}))
    await store.delete("a")
    await asyncio.wait_for(task, 10)
    assert seen == [("a", "active"), ("a", "failed"), ("a", None)]


def test_redacted_source_hides_credentials() -> None:
    spec = SourceSpec(type="rtsp", url="rtsp://admin:hunter2@10.0.0.5:554/live")
    assert spec.redacted().url == "rtsp://admin:***@10.0.0.5:554/live"
    assert "hunter2" not in spec.redacted().model_dump_json()
    assert spec.pulled and not SourceSpec(type="webrtc").pulled


@pytest.mark.parametrize("bad", [{"fps_limit": 0}, {"fps_limit": 31}, {"confidence_threshold": 1.5}, {"nope": 1}])
def test_config_bounds(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SessionConfig(**bad)  # type: ignore[arg-type]


async def test_watch_skips_an_unreadable_record_and_keeps_going(js: JetStreamContext) -> None:
    store = await store_of(js)
    await store.kv.put("bad", b'{"sid": "bad", "unknown_field": 1}')
    await store.create(SessionRecord(sid="good", token_hash="h"))
    seen: list[str] = []

    async def watch() -> None:
        async for sid, _record in store.watch():
            seen.append(sid)
            if sid == "good":
                return

    await asyncio.wait_for(watch(), 10)
    assert seen == ["good"]
