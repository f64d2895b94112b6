"""`POST /stream/process/{client_id}`: the seed's frame upload, plus raw image bodies.

Two body forms, chosen by Content-Type: the seed's JSON (`image_data` in
base64, `frame_id`, `timestamp`) or the bytes of a JPEG/PNG (`image/jpeg`,
`image/png`, `application/octet-stream`; `frame_id` and `timestamp` then come
from the query). The body is read with a cap, so an oversized upload is
refused with 413 before it is held in memory. The answer (202) comes as soon
as the frame is stored in JetStream, without waiting for inference.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError

from gateway.deps import AuthorizedSession, RuntimeDep
from gateway.errors import error_responses
from gateway.schemas import UploadAccepted, UploadFrame
from gateway.uploads import count, decode_base64, publish_frame, upload_cap
from shared.errors import InvalidInput, PayloadTooLarge, SightwireError

router = APIRouter(prefix="/stream", tags=["uploads"])

RAW_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "application/octet-stream"})
JSON_OVERHEAD = 64 * 1024
MAX_FRAME_ID = 128
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": UploadFrame.model_json_schema()},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, or 413 as soon as it is known to exceed `cap`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"body exceeds {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"body exceeds {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def frame_id_of(raw: str | float | None) -> str | None:
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else format(raw, "g") if isinstance(raw, float) else str(raw)
    if len(text) > MAX_FRAME_ID:
        raise InvalidInput(f"frame_id longer than {MAX_FRAME_ID}")
    return text


MAX_EPOCH_S = 1e11  # year ~5138: anything later is not a capture time


def capture_ns(timestamp: float | None) -> int | None:
    """Seconds since the epoch (the seed's `Date.now() / 1000`); milliseconds tolerated."""
    if timestamp is None or not math.isfinite(timestamp) or timestamp <= 0:
        return None
    seconds = timestamp / 1000 if timestamp > 1e11 else timestamp
    if seconds > MAX_EPOCH_S:  # absurd: publish_frame falls back to the receive time
        return None
    return int(seconds * 1e9)


def parse_json_frame(body: bytes) -> UploadFrame:
    try:
        return UploadFrame.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
        raise InvalidInput(f"invalid frame body: {problems}") from exc


@router.post(
    "/process/{client_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 503),
    openapi_extra=_BODY_DOC,
    summary="Submit one frame for processing",
)
async def process_frame(
    request: Request,
    runtime: RuntimeDep,
    record: AuthorizedSession,
    frame_id: Annotated[str | None, Query(max_length=MAX_FRAME_ID, description="For raw image bodies")] = None,
    timestamp: Annotated[float | None, Query(description="Capture time (s) for raw image bodies")] = None,
) -> UploadAccepted:
    cap = upload_cap(runtime.intake)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in RAW_TYPES:
            data = await read_capped(request, cap)
            fid = frame_id_of(frame_id or request.headers.get("x-frame-id"))
            captured = capture_ns(timestamp)
        else:
            frame = parse_json_frame(await read_capped(request, cap * 4 // 3 + JSON_OVERHEAD))
            fid = frame_id_of(frame.frame_id)
            data = decode_base64(frame.image_data, fid, cap)
            captured = capture_ns(frame.timestamp)
    except SightwireError as exc:
        count(runtime.intake, record.sid, exc.code.value)
        raise
    seq = await publish_frame(runtime.intake, record, data, fid, captured)
    return UploadAccepted(frame_id=fid, seq=seq)
