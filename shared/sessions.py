"""The session record (what a user asked for) and its home, the sw-sessions KV bucket.

The gateway writes records; ingest reads them to know which cameras to pull;
either may change the status (ingest marks a source `failed`). Every change is
a compare-and-set on the entry's revision, so two writers never silently
overwrite each other, and any gateway replica can serve any session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.eventconfig import REVEAL_SECRETS, Anchor, Lines, Webhooks, Zones
from shared.urls import redact_url

log = logging.getLogger(__name__)

SourceType = Literal["rtsp", "http", "file", "usb", "webrtc", "upload"]
PULLED_SOURCES: frozenset[str] = frozenset({"rtsp", "http", "file", "usb"})
SessionStatus = Literal["active", "failed", "closed"]
MAX_CLASS_NAME = 64
ClassName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLASS_NAME)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(Strict):
    """Where frames come from. `url` may hold credentials: show `redacted()` only."""

    type: SourceType = "upload"
    url: str | None = Field(None, max_length=2048)
    loop: bool = False

    @property
    def pulled(self) -> bool:
        """Sources that an ingest instance must own (and lease) and pull from."""
        return self.type in PULLED_SOURCES

    def redacted(self) -> SourceSpec:
        return self.model_copy(update={"url": redact_url(self.url) if self.url else None})


class Calibration(Strict):
    """User calibration: distance_m = scale * depth_rel + offset_m (overrides the estimates)."""

    scale: float = Field(gt=0, le=10_000)
    offset_m: float = Field(0.0, ge=-1000, le=1000)


MAX_FPS = 30  # the highest analysis or delivery rate anyone may ask for


class SessionConfig(Strict):
    """Per-session pipeline settings; every field is bounded, here only (the API derives its bodies from it)."""

    fps_limit: int = Field(
        10,
        ge=1,
        le=MAX_FPS,
        description="The session's analysis rate: frames per second taken from the source for analysis; "
        "also each viewer's default and ceiling for results per second.",
    )
    confidence_threshold: float = Field(0.5, ge=0.0, le=1.0)
    enable_tracking: bool = True
    enable_depth: bool = True
    depth_fps: float = Field(5.0, gt=0, le=MAX_FPS, description="Depth maps per second (<= frame rate).")
    classes: list[ClassName] | None = Field(None, max_length=80, description="Only these labels; null = all.")
    camera_hfov_deg: float = Field(60.0, gt=1, lt=180, description="Horizontal field of view of the camera.")
    calibration: Calibration | None = None
    max_frame_age_ms: int = Field(2000, ge=50, le=60_000, description="Older frames are dropped as stale.")
    zones: Zones = Field(default_factory=list, description="Polygons to watch (DESIGN §8); replaces the list.")
    lines: Lines = Field(default_factory=list, description="Lines to count crossings of; replaces the list.")
    anchor: Anchor = Field("bottom_center", description="The point of a box that counts.")
    webhooks: Webhooks = Field(default_factory=list, description="Event receivers; `secret` is write-only.")

    @property
    def analysis_fps(self) -> int:
        """Frames per second the producers sample from this session's source for analysis.

        Kept under the seed API's name `fps_limit` on the wire; code that paces
        capture or admits frames should read this name.
        """
        return self.fps_limit


class SessionRecord(Strict):
    sid: str
    token_hash: str
    source: SourceSpec = Field(default_factory=lambda: SourceSpec())
    config: SessionConfig = Field(default_factory=lambda: SessionConfig())
    status: SessionStatus = "active"
    error_code: str | None = None
    error_message: str | None = None
    webhooks_failed: int = Field(0, ge=0, description="Events whose webhook delivery failed for good (notifier).")
    created_at: float = Field(default_factory=time.time)
    last_active_at: float = Field(default_factory=time.time)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(context=REVEAL_SECRETS).encode()  # webhook secrets are stored, never shown

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionRecord:
        return cls.model_validate_json(data)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the bucket as a watch sees it: the record now (None: deleted) and its revision."""

    sid: str
    record: SessionRecord | None
    revision: int


WATCH_OPEN_TIMEOUT_S = 10.0


async def open_watcher(kv: KeyValue) -> KeyValue.KeyWatcher:
    """`kv.watchall()` that does not leak a half-made watcher when the caller is cancelled.

    nats-py leaves the ordered consumer subscribed if `watchall()` is cancelled
    mid-way (e.g. a service stopping right after start-up); its callback then
    blocks `nc.drain()` for the JetStream timeout. So creation runs shielded,
    and a watcher finished after the cancellation is stopped before re-raising.
    """
    creating = asyncio.ensure_future(kv.watchall())
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # already failing: the cancellation is what matters
            watcher = await asyncio.wait_for(creating, WATCH_OPEN_TIMEOUT_S)
            await watcher.stop()
        raise


class SessionStore:
    """CAS reads and writes of session records in the sw-sessions bucket."""

    def __init__(self, kv: KeyValue, cas_retries: int = 10) -> None:
        self.kv = kv
        self.cas_retries = cas_retries

    async def create(self, record: SessionRecord) -> int:
        return await self.kv.create(record.sid, record.to_bytes())

    async def get(self, sid: str) -> tuple[SessionRecord, int] | None:
        try:
            entry = await self.kv.get(sid)
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return SessionRecord.from_bytes(entry.value), entry.revision

    async def update(self, sid: str, change: Callable[[SessionRecord], SessionRecord]) -> SessionRecord | None:
        """Apply `change` with compare-and-set, retrying on a concurrent write.

        Returns the stored record, or None if the session no longer exists.
        """
        stored = await self.update_revision(sid, change)
        return stored.record if stored is not None else None

    async def update_revision(self, sid: str, change: Callable[[SessionRecord], SessionRecord]) -> Change | None:
        """`update`, also returning the revision written (to hand to the watcher at once)."""
        for _ in range(self.cas_retries):
            current = await self.get(sid)
            if current is None:
                return None
            record, revision = current
            updated = change(record.model_copy(deep=True))
            try:
                written = await self.kv.update(sid, updated.to_bytes(), last=revision)
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0)
                continue
            return Change(sid, updated, written)
        raise RuntimeError(f"session {sid}: too many concurrent updates")

    async def delete(self, sid: str) -> None:
        await self.kv.delete(sid)

    async def all(self) -> list[SessionRecord]:
        try:
            keys = await self.kv.keys()
        except Exception:  # nats-py raises NoKeysError on an empty bucket
            return []
        found = [await self.get(k) for k in keys]
        return [f[0] for f in found if f is not None]

    async def changes(self) -> AsyncGenerator[Change | None, None]:
        """Every current record, then None (the initial values are all in), then each change.

        Most code wants `shared.session_watcher.SessionWatcher` (one watch per process,
        restarted after errors) rather than this single, unguarded watch.
        """
        watcher = await open_watcher(self.kv)
        try:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    yield None
                    continue
                revision = entry.revision or 0
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    yield Change(entry.key, None, revision)
                    continue
                try:
                    record = SessionRecord.from_bytes(entry.value)
                except ValidationError as exc:  # one bad record must not blind the watcher to all others
                    log.warning("unreadable session record skipped", extra={"sid": entry.key, "error": str(exc)})
                    continue
                yield Change(entry.key, record, revision)
        finally:
            await watcher.stop()

    async def watch(self) -> AsyncIterator[tuple[str, SessionRecord | None]]:
        """Every current record, then each change; None means deleted."""
        async with contextlib.aclosing(self.changes()) as changes:
            async for change in changes:
                if change is not None:
                    yield change.sid, change.record
