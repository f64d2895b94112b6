"""Track ids that stay stable across frames: greedy IoU matching with constant velocity.

A SORT-style tracker without the Kalman filter: each track remembers its last
box and a smoothed per-frame velocity, is predicted one step ahead, and is
matched to the new detection of the same class with the highest IoU (greedy,
best pairs first). Unmatched detections open new tracks; a track that goes
unmatched for `max_missed` frames is forgotten. This is what a viewer needs
("the same person as before") at a cost of microseconds per frame, with no
dependency; it does not re-identify objects after long occlusions.

Boxes are normalised `(x1, y1, x2, y2)`, so the tracker does not care about the
frame size. One tracker per session; not thread-safe (the hub calls it from
one place at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BoxT = tuple[float, float, float, float]


def iou(a: BoxT, b: BoxT) -> float:
    """Intersection over union of two corner boxes; 0 for empty ones."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(slots=True)
class Track:
    track_id: int
    class_id: int
    box: BoxT
    vx: float = 0.0
    vy: float = 0.0
    missed: int = 0

    def predicted(self) -> BoxT:
        steps = self.missed + 1
        dx, dy = self.vx * steps, self.vy * steps
        return (self.box[0] + dx, self.box[1] + dy, self.box[2] + dx, self.box[3] + dy)

    def update(self, box: BoxT, smoothing: float) -> None:
        steps = self.missed + 1
        cx_old, cy_old = _centre(self.box)
        cx_new, cy_new = _centre(box)
        self.vx = smoothing * self.vx + (1 - smoothing) * (cx_new - cx_old) / steps
        self.vy = smoothing * self.vy + (1 - smoothing) * (cy_new - cy_old) / steps
        self.box = box
        self.missed = 0


def _centre(box: BoxT) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


class IouTracker:
    """Assigns a track id to each detection of each frame."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 10, velocity_smoothing: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.velocity_smoothing = velocity_smoothing
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def reset(self) -> None:
        self._tracks = []

    def update(self, detections: Sequence[tuple[BoxT, int]]) -> list[int]:
        """`[(box, class_id), ...]` of one frame -> their track ids, in the same order."""
        ids: list[int | None] = [None] * len(detections)
        matched_tracks: set[int] = set()
        for score, t_idx, d_idx in self._candidate_pairs(detections):
            if score < self.iou_threshold:
                break
            if t_idx in matched_tracks or ids[d_idx] is not None:
                continue
            track = self._tracks[t_idx]
            track.update(detections[d_idx][0], self.velocity_smoothing)
            ids[d_idx] = track.track_id
            matched_tracks.add(t_idx)
        self._age(matched_tracks)
        return [i if i is not None else self._open(*detections[n]) for n, i in enumerate(ids)]

    def _candidate_pairs(self, detections: Sequence[tuple[BoxT, int]]) -> list[tuple[float, int, int]]:
        pairs = []
        for t_idx, track in enumerate(self._tracks):
            predicted = track.predicted()
            for d_idx, (box, class_id) in enumerate(detections):
                if class_id == track.class_id:
                    pairs.append((iou(predicted, box), t_idx, d_idx))
        pairs.sort(key=lambda p: p[0], reverse=True)
        return pairs

    def _age(self, matched: set[int]) -> None:
        kept = []
        for idx, track in enumerate(self._tracks):
            if idx not in matched:
                track.missed += 1
            if track.missed <= self.max_missed:
                kept.append(track)
        self._tracks = kept

    def _open(self, box: BoxT, class_id: int) -> int:
        track = Track(self._next_id, class_id, box)
        self._next_id += 1
        self._tracks.append(track)
        return track.track_id
