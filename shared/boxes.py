"""The one box type: a detection with corners normalised to 0..1 of its frame.

Every stage after the detector's NMS speaks `Box`: the detections envelope carries it (as a
7-item list on the wire, `to_list` / `from_list`), the scene stage's fusion, tracker and event
rules read it, and pixels appear only at the edge, in the client message (`to_pixels`) or when
the event rules read that message back (`from_pixels`). Normalised corners make a box
independent of the frame's size, so nothing between the model and the canvas needs to know it
except where it turns fractions into metres or pixels. Arrays (`corners_array`, `from_arrays`)
are the bridge to vectorised code: the decoders before NMS, the tracker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import EnvelopeError
from shared.eventconfig import Anchor

Corners = tuple[float, float, float, float]  # x1, y1, x2, y2


@dataclass(slots=True)
class Box:
    """A detection: corners normalised to 0..1 of the frame, its score, class id and label."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_id: int
    label: str

    @property
    def corners(self) -> Corners:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def anchor(self, anchor: Anchor) -> tuple[float, float]:
        """The point that stands for the object: the middle of its bottom edge, or its centre."""
        x = (self.x1 + self.x2) / 2
        return (x, self.y2) if anchor == "bottom_center" else (x, (self.y1 + self.y2) / 2)

    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def iou(self, other: Box) -> float:
        """Intersection over union; 0 for boxes that do not overlap or have no area."""
        w = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        h = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        union = self.area() + other.area() - w * h
        return w * h / union if union > 0 else 0.0

    def to_pixels(self, width: int, height: int) -> Corners:
        """The corners in pixels of a `width` x `height` frame."""
        return (self.x1 * width, self.y1 * height, self.x2 * width, self.y2 * height)

    @classmethod
    def from_pixels(
        cls, corners: Sequence[float], width: int, height: int, score: float = 0.0, class_id: int = -1, label: str = ""
    ) -> Box:
        """A box from pixel corners `[x1, y1, x2, y2]` of a `width` x `height` frame."""
        x1, y1, x2, y2 = corners[:4]
        return cls(x1 / width, y1 / height, x2 / width, y2 / height, score, class_id, label)

    # ---- wire form: the 7-item list of the detections envelope (DESIGN §3) ----

    def to_list(self) -> list[Any]:
        return [self.x1, self.y1, self.x2, self.y2, self.score, self.class_id, self.label]

    @classmethod
    def from_list(cls, raw: Any) -> Box:
        if not isinstance(raw, list) or len(raw) != 7:
            raise EnvelopeError("detections: box must be a 7-item list")
        x1, y1, x2, y2, score, class_id, label = raw
        if not all(isinstance(v, (int, float)) for v in (x1, y1, x2, y2, score)):
            raise EnvelopeError("detections: box coordinates must be numbers")
        if not isinstance(class_id, int) or not isinstance(label, str):
            raise EnvelopeError("detections: bad class_id or label")
        return cls(float(x1), float(y1), float(x2), float(y2), float(score), class_id, label)


def corners_array(boxes: Sequence[Box]) -> np.ndarray:
    """The corners of `boxes` as an (N, 4) float64 array, in order."""
    if not boxes:
        return np.empty((0, 4), dtype=np.float64)
    return np.array([b.corners for b in boxes], dtype=np.float64)


def from_arrays(xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, labels: Sequence[str]) -> list[Box]:
    """Boxes from normalised (N, 4) corners, scores and class ids; a class id without a label is named by
    its number. Boxes without area are dropped."""
    boxes = []
    for (x1, y1, x2, y2), s, cid in zip(xyxy.tolist(), score.tolist(), class_id.tolist(), strict=True):
        if x2 > x1 and y2 > y1:
            label = labels[cid] if 0 <= cid < len(labels) else str(cid)
            boxes.append(Box(x1, y1, x2, y2, s, cid, label))
    return boxes
