"""Creating sessions and changing their config: the rules, apart from HTTP routing.

Kept out of the route module so that the WebSocket `config_update` message and
`PATCH .../config` apply exactly the same validation and take effect the same
way: the change is written to the KV record (compare-and-set) and handed to
this process's session watcher at once, so this gateway's hubs apply it before
the reply goes out; every other process (other replicas, ingest, the scene
stage) applies it when its watch brings it. Uploads read the record on every
request.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gateway.classes import check_classes
from gateway.deps import hash_token, new_token
from shared.errors import InvalidInput, InvalidSourceURL, NotFound, Unavailable
from shared.sessions import SessionConfig, SessionRecord, SourceSpec
from shared.urls import UrlPolicy, check_url
from shared.webhooks import police_webhook_url

if TYPE_CHECKING:
    from gateway.runtime import GatewayRuntime

_SCHEMES = {"rtsp": ("rtsp", "rtsps"), "http": ("http", "https")}
_FORBIDDEN_PATH_CHARS = ("|", "\n", "\r", "\x00")


def new_session_id() -> str:
    """128 random bits, URL- and subject-safe (`[A-Za-z0-9_-]`)."""
    return secrets.token_urlsafe(16)


def merged_config(base: SessionConfig, changes: dict[str, Any]) -> SessionConfig:
    """`base` with `changes` applied, validated as a whole (422 on any bound)."""
    try:
        return SessionConfig.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise InvalidInput(f"invalid config: {fields}") from exc


async def checked_source(runtime: GatewayRuntime, source: SourceSpec | None) -> SourceSpec:
    """Police a requested source; network URLs may resolve DNS, so that runs in a thread."""
    source = source or SourceSpec()
    if source.type not in runtime.settings.source_types:
        raise InvalidInput(f"source type {source.type!r} is not enabled here")
    if source.type in ("upload", "webrtc"):
        return source.model_copy(update={"url": None})
    if not source.url:
        raise InvalidSourceURL(f"a {source.type} source needs a url")
    if source.type in _SCHEMES:
        await _check_network(runtime, source.type, source.url)
    elif any(c in source.url for c in _FORBIDDEN_PATH_CHARS) or "://" in source.url.removeprefix("file://"):
        raise InvalidSourceURL("file/usb source must be a plain path or device")
    return source


async def _check_network(runtime: GatewayRuntime, kind: str, url: str) -> None:
    policy = UrlPolicy(runtime.settings.allow_link_local_sources, runtime.settings.allow_unresolved_hosts)
    checked = await asyncio.to_thread(check_url, url, policy)  # InvalidSourceURL (422) if refused
    if checked.scheme not in _SCHEMES[kind]:
        raise InvalidSourceURL(f"a {kind} source needs a {' or '.join(_SCHEMES[kind])} URL")


async def checked_webhooks(runtime: GatewayRuntime, config: SessionConfig) -> None:
    """Webhook URLs go through the camera-URL policy (DNS: in a thread); 422 names the field."""
    allow = runtime.settings.allow_link_local_sources
    for i, hook in enumerate(config.webhooks):
        try:
            await asyncio.to_thread(police_webhook_url, hook.url, allow_link_local=allow)
        except InvalidSourceURL as exc:
            raise InvalidInput(f"invalid config: webhooks.{i}.url: {exc.message}") from exc


async def create_session(
    runtime: GatewayRuntime, source: SourceSpec | None, changes: dict[str, Any]
) -> tuple[SessionRecord, str]:
    """Store a new session; returns the record and the token (shown once, stored hashed)."""
    if not runtime.accepting:
        raise Unavailable("gateway is shutting down", retry_after_s=None)
    config = merged_config(SessionConfig(), changes)
    check_classes(runtime, config)
    await checked_webhooks(runtime, config)
    token = new_token()
    record = SessionRecord(
        sid=new_session_id(), token_hash=hash_token(token), source=await checked_source(runtime, source), config=config
    )
    await runtime.directory.create(record)
    runtime.counters["sessions_created"] += 1
    return record, token


async def update_config(runtime: GatewayRuntime, sid: str, changes: dict[str, Any]) -> SessionConfig:
    """Apply config changes with compare-and-set; 404 if the session ended meanwhile."""
    current = await runtime.directory.get(sid)
    if current is None:
        raise NotFound("no such session")
    check_classes(runtime, merged_config(current[0].config, changes))  # validate before writing
    await checked_webhooks(runtime, merged_config(current[0].config, changes))  # validate before writing

    def change(record: SessionRecord) -> SessionRecord:
        config = merged_config(record.config, changes)
        return record.model_copy(update={"config": config, "last_active_at": time.time()})

    stored = await runtime.directory.update(sid, change)
    if stored is None:
        raise NotFound("no such session")
    return stored.config
