"""Track ids per session: ByteTrack from Roboflow's `trackers` library, one per class.

Why this library: a maintained, clean-room ByteTrack (Kalman filter + Hungarian matching + the
two-stage association that keeps tracks alive through low-score boxes during occlusions), Apache
2.0, numpy-only at run time. ByteTrack itself ignores classes; a person track must never continue
as a chair, so each class gets its own ByteTrack and a session-wide counter turns their local ids
into the ids viewers see (1, 2, 3, ... in order of confirmation, unique across classes).

Boxes are normalised `(x1, y1, x2, y2)`; the timestamp is the frame's capture time, so the motion
model follows the real frame spacing and a replay of the same frames gives the same ids. A track
gets its id on its second consecutive detection (ByteTrack's confirmation); before that it is None.

The state (`state()` / `restore()`) is plain data for the msgpack checkpoint: per class the
Kalman state and covariances of each tracklet as little-endian float64 arrays, its counters and
the id maps. Restoring it into a fresh tracker continues with the same ids (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker
from trackers.core.bytetrack.tracklet import ByteTrackTracklet

FPS_REFERENCE = 30.0  # ByteTrack counts its lost-track buffer in 30 fps frames
KF_KEYS = ("state", "state_covariance", "transition_mtx", "observation_mtx", "process_noise", "measurement_noise")
MAX_CLASSES = 1000


@dataclass(frozen=True, slots=True)
class TrackerParams:
    high_threshold: float  # the session's confidence threshold: boxes above it open and lead tracks
    lost_s: float
    min_iou: float


class SceneTracker:
    """Assigns session-wide track ids to the detections of successive frames."""

    def __init__(self, params: TrackerParams) -> None:
        self.params = params
        self._by_class: dict[int, ByteTrackTracker] = {}
        self._ids: dict[tuple[int, int], int] = {}  # (class_id, local id) -> session id
        self._next_id = 1

    def configure(self, params: TrackerParams) -> None:
        """New thresholds apply from the next frame; tracks and ids are kept."""
        self.params = params
        for tracker in self._by_class.values():
            self._apply(tracker)

    def reset(self) -> None:
        """Forget every track (tracking was off for a while); ids keep counting up."""
        self._by_class.clear()
        self._ids.clear()

    def update(
        self,
        boxes: Sequence[tuple[float, float, float, float]],
        scores: Sequence[float],
        class_ids: Sequence[int],
        timestamp_s: float,
    ) -> list[int | None]:
        """One frame's detections (all scores, low ones help keep tracks) -> their ids, in order."""
        out: list[int | None] = [None] * len(boxes)
        present = set(class_ids)
        for class_id in sorted(present | set(self._by_class)):
            picked = [i for i, c in enumerate(class_ids) if c == class_id]
            tracker = self._tracker(class_id)
            for index, local in self._update_class(tracker, boxes, scores, picked, timestamp_s):
                out[index] = self._session_id(class_id, local)
            self._forget_dead(class_id, tracker)
        return out

    def _tracker(self, class_id: int) -> ByteTrackTracker:
        tracker = self._by_class.get(class_id)
        if tracker is None:
            if len(self._by_class) >= MAX_CLASSES:
                raise ValueError("too many classes for one session's tracker")
            tracker = ByteTrackTracker(
                lost_track_buffer=max(1, round(self.params.lost_s * FPS_REFERENCE)), frame_rate=FPS_REFERENCE
            )
            self._apply(tracker)
            self._by_class[class_id] = tracker
        return tracker

    def _apply(self, tracker: ByteTrackTracker) -> None:
        tracker.high_conf_det_threshold = self.params.high_threshold
        tracker.track_activation_threshold = self.params.high_threshold
        tracker.minimum_iou_threshold = self.params.min_iou

    @staticmethod
    def _update_class(
        tracker: ByteTrackTracker,
        boxes: Sequence[tuple[float, float, float, float]],
        scores: Sequence[float],
        picked: list[int],
        timestamp_s: float,
    ) -> list[tuple[int, int]]:
        if picked:
            xyxy = np.asarray([boxes[i] for i in picked], dtype=np.float64).reshape(-1, 4)
            conf = np.asarray([scores[i] for i in picked], dtype=np.float64)
            dets = sv.Detections(xyxy=xyxy, confidence=conf, data={"index": np.asarray(picked, dtype=np.int64)})
        else:
            dets = sv.Detections.empty()
            dets.data["index"] = np.empty(0, dtype=np.int64)
        result = tracker.update(dets, timestamp=timestamp_s)
        if result.tracker_id is None or len(result) == 0:
            return []
        indices = result.data.get("index", np.empty(0, dtype=np.int64))
        return [(int(i), int(t)) for i, t in zip(indices, result.tracker_id, strict=True) if int(t) >= 0]

    def _session_id(self, class_id: int, local: int) -> int:
        key = (class_id, local)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = self._next_id
            self._next_id += 1
        return found

    def _forget_dead(self, class_id: int, tracker: ByteTrackTracker) -> None:
        alive = {int(t.tracker_id) for t in tracker.tracks}
        for key in [k for k in self._ids if k[0] == class_id and k[1] not in alive]:
            del self._ids[key]
        if not tracker.tracks:
            del self._by_class[class_id]

    # ---- checkpoint ----

    def state(self) -> dict[str, Any]:
        return {
            "next_id": self._next_id,
            "ids": [[c, local, sid] for (c, local), sid in self._ids.items()],
            "classes": {str(c): _tracker_state(t) for c, t in self._by_class.items()},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.reset()
        self._next_id = int(state["next_id"])
        self._ids = {(int(c), int(local)): int(sid) for c, local, sid in state["ids"]}
        for key, tracker_state in state["classes"].items():
            tracker = self._tracker(int(key))
            _restore_tracker(tracker, tracker_state)


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
