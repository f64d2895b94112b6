"""A clip with known ground truth for event tests: a COCO person walks across a line into a zone.

A person crop from a real COCO photo (boxes found by the project's yolox_nano at >= 0.88) is
pasted on a plain textured background along a known path: from the left, across the vertical
line `gate` at x = 0.3 (drawn upwards, so the walk is `in`), into the zone `bay` (x 0.5..0.8),
where it stands for `stay_s`, then out to the right. With `dwell_s` < `stay_s` the events are,
in order: line_cross (in), zone_enter, dwell, zone_exit: exactly one each.

Frames come as BGR arrays, JPEG bytes (for uploads) or a clip file (for file/RTSP sources).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

Size = tuple[int, int]

# (photo, person box as fractions x1, y1, x2, y2): detector-found, upright, unoccluded.
PERSON_CROPS = (
    ("000000007088.jpg", (0.376, 0.319, 0.57, 0.726)),
    ("000000006471.jpg", (0.522, 0.22, 0.72, 0.891)),
)
LINE = {"name": "gate", "a": [0.3, 0.95], "b": [0.3, 0.05]}
ZONE = {"name": "bay", "polygon": [[0.5, 0.3], [0.8, 0.3], [0.8, 0.98], [0.5, 0.98]]}
FEET_Y = 0.85
PERSON_HEIGHT = 0.5  # of the frame height
EXPECTED = [("line_cross", "in"), ("zone_enter", None), ("dwell", None), ("zone_exit", None)]


@dataclass(frozen=True)
class EventClip:
    frames: list[np.ndarray]
    feet_x: list[float]  # where the person's feet are in each frame (fractions)
    fps: float
    dwell_s: float

    def config(self) -> dict[str, Any]:
        """The session config fields that make this clip's ground truth."""
        return {"zones": [{**ZONE, "dwell_s": self.dwell_s}], "lines": [LINE], "anchor": "bottom_center"}

    def jpegs(self, quality: int = 90) -> list[bytes]:
        return [bytes(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]) for f in self.frames]

    def write(self, path: Path) -> Path:
        """An MJPG .avi (or mp4v .mp4) of the frames."""
        height, width = self.frames[0].shape[:2]
        codec = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
        writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*codec), self.fps, (width, height))
        assert writer.isOpened(), f"cannot write {path}"
        for frame in self.frames:
            writer.write(frame)
        writer.release()
        return path


def background(size: Size, seed: int = 7) -> np.ndarray:
    """A plain floor-and-wall picture with mild noise: nothing a detector would call an object."""
    width, height = size
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    horizon = int(height * 0.45)
    image[:horizon] = np.linspace(170, 140, horizon)[:, None, None] * np.array([1.0, 0.97, 0.9])
    image[horizon:] = np.linspace(110, 80, height - horizon)[:, None, None] * np.array([0.85, 0.9, 0.95])
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def person_crop(coco_dir: Path, which: int = 0, margin: float = 0.04) -> np.ndarray:
    name, (x1, y1, x2, y2) = PERSON_CROPS[which]
    photo = cv2.imread(str(coco_dir / name))
    assert photo is not None, name
    h, w = photo.shape[:2]
    left, top = int(max(0.0, x1 - margin) * w), int(max(0.0, y1 - margin) * h)
    right, bottom = int(min(1.0, x2 + margin) * w), int(min(1.0, y2 + margin) * h)
    return photo[top:bottom, left:right]


def walk(fps: float, stay_s: float) -> list[float]:
    """The feet's x per frame: 0.08 -> 0.65 in 3 s, `stay_s` standing at 0.65, -> 0.97 in 1.5 s."""
    approach = np.linspace(0.08, 0.65, int(3 * fps)).tolist()
    stay = [0.65] * int(stay_s * fps)
    leave = np.linspace(0.65, 0.97, int(1.5 * fps)).tolist()[1:]
    return approach + stay + leave


def build(
    coco_dir: Path, size: Size = (640, 360), fps: float = 10.0, dwell_s: float = 2.0, which: int = 0
) -> EventClip:
    """The clip: a person walking the path of `walk`, standing in the zone 1.5 s longer than `dwell_s`."""
    width, height = size
    crop = person_crop(coco_dir, which)
    scale = PERSON_HEIGHT * height / crop.shape[0]
    crop = cv2.resize(
        crop, (max(1, int(crop.shape[1] * scale)), int(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    ch, cw = crop.shape[:2]
    base = background(size)
    xs = walk(fps, dwell_s + 1.5)
    frames = []
    for x in xs:
        frame = base.copy()
        left, top = int(x * width - cw / 2), int(FEET_Y * height - ch)
        l0, r0 = max(0, left), min(width, left + cw)
        if r0 > l0:
            frame[top : top + ch, l0:r0] = crop[:, l0 - left : r0 - left]
        frames.append(frame)
    return EventClip(frames, xs, fps, dwell_s)
