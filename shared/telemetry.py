"""Why a frame will never be processed: the one vocabulary of drop reasons.

Every service counts drops with a `DropReason`, never a free string, so the
gateway's `/stream/stats`, `/metrics` and the heartbeats all name a reason the
same way, and a new reason is one line here. The values are the label values
that Prometheus and the JSON stats show.
"""

from __future__ import annotations

from enum import StrEnum


class DropReason(StrEnum):
    # producers (camera ingest, WebRTC ingest, gateway uploads)
    FPS = "fps"  # sampled out to the session's analysis rate
    INGEST_OVERRUN = "ingest_overrun"  # a newer capture replaced one not yet published
    BUSY = "busy"  # the encoder was still busy with an earlier frame
    ENCODE_ERROR = "encode_error"
    PUBLISH_ERROR = "publish_error"
    # the broker
    EVICTED = "evicted"  # FRAMES' per-session cap discarded an accepted frame
    # workers
    STALE = "stale"  # older than the session's max age when a worker got to it
    SUPERSEDED = "superseded"  # a newer frame of the same session was waiting
    DEPTH_OFF = "depth_off"
    INVALID_INPUT = "invalid_input"
    # the scene stage
    LATE = "late"  # later than the reorder window
    DUPLICATE = "duplicate"
    BAD_ENVELOPE = "bad_envelope"
    SCENE_ERROR = "scene_error"
    # camera video
    VIDEO_BUSY = "video_busy"
