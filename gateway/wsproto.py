"""What a WebSocket client may send, parsed and validated before anything acts on it.

Two messages (the seed's protocol): `{"type": "frame", "image_data": base64,
"frame_id", "timestamp", "metadata"}` and `{"type": "config_update", "config":
{...}}`; a binary message is taken as the raw bytes of one JPEG/PNG frame.
Everything else is an `InvalidInput` (or the upload checks' `InvalidImage`,
`PayloadTooLarge`) with a code that the connection reports to
the client as an error message, and the connection stays open. Frames are
validated with the same models and caps as `POST /stream/process`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.routes.uploads import capture_ns, frame_id_of
from gateway.schemas import ConfigUpdate, UploadFrame
from gateway.uploads import decode_base64
from shared.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class FrameIn:
    image: bytes
    frame_id: str | None
    captured_at_ns: int | None


@dataclass(frozen=True, slots=True)
class ConfigIn:
    changes: dict[str, Any]


ClientMessage = FrameIn | ConfigIn


def parse_binary(data: bytes) -> FrameIn:
    return FrameIn(data, None, None)


def parse_text(text: str, max_image_bytes: int) -> ClientMessage:
    """One text message -> a command; `InvalidInput`, `InvalidImage` or `PayloadTooLarge` if bad."""
    body = _json_object(text)
    kind = body.get("type")
    if kind == "frame":
        return _frame(body, max_image_bytes)
    if kind == "config_update":
        return _config(body)
    raise InvalidInput(f"unknown message type {kind!r} (expected frame or config_update)")


def _json_object(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc.msg} at {exc.pos}") from exc
    except RecursionError as exc:
        raise InvalidInput("malformed JSON: nested too deeply") from exc
    if not isinstance(body, dict):
        raise InvalidInput("a message must be a JSON object")
    return body


def _frame(body: dict[str, Any], max_image_bytes: int) -> FrameIn:
    raw_id = body.get("frame_id")
    try:
        frame = UploadFrame.model_validate(body)
    except ValidationError as exc:
        frame_id = raw_id if isinstance(raw_id, str) else None
        raise InvalidInput(f"invalid frame: {_problems(exc)}", frame_id=frame_id) from exc
    frame_id = frame_id_of(frame.frame_id)
    image = decode_base64(frame.image_data, frame_id, max_image_bytes)
    return FrameIn(image, frame_id, capture_ns(frame.timestamp))


def _config(body: dict[str, Any]) -> ConfigIn:
    try:
        update = ConfigUpdate.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(f"invalid config_update: {_problems(exc)}") from exc
    return ConfigIn(update.changes())


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
