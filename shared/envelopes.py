"""Versioned msgpack envelopes: the only shapes that travel between services.

Each class maps one-to-one to DESIGN.md section 3 and has `to_bytes()` and
`from_bytes()`. `from_bytes` never trusts its input: a body that is not a
msgpack map, lacks a field, has a field of the wrong type or carries an unknown
`v` raises `EnvelopeError` with a code, which the consumer turns into an error
result instead of crashing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import msgpack

from shared.boxes import Box
from shared.clock import now_ns
from shared.errors import EnvelopeError, ErrorCode
from shared.telemetry import DropCounts, drop_counts

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


def _decoded_boxes(raw: Any) -> list[Box]:
    if not isinstance(raw, list):
        raise EnvelopeError("detections: boxes must be a list")
    return [Box.from_list(b) for b in raw]


def _encoded_boxes(boxes: list[Box]) -> list[list[Any]]:
    return [b.to_list() for b in boxes]


# Fields whose wire form is not their Python form, by annotation: (encode, decode).
_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "list[Box]": (_encoded_boxes, _decoded_boxes),
}


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    """What encoding and decoding need of one envelope field, worked out once per class."""

    name: str
    required: bool
    allowed: tuple[type, ...] | None  # None: not type-checked here
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any] | None


_SPECS: dict[type, tuple[_FieldSpec, ...]] = {}


def _specs(cls: type[Envelope]) -> tuple[_FieldSpec, ...]:
    cached = _SPECS.get(cls)
    if cached is None:
        cached = _SPECS[cls] = _field_specs(cls)
    return cached


def _field_specs(cls: type[Envelope]) -> tuple[_FieldSpec, ...]:
    specs = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        codec = _CODECS.get(str(f.type))
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        specs.append(
            _FieldSpec(
                f.name,
                not has_default,
                _PY_TYPES.get(str(f.type)),
                codec[0] if codec is not None else None,
                codec[1] if codec is not None else None,
            )
        )
    return tuple(specs)


def _checked_fields(cls: type[Envelope], body: dict[str, Any]) -> dict[str, Any]:
    """The dataclass fields of `cls` from `body`, each checked for presence and type, decoded."""
    kwargs: dict[str, Any] = {}
    for spec in _specs(cls):
        if spec.name not in body:
            if not spec.required:
                continue
            raise EnvelopeError(f"{cls.KIND}: missing field {spec.name!r}")
        value = body[spec.name]
        allowed = spec.allowed
        wrong_bool = isinstance(value, bool) and bool not in (allowed or (bool,))
        if allowed is not None and (not isinstance(value, allowed) or wrong_bool):
            raise EnvelopeError(f"{cls.KIND}: field {spec.name!r} has type {type(value).__name__}")
        kwargs[spec.name] = spec.decode(value) if spec.decode is not None else value
    return kwargs


def _wire_fields(envelope: Envelope) -> dict[str, Any]:
    body: dict[str, Any] = {"v": VERSION}
    for spec in _specs(type(envelope)):
        value = getattr(envelope, spec.name)
        body[spec.name] = spec.encode(value) if spec.encode is not None else value
    return body


class Envelope:
    """Shared encode/decode for the dataclass envelopes below: one field walk each way (types checked,
    `_CODECS` applied), then the envelope's own cross-field rules (`check`)."""

    KIND: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return _wire_fields(self)

    def to_bytes(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)

    def check(self) -> None:
        """Rules across fields, for a decoded envelope; raises `EnvelopeError`."""

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Self:
        parsed = cls(**_checked_fields(cls, body))
        parsed.check()
        return parsed

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


@dataclass(slots=True)
class DepthMap(Result):
    """Depth output on `sw.results.<sid>.depth`: a small float16 grid, row-major."""

    KIND: ClassVar[str] = "depth"
    grid: bytes
    grid_w: int
    grid_h: int
    larger_is_farther: bool
    frame_id: str | None = None

    def check(self) -> None:
        if self.grid_w <= 0 or self.grid_h <= 0 or len(self.grid) != 2 * self.grid_w * self.grid_h:
            raise EnvelopeError("depth: grid size does not match grid_w x grid_h float16")


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
    global stats (`processed`, and `dropped` by `DropReason`: the only place
    those two are reported) and, from `labels`, to tell clients which class
    names the running detector can report. `counters` carries the rest
    (errors, in_flight, video_*, ...), which the gateway does not add up.
    """

    KIND: ClassVar[str] = "heartbeat"
    service: str
    instance: str
    at_ns: int
    counters: dict[str, int] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # a detector's class names, by class_id
    processed: int = 0  # frames this process finished (ingest: published), cumulative
    dropped: DropCounts = field(default_factory=dict)  # frames it dropped, by reason, cumulative

    def __post_init__(self) -> None:
        if not all(isinstance(label, str) for label in self.labels):
            raise EnvelopeError("heartbeat: labels must be strings")
        try:
            self.dropped = drop_counts(self.dropped)
        except ValueError as exc:
            raise EnvelopeError(f"heartbeat: {exc}") from exc
