"""Track ids per session: ByteTrack from Roboflow's `trackers` library.

Why this library: a maintained, clean-room ByteTrack (Kalman filter + Hungarian matching + the
two-stage association that keeps tracks alive through low-score boxes during occlusions), Apache
2.0, numpy-only at run time. ByteTrack itself ignores classes, but a person track must never
continue as a chair: each class's boxes are moved `CLASS_OFFSET` apart along x before they reach
the tracker (and back after), so boxes of different classes never overlap and are never matched,
while one tracker per session does one association per frame (not one per class).

Boxes are `Box`es (normalised corners); the timestamp is the frame's capture time in nanoseconds
(seconds only at the library's edge), so the motion model follows the real frame spacing and a
replay of the same frames gives the same ids. A track gets its id (1, 2, 3, ... per session) on
its second consecutive detection (ByteTrack's confirmation); before that it is None.

The state (`state()` / `restore()`) is plain data for the msgpack checkpoint: the Kalman state and
covariances of each tracklet as little-endian float64 arrays, its counters and the id counter.
Restoring it into a fresh tracker continues with the same ids (tested). It reads and writes a few
attributes of the library's tracker and tracklets, hence the pinned minor version (2.6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker
from trackers.core.bytetrack.tracklet import ByteTrackTracklet

from shared.boxes import Box, corners_array
from shared.clock import NS_PER_S, ns_to_s

FPS_REFERENCE = 30.0  # ByteTrack counts its lost-track buffer in 30 fps frames
KF_KEYS = ("state", "state_covariance", "transition_mtx", "observation_mtx", "process_noise", "measurement_noise")
CLASS_OFFSET = 4.0  # normalised boxes live in 0..1; a predicted box never drifts 3 frames wide


@dataclass(frozen=True, slots=True)
class TrackerParams:
    high_threshold: float  # the session's confidence threshold: boxes above it open and lead tracks
    lost_ns: int
    min_iou: float


class SceneTracker:
    """Assigns session-wide track ids to the detections of successive frames."""

    def __init__(self, params: TrackerParams) -> None:
        self.params = params
        self._tracker = self._new(0)

    def _new(self, next_id: int) -> ByteTrackTracker:
        tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(self.params.lost_ns * FPS_REFERENCE / NS_PER_S)), frame_rate=FPS_REFERENCE
        )
        tracker._next_track_id = next_id
        self._apply(tracker)
        return tracker

    def configure(self, params: TrackerParams) -> None:
        """New thresholds apply from the next frame; tracks and ids are kept."""
        self.params = params
        self._apply(self._tracker)

    def _apply(self, tracker: ByteTrackTracker) -> None:
        tracker.high_conf_det_threshold = self.params.high_threshold
        tracker.track_activation_threshold = self.params.high_threshold
        tracker.minimum_iou_threshold = self.params.min_iou

    def reset(self) -> None:
        """Forget every track (tracking was off for a while); ids keep counting up."""
        self._tracker = self._new(int(self._tracker._next_track_id))

    def update(self, boxes: Sequence[Box], timestamp_ns: int) -> list[int | None]:
        """One frame's detections (all scores: weak ones keep tracks alive) -> their ids, in order."""
        n = len(boxes)
        if n:
            xyxy = corners_array(boxes)
            shift = np.array([b.class_id for b in boxes], dtype=np.float64) * CLASS_OFFSET
            xyxy[:, 0] += shift
            xyxy[:, 2] += shift
            scores = np.array([b.score for b in boxes], dtype=np.float64)
            dets = sv.Detections(xyxy=xyxy, confidence=scores, data={"index": np.arange(n)})
        else:
            dets = sv.Detections.empty()
            dets.data["index"] = np.empty(0, dtype=np.int64)
        result = self._tracker.update(dets, timestamp=ns_to_s(timestamp_ns))
        out: list[int | None] = [None] * n
        if result.tracker_id is not None and len(result):
            for index, track in zip(result.data["index"], result.tracker_id, strict=True):
                if int(track) >= 0:
                    out[int(index)] = int(track) + 1
        return out

    # ---- checkpoint ----

    def state(self) -> dict[str, Any]:
        return _tracker_state(self._tracker)

    def restore(self, state: Mapping[str, Any]) -> None:
        self._tracker = self._new(0)
        _restore_tracker(self._tracker, state)


def _array(a: np.ndarray) -> list[Any]:
    arr = np.ascontiguousarray(a, dtype="<f8")
    return [list(arr.shape), arr.tobytes()]


def _unarray(raw: Sequence[Any]) -> np.ndarray:
    shape, data = raw
    return np.frombuffer(data, dtype="<f8").reshape(tuple(int(n) for n in shape)).copy()


def _tracker_state(tracker: ByteTrackTracker) -> dict[str, Any]:
    return {
        "next_local": int(tracker._next_track_id),
        "last_ts": tracker._last_timestamp,
        "tracks": [
            {
                "id": int(t.tracker_id),
                "age": int(t.age),
                "since": int(t.time_since_update),
                "since_s": float(t.time_since_update_seconds),
                "hits": int(t.number_of_successful_consecutive_updates),
                "kf": {k: _array(v) for k, v in t.state_estimator.get_state().items() if k in KF_KEYS},
            }
            for t in tracker.tracks
        ],
    }


def _restore_tracker(tracker: ByteTrackTracker, state: Mapping[str, Any]) -> None:
    tracker._next_track_id = int(state["next_local"])
    last_ts = state["last_ts"]
    tracker._last_timestamp = float(last_ts) if last_ts is not None else None
    tracks = []
    for raw in state["tracks"]:
        kf = {k: _unarray(raw["kf"][k]) for k in KF_KEYS}
        tracklet = ByteTrackTracklet(initial_bbox=kf["state"][:4].reshape(-1).copy())
        tracklet.state_estimator.set_state(kf)
        tracklet.tracker_id = int(raw["id"])
        tracklet.age = int(raw["age"])
        tracklet.time_since_update = int(raw["since"])
        tracklet.time_since_update_seconds = float(raw["since_s"])
        tracklet.number_of_successful_consecutive_updates = int(raw["hits"])
        tracks.append(tracklet)
    tracker.tracks = tracks
