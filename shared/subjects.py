"""Every NATS name Sightwire uses, in one place (DESIGN.md section 2).

Services never spell a subject by hand: they call these functions, so a rename
is one edit and a typo is an import error.
"""

from __future__ import annotations

import re
from enum import StrEnum

FRAMES_STREAM = "FRAMES"
RESULTS_STREAM = "RESULTS"
SESSIONS_BUCKET = "sw-sessions"
LEASES_BUCKET = "sw-leases"
WEBRTC_SUBJECT = "sw.ingest.webrtc"
WEBRTC_QUEUE = "sw-ingest-webrtc"

DETECTOR_DURABLE = "detector"
DEPTH_DURABLE = "depth"

FRAMES_ALL = "sw.frames.>"
RESULTS_ALL = "sw.results.>"

_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ResultKind(StrEnum):
    DET = "det"
    DEPTH = "depth"
    ERROR = "error"


def check_sid(sid: str) -> str:
    """A session id must be one subject token; anything else is refused."""
    if not _SID.fullmatch(sid):
        raise ValueError(f"invalid session id {sid!r}")
    return sid


def frames(sid: str) -> str:
    return f"sw.frames.{check_sid(sid)}"


def results(sid: str, kind: ResultKind) -> str:
    return f"sw.results.{check_sid(sid)}.{kind.value}"


def session_results(sid: str) -> str:
    """All result kinds of one session."""
    return f"sw.results.{check_sid(sid)}.>"


def sid_of(subject: str) -> str:
    """`sw.frames.<sid>` or `sw.results.<sid>.<kind>` -> `<sid>`."""
    parts = subject.split(".")
    if len(parts) < 3 or parts[0] != "sw" or parts[1] not in ("frames", "results"):
        raise ValueError(f"not a Sightwire data subject: {subject!r}")
    return parts[2]


def kind_of(subject: str) -> ResultKind:
    return ResultKind(subject.rsplit(".", 1)[-1])


def frame_msg_id(sid: str, seq: int) -> str:
    """`Nats-Msg-Id` of a frame: JetStream drops a second publish of it."""
    return f"{sid}:{seq}"


HEARTBEAT_ALL = "sw.heartbeat.>"


def heartbeat(service: str, instance: str) -> str:
    """Core-NATS (not JetStream) liveness and counters of one process."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in instance)
    return f"sw.heartbeat.{service}.{safe}"
