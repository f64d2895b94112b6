"""Every NATS name Sightwire uses, in one place (DESIGN.md section 2).

Services never spell a subject by hand: they call these functions, so a rename
is one edit and a typo is an import error.
"""

from __future__ import annotations

import re
from enum import StrEnum

FRAMES_STREAM = "FRAMES"
RESULTS_STREAM = "RESULTS"
SCENE_STREAM = "SCENE"
EVENTS_STREAM = "EVENTS"
SESSIONS_BUCKET = "sw-sessions"
LEASES_BUCKET = "sw-leases"
SCENE_LEASES_BUCKET = "sw-scene-leases"  # which scene instance owns a session (DESIGN §7)
SCENE_CHECKPOINTS_BUCKET = "sw-scene"  # each owned session's checkpoint, key = <sid>
WEBRTC_SUBJECT = "sw.ingest.webrtc"
WEBRTC_QUEUE = "sw-ingest-webrtc"

DETECTOR_DURABLE = "detector"
DEPTH_DURABLE = "depth"

FRAMES_ALL = "sw.frames.>"
RESULTS_ALL = "sw.results.>"
SCENE_ALL = "sw.scene.>"
EVENTS_ALL = "sw.events.>"

# The one session-id pattern (one subject token); the gateway checks ids in paths with it too.
SID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_SID = re.compile(SID_PATTERN)
_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")


class ResultKind(StrEnum):
    DET = "det"
    DEPTH = "depth"
    ERROR = "error"


def is_sid(sid: str) -> bool:
    """Whether `sid` is a well-formed session id (one subject token)."""
    return _SID.fullmatch(sid) is not None


def check_sid(sid: str) -> str:
    """A session id must be one subject token; anything else is refused."""
    if not is_sid(sid):
        raise ValueError(f"invalid session id {sid!r}")
    return sid


def frames(sid: str) -> str:
    return f"sw.frames.{check_sid(sid)}"


def results(sid: str, kind: ResultKind) -> str:
    return f"sw.results.{check_sid(sid)}.{kind.value}"


def session_results(sid: str) -> str:
    """All result kinds of one session."""
    return f"sw.results.{check_sid(sid)}.>"


def scene(sid: str) -> str:
    """The finished client messages of one session, written once by its scene owner (DESIGN §7).

    Body: the UTF-8 JSON of the DESIGN §4 client message (`{"type": "detection_result", ...}` or
    `{"type": "error", ...}`), exactly as a viewer receives it; the gateway forwards the bytes.
    """
    return f"sw.scene.{check_sid(sid)}"


def scene_msg_id(sid: str, results_seq: int) -> str:
    """`Nats-Msg-Id` of a SCENE message: a replay after failover writes nothing twice."""
    return f"{sid}:{results_seq}"


def events(sid: str, kind: str) -> str:
    """One event of a session (DESIGN §8); body: the UTF-8 JSON `{"type": "event", "event": {...}}`."""
    if not _KIND.fullmatch(kind):
        raise ValueError(f"invalid event kind {kind!r}")
    return f"sw.events.{check_sid(sid)}.{kind}"


def session_events(sid: str) -> str:
    """All event kinds of one session."""
    return f"sw.events.{check_sid(sid)}.>"


def sid_of(subject: str) -> str:
    """`sw.<frames|results|scene|events>.<sid>[.<kind>]` -> `<sid>`."""
    parts = subject.split(".")
    if len(parts) < 3 or parts[0] != "sw" or parts[1] not in ("frames", "results", "scene", "events"):
        raise ValueError(f"not a Sightwire data subject: {subject!r}")
    return parts[2]


def kind_of(subject: str) -> ResultKind:
    return ResultKind(subject.rsplit(".", 1)[-1])


def frame_msg_id(sid: str, seq: int) -> str:
    """`Nats-Msg-Id` of a frame: JetStream drops a second publish of it."""
    return f"{sid}:{seq}"


def ingest_video(instance: str) -> str:
    """Video signalling of one ingest instance (request/reply, no queue group): the gateway sends a
    viewer's offer to the instance that holds the camera's lease (DESIGN §9)."""
    return f"sw.ingest.video.{_token(instance)}"


def _token(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


HEARTBEAT_ALL = "sw.heartbeat.>"


def heartbeat(service: str, instance: str) -> str:
    """Core-NATS (not JetStream) liveness and counters of one process."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in instance)
    return f"sw.heartbeat.{service}.{safe}"
