"""Where a point is relative to a zone or a line, with a dead band so jitter changes nothing.

Membership uses OpenCV's `pointPolygonTest` (already a dependency; it is what supervision's
`PolygonZone` builds on, via a filled mask): the signed distance to the polygon's edge, with
the crossing-number rule, so self-intersecting polygons have a well-defined inside. We do not
depend on `supervision` itself: it pulls matplotlib, scipy, pillow, requests and the non-headless
`opencv-python` (which conflicts with our `opencv-python-headless`), for two calls.

The side of a line is the sign of the 2-D cross product, as in supervision's `LineZone`.
Both work in pixels of the frame (points of the config are fractions 0..1), so the dead band
is a fraction of the frame's diagonal whatever its aspect ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from shared.boxes import Anchor, Box

BAND_OF_DIAGONAL = 0.01  # the dead band: 1 % of the frame diagonal (7.3 px at 640x360)


def anchor_px(box: Box, anchor: Anchor, width: int, height: int) -> tuple[float, float]:
    """The point of the box that counts, in pixels of a `width` x `height` frame."""
    x, y = box.anchor(anchor)
    return (x * width, y * height)


def band_px(width: int, height: int) -> float:
    return BAND_OF_DIAGONAL * math.hypot(width, height)


class PolygonGeometry:
    """One zone in pixels of a `width` x `height` frame."""

    def __init__(self, polygon: Sequence[Sequence[float]], width: int, height: int) -> None:
        self.contour = np.array([[p[0] * width, p[1] * height] for p in polygon], dtype=np.float32).reshape(-1, 1, 2)

    def signed_distance(self, point: tuple[float, float]) -> float:
        """> 0 inside, < 0 outside, the magnitude is the distance to the nearest edge (pixels)."""
        return float(cv2.pointPolygonTest(self.contour, (float(point[0]), float(point[1])), True))


class LineGeometry:
    """One line segment a->b in pixels."""

    def __init__(self, a: Sequence[float], b: Sequence[float], width: int, height: int) -> None:
        self.ax, self.ay = a[0] * width, a[1] * height
        self.dx, self.dy = b[0] * width - self.ax, b[1] * height - self.ay
        self.length = math.hypot(self.dx, self.dy) or 1e-9

    def signed_distance(self, point: tuple[float, float]) -> float:
        """> 0 on the right of a->b as seen on the image (y down), < 0 on its left; pixels."""
        return (self.dx * (point[1] - self.ay) - self.dy * (point[0] - self.ax)) / self.length

    def within_extent(self, point: tuple[float, float]) -> bool:
        """The point's projection on the line falls between a and b."""
        t = (self.dx * (point[0] - self.ax) + self.dy * (point[1] - self.ay)) / (self.length**2)
        return 0.0 <= t <= 1.0
