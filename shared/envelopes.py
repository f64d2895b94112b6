"""Versioned msgpack envelopes: the only shapes that travel between services.

Each class maps one-to-one to DESIGN.md section 3 and has `to_bytes()` and
`from_bytes()`. `from_bytes` never trusts its input: a body that is not a
msgpack map, lacks a field, has a field of the wrong type or carries an unknown
`v` raises `EnvelopeError` with a code, which the consumer turns into an error
result instead of crashing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import msgpack

from shared.boxes import Box
from shared.clock import now_ns
from shared.errors import EnvelopeError, ErrorCode

VERSION = 1
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024


def _unpack(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise EnvelopeError(f"not msgpack: {exc.__class__.__name__}") from exc
    if not isinstance(body, dict):
        raise EnvelopeError("envelope is not a map")
    version = body.get("v")
    if version != VERSION:
        raise EnvelopeError(f"unsupported envelope version {version!r}", ErrorCode.UNSUPPORTED_VERSION)
    return body


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bytes": (bytes,),
    "bool": (bool,),
    "list": (list,),
    "dict[str, int]": (dict,),
    "dict[str, str]": (dict,),
    "str | None": (str, type(None)),
    "float | None": (int, float, type(None)),
}


def _checked_fields(cls: type[Envelope], body: dict[str, Any]) -> dict[str, Any]:
    """The dataclass fields of `cls` from `body`, each checked for presence and type."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in body:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise EnvelopeError(f"{cls.KIND}: missing field {f.name!r}")
        value = body[f.name]
        allowed = _PY_TYPES.get(str(f.type))
        wrong_bool = isinstance(value, bool) and bool not in (allowed or (bool,))
        if allowed is not None and (not isinstance(value, allowed) or wrong_bool):
            raise EnvelopeError(f"{cls.KIND}: field {f.name!r} has type {type(value).__name__}")
        kwargs[f.name] = value
    return kwargs


class Envelope:
    """Shared encode/decode for the dataclass envelopes below."""

    KIND: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"v": VERSION, **body}

    def to_bytes(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        return cls(**_checked_fields(cls, body))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return cls.from_dict(_unpack(data))


@dataclass(slots=True)
class Frame(Envelope):
    """One JPEG frame on `sw.frames.<sid>`."""

    KIND: ClassVar[str] = "frame"
    sid: str
    seq: int
    captured_at_ns: int
    ingested_at_ns: int
    width: int
    height: int
    source: str
    jpeg: bytes
    frame_id: str | None = None
    depth: bool = True  # False: the depth worker skips this frame (depth off, or rate-limited)
    max_age_ms: int = 0  # the session's staleness limit; 0 = the worker's default


@dataclass(slots=True)
class Result(Envelope):
    """The fields every worker result shares (DESIGN §3): which frame, when, by which worker and model,
    at what frame size. Subclasses add their payload after these, so the wire order stays the same."""

    sid: str
    seq: int
    captured_at_ns: int
    started_at_ns: int
    finished_at_ns: int
    worker: str
    model: str
    width: int
    height: int


@dataclass(slots=True)
class Detections(Result):
    """Detector output on `sw.results.<sid>.det`."""

    KIND: ClassVar[str] = "detections"
    boxes: list[Box] = field(default_factory=list)
    frame_id: str | None = None
    ingested_at_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        body = Result.to_dict(self)
        body["boxes"] = [b.to_list() for b in self.boxes]
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        raw_boxes = body.get("boxes", [])
        if not isinstance(raw_boxes, list):
            raise EnvelopeError("detections: boxes must be a list")
        kwargs = _checked_fields(cls, {**body, "boxes": []})
        kwargs["boxes"] = [Box.from_list(b) for b in raw_boxes]
        return cls(**kwargs)


@dataclass(slots=True)
class DepthMap(Result):
    """Depth output on `sw.results.<sid>.depth`: a small float16 grid, row-major."""

    KIND: ClassVar[str] = "depth"
    grid: bytes
    grid_w: int
    grid_h: int
    larger_is_farther: bool
    frame_id: str | None = None

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        parsed = cls(**_checked_fields(cls, body))
        if parsed.grid_w <= 0 or parsed.grid_h <= 0 or len(parsed.grid) != 2 * parsed.grid_w * parsed.grid_h:
            raise EnvelopeError("depth: grid size does not match grid_w x grid_h float16")
        return parsed


@dataclass(slots=True)
class ErrorResult(Envelope):
    """An error on `sw.results.<sid>.error`: what went wrong with which frame."""

    KIND: ClassVar[str] = "error"
    sid: str
    seq: int
    code: str
    message: str
    frame_id: str | None = None
    at_ns: int = field(default_factory=now_ns)


@dataclass(slots=True)
class Heartbeat(Envelope):
    """Published every few seconds by each ingest and worker process on `sw.heartbeat.<service>.<instance>`.

    The gateway uses it for readiness (is any detector alive?), for the
    global stats (processed and dropped frames by reason) and, from `labels`,
    to tell clients which class names the running detector can report.
    """

    KIND: ClassVar[str] = "heartbeat"
    service: str
    instance: str
    at_ns: int
    counters: dict[str, int] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # a detector's class names, by class_id

    def __post_init__(self) -> None:
        if not all(isinstance(label, str) for label in self.labels):
            raise EnvelopeError("heartbeat: labels must be strings")
