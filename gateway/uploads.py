"""Frames that clients push (HTTP upload or WebSocket) onto `FRAMES`.

`publish_frame` is the one path for pushed frames: size cap (413), header and
dimension check without a decode (422), per-session token bucket (429), then a
`Frame` envelope published with `Nats-Msg-Id` so that a retried publish is
dropped by JetStream. It answers as soon as JetStream has stored the frame;
results arrive later on the session's streams. Rate-limited frames are counted
as dropped (`reason="rate_limited"`): live video drops rather than queues.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError

from gateway import images
from gateway.errors import ApiError
from shared import subjects
from shared.envelopes import Frame, now_ns
from shared.errors import ErrorCode
from shared.images import ImageInfo, InvalidImage, inspect
from shared.sequence import SeqCounter
from shared.sessions import SessionConfig, SessionRecord

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

    from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

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


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per frame."""

    def __init__(self, rate: float, burst: int, clock: float | None = None) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic() if clock is None else clock

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class UploadState:
    """Per-session, per-process upload bookkeeping (dropped when the session ends)."""

    bucket: TokenBucket
    seq: SeqCounter = field(default_factory=SeqCounter)
    last_depth_ns: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # accepted / rejected by error code

    def want_depth(self, config: SessionConfig, at_ns: int) -> bool:
        """Depth on, and at most `depth_fps` depth frames per second."""
        if not config.enable_depth or at_ns - self.last_depth_ns < 1e9 / config.depth_fps:
            return False
        self.last_depth_ns = at_ns
        return True


def upload_cap(runtime: IntakeContext) -> int:
    """The configured cap, lowered to what one NATS message can carry."""
    server_max = runtime.nc.max_payload or runtime.settings.max_upload_bytes
    return min(runtime.settings.max_upload_bytes, max(1024, server_max - ENVELOPE_OVERHEAD))


def check_size(runtime: IntakeContext, size: int, frame_id: str | None = None) -> None:
    cap = upload_cap(runtime)
    if size > cap:
        raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"image of {size} bytes exceeds {cap}", frame_id)


def _checked_info(runtime: IntakeContext, data: bytes, frame_id: str | None) -> ImageInfo:
    try:
        info = inspect(data, runtime.settings.max_image_pixels)
    except InvalidImage as exc:
        raise ApiError(422, ErrorCode.INVALID_IMAGE, str(exc), frame_id) from exc
    low, high = runtime.settings.min_image_side, runtime.settings.max_image_side
    if not (low <= info.width <= high and low <= info.height <= high):
        raise ApiError(
            422, ErrorCode.INVALID_IMAGE, f"{info.width}x{info.height} is outside {low}..{high} px", frame_id
        )
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
    except InvalidImage as exc:
        raise ApiError(422, ErrorCode.INVALID_IMAGE, str(exc), frame_id) from exc


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
            raise ApiError(422, ErrorCode.INVALID_IMAGE, "data: URL must be base64", frame_id)
    if len(image_data) * 3 // 4 > max_bytes + 3:
        raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"image exceeds {max_bytes} bytes", frame_id)
    try:
        return binascii.a2b_base64(image_data.strip(), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, ErrorCode.INVALID_IMAGE, "image_data is not valid base64", frame_id) from exc


async def publish_frame(
    runtime: IntakeContext,
    record: SessionRecord,
    jpeg: bytes,
    frame_id: str | None,
    captured_at_ns: int | None,
) -> int:
    """Validate one pushed image (JPEG, or PNG re-encoded), publish it, return its seq.

    Raises `ApiError` (413, 422, 429, 503); every outcome is counted.
    """
    try:
        seq = await _validated_publish(runtime, record, jpeg, frame_id, captured_at_ns)
    except ApiError as exc:
        count(runtime, record.sid, exc.code.value)
        raise
    count(runtime, record.sid, "accepted")
    await runtime.touch(record.sid)
    return seq


async def _validated_publish(
    runtime: IntakeContext, record: SessionRecord, data: bytes, frame_id: str | None, captured_at_ns: int | None
) -> int:
    if not runtime.accepting:
        raise ApiError(503, ErrorCode.UNAVAILABLE, "gateway is shutting down", frame_id)
    if record.source.pulled:
        message = f"this session's frames come from its {record.source.type} source"
        raise ApiError(409, ErrorCode.VALIDATION_ERROR, message, frame_id)
    check_size(runtime, len(data), frame_id)
    state = runtime.upload_state(record.sid)
    if not state.bucket.take():  # counted once, as the RATE_LIMITED outcome (gateway.stats reads it)
        raise ApiError(429, ErrorCode.RATE_LIMITED, "upload rate limit exceeded", frame_id)
    info = _checked_info(runtime, data, frame_id)
    body = await _as_jpeg(runtime.png_slots, data, info, frame_id, runtime.settings.max_image_pixels)
    received = now_ns()
    seq = state.seq.next()
    frame = Frame(
        sid=record.sid,
        seq=seq,
        captured_at_ns=capture_time_ns(record.config, captured_at_ns, received),
        ingested_at_ns=received,
        width=info.width,
        height=info.height,
        source="upload",
        jpeg=body,
        frame_id=frame_id,
        depth=state.want_depth(record.config, received),
        max_age_ms=record.config.max_frame_age_ms,
    )
    await _publish(runtime, frame)
    return seq


async def _publish(runtime: IntakeContext, frame: Frame) -> None:
    headers = {"Nats-Msg-Id": subjects.frame_msg_id(frame.sid, frame.seq)}
    try:
        await runtime.js.publish(
            subjects.frames(frame.sid), frame.to_bytes(), timeout=PUBLISH_TIMEOUT_S, headers=headers
        )
    except MaxPayloadError as exc:
        raise ApiError(
            413, ErrorCode.PAYLOAD_TOO_LARGE, "frame exceeds the NATS message limit", frame.frame_id
        ) from exc
    except (NatsError, TimeoutError) as exc:
        log.warning("frame publish failed", extra={"sid": frame.sid, "error": repr(exc)})
        raise ApiError(503, ErrorCode.UNAVAILABLE, "frame store unavailable, retry", frame.frame_id) from exc
