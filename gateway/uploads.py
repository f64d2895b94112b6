"""Frames that clients push (HTTP upload or WebSocket) onto `FRAMES`.

`publish_frame` is the one path for pushed frames: size cap (413), header and
dimension check without a decode (422), per-session rate limit (429, with
`Retry-After`), then the session's `FrameProducer` (as for every source: seq,
`Nats-Msg-Id` so that JetStream drops a retried publish, depth sampled on
capture time, staleness limit). Uploads are not sampled to the session's fps:
their client paces them, and the upload limit caps them. It answers as soon as
JetStream has stored the frame; results arrive later on the session's streams.
Rate-limited frames are counted as dropped (`reason="rate_limited"`): live
video drops rather than queues.
"""

from __future__ import annotations

import asyncio
import binascii
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from gateway import images
from shared.envelopes import now_ns
from shared.errors import (
    Conflict,
    InvalidImage,
    PayloadTooLarge,
    RateLimited,
    SightwireError,
    Unavailable,
)
from shared.images import ImageInfo, inspect
from shared.images import InvalidImage as UnreadableImage
from shared.producer import FrameProducer, Picture
from shared.rates import RateLimiter
from shared.sessions import SessionConfig, SessionRecord

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

    from gateway.settings import GatewaySettings

PUBLISH_TIMEOUT_S = 5.0
ENVELOPE_OVERHEAD = 64 * 1024


class IntakeContext(Protocol):
    """What taking a frame in needs (`gateway.intake.FrameIntake` in a running gateway)."""

    settings: GatewaySettings
    nc: NATS
    js: JetStreamContext
    counters: Counter[str]
    png_slots: asyncio.Semaphore

    @property
    def accepting(self) -> bool: ...

    def upload_state(self, sid: str) -> UploadState: ...

    async def touch(self, sid: str) -> None: ...


@dataclass
class UploadState:
    """Per-session, per-process upload bookkeeping (dropped when the session ends)."""

    limit: RateLimiter  # frames a second this process takes for the session
    producer: FrameProducer  # seq, depth sampling, publish
    counts: Counter[str] = field(default_factory=Counter)  # accepted / rejected by error code


def upload_cap(runtime: IntakeContext) -> int:
    """The configured cap, lowered to what one NATS message can carry."""
    server_max = runtime.nc.max_payload or runtime.settings.max_upload_bytes
    return min(runtime.settings.max_upload_bytes, max(1024, server_max - ENVELOPE_OVERHEAD))


def check_size(runtime: IntakeContext, size: int, frame_id: str | None = None) -> None:
    cap = upload_cap(runtime)
    if size > cap:
        raise PayloadTooLarge(f"image of {size} bytes exceeds {cap}", frame_id=frame_id)


def _checked_info(runtime: IntakeContext, data: bytes, frame_id: str | None) -> ImageInfo:
    try:
        info = inspect(data, runtime.settings.max_image_pixels)
    except UnreadableImage as exc:
        raise InvalidImage(str(exc), frame_id=frame_id) from exc
    low, high = runtime.settings.min_image_side, runtime.settings.max_image_side
    if not (low <= info.width <= high and low <= info.height <= high):
        raise InvalidImage(f"{info.width}x{info.height} is outside {low}..{high} px", frame_id=frame_id)
    return info


async def _as_jpeg(
    png_slots: asyncio.Semaphore, data: bytes, info: ImageInfo, frame_id: str | None, max_pixels: int
) -> bytes:
    """PNG re-encodes hold a full decoded image in memory: a few at a time, in threads."""
    if info.format == "jpeg":
        return data
    try:
        async with png_slots:
            return await asyncio.to_thread(images.png_to_jpeg, data, max_pixels)
    except UnreadableImage as exc:
        raise InvalidImage(str(exc), frame_id=frame_id) from exc


def capture_time_ns(config: SessionConfig, client_ns: int | None, received_ns: int) -> int:
    """The client's capture time if plausible, else the receive time.

    A client clock ahead of ours, or so far behind that the frame would count
    as stale, would make every frame look stale or negative-latency.
    """
    if client_ns is None or client_ns > received_ns or received_ns - client_ns > config.max_frame_age_ms * 1_000_000:
        return received_ns
    return client_ns


def count(runtime: IntakeContext, sid: str, outcome: str) -> None:
    """Count one upload outcome (`accepted` or an error code) for the session and the process."""
    runtime.upload_state(sid).counts[outcome] += 1
    runtime.counters[f"uploads.{outcome}"] += 1


def decode_base64(image_data: str, frame_id: str | None, max_bytes: int) -> bytes:
    """Strict base64 (a `data:image/...;base64,` prefix allowed); 413 before decoding a huge string."""
    if image_data.startswith("data:"):
        header, _, image_data = image_data.partition(",")
        if not header.endswith(";base64"):
            raise InvalidImage("data: URL must be base64", frame_id=frame_id)
    if len(image_data) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"image exceeds {max_bytes} bytes", frame_id=frame_id)
    try:
        return binascii.a2b_base64(image_data.strip(), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("image_data is not valid base64", frame_id=frame_id) from exc


async def publish_frame(
    runtime: IntakeContext,
    record: SessionRecord,
    jpeg: bytes,
    frame_id: str | None,
    captured_at_ns: int | None,
) -> int:
    """Validate one pushed image (JPEG, or PNG re-encoded), publish it, return its seq.

    Raises `PayloadTooLarge`, `InvalidImage`, `Conflict`, `RateLimited` or
    `Unavailable`; every outcome is counted.
    """
    try:
        seq = await _validated_publish(runtime, record, jpeg, frame_id, captured_at_ns)
    except SightwireError as exc:
        count(runtime, record.sid, exc.code.value)
        raise
    count(runtime, record.sid, "accepted")
    await runtime.touch(record.sid)
    return seq


async def _validated_publish(
    runtime: IntakeContext, record: SessionRecord, data: bytes, frame_id: str | None, captured_at_ns: int | None
) -> int:
    if not runtime.accepting:
        raise Unavailable("gateway is shutting down", frame_id=frame_id)
    if record.source.pulled:
        raise Conflict(f"this session's frames come from its {record.source.type} source", frame_id=frame_id)
    check_size(runtime, len(data), frame_id)
    state = runtime.upload_state(record.sid)
    _take_upload_slot(state.limit, frame_id)
    info = _checked_info(runtime, data, frame_id)
    body = await _as_jpeg(runtime.png_slots, data, info, frame_id, runtime.settings.max_image_pixels)
    received = now_ns()
    picture = Picture(body, info.width, info.height, capture_time_ns(record.config, captured_at_ns, received))
    frame = await state.producer.produce(picture, record.config, frame_id)
    return frame.seq


def _take_upload_slot(limit: RateLimiter, frame_id: str | None) -> None:
    if not limit.take():  # counted once, as the RATE_LIMITED outcome (gateway.stats reads it)
        raise RateLimited("upload rate limit exceeded", retry_after_s=limit.wait_s(), frame_id=frame_id)
