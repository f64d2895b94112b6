"""The camera clip a benchmark plays when the user gives no `--source`.

Default: a synthetic clip (textured background, moving shapes), generated at
run time so the command works on any machine with nothing to download; its
JPEG frames cost about what camera frames cost to encode and decode. For
numbers with real detections, `--photos DIR` builds the clip from photos
instead (a slow pan and zoom over each, as a moving camera would see it).
The README's capacity table uses the project's 60 COCO photos.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

Size = tuple[int, int]  # (width, height)
SECONDS = 8
MAX_PHOTOS = 60


def _writer(path: Path, fps: float, size: Size) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    return writer


def synthetic_frames(size: Size, count: int) -> list[np.ndarray]:
    width, height = size
    rng = np.random.default_rng(7)
    base = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3)
    frames = []
    for i in range(count):
        frame = np.roll(base, 2 * i, axis=1)
        x = int((width - 120) * (i % 60) / 59)
        cv2.rectangle(frame, (x, height // 3), (x + 120, height // 3 + 160), (40, 40, 200), -1)
        cv2.circle(frame, (width - x - 40, 2 * height // 3), 50, (200, 160, 30), -1)
        frames.append(frame)
    return frames


def photo_frames(photos: list[Path], size: Size, count: int) -> list[np.ndarray]:
    """`count` frames panning and zooming over the photos in turn."""
    images = [img for img in (cv2.imread(str(p)) for p in photos[:MAX_PHOTOS]) if img is not None]
    if not images:
        raise RuntimeError("no readable photos")
    per_photo = max(1, count // len(images))
    frames = []
    for i in range(count):
        image = images[(i // per_photo) % len(images)]
        t = (i % per_photo) / max(1, per_photo - 1)
        h, w = image.shape[:2]
        scale = 1.0 + 0.25 * t
        cw, ch = int(w / scale), int(h / scale)
        x0, y0 = int((w - cw) * t), (h - ch) // 2
        frames.append(cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], size, interpolation=cv2.INTER_AREA))
    return frames


def write_clip(path: Path, fps: float, size: Size, photos_dir: Path | None = None) -> Path:
    """Write an mp4 clip of SECONDS at `fps` (the ingest loops it); returns `path`."""
    count = max(2, int(SECONDS * fps))
    if photos_dir is not None:
        frames = photo_frames(sorted(photos_dir.glob("*.jpg")), size, count)
    else:
        frames = synthetic_frames(size, count)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = _writer(path, fps, size)
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path
