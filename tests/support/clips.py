"""Short video clips and frame folders made from the real COCO photos, for camera tests.

A camera test needs moving, real-looking video, not a test pattern: each
photo is shown for a number of frames while a crop window pans across it and
zooms in slightly, like a camera slowly moving over a scene. The same frames
can be written as a clip (`cv2.VideoWriter`, mp4v in .mp4 or MJPG in .avi),
as a folder of numbered JPEGs (GStreamer's multifilesrc, OpenCV's image
sequences), or returned as JPEG bytes (an MJPEG-over-HTTP server).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

Size = tuple[int, int]  # (width, height)


def coco_photos(coco_dir: Path, count: int = 6) -> list[Path]:
    photos = sorted(coco_dir.glob("*.jpg"))[:count]
    assert photos, f"no photos in {coco_dir}"
    return photos


def pan_zoom(image: np.ndarray, t: float, size: Size, zoom: float = 1.25) -> np.ndarray:
    """The view at `t` in 0..1: a crop that zooms from 1x to `zoom` and pans left to right."""
    height, width = image.shape[:2]
    scale = 1.0 + (zoom - 1.0) * t
    crop_w, crop_h = int(width / scale), int(height / scale)
    x0 = int((width - crop_w) * t)
    y0 = (height - crop_h) // 2
    crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def frames(photos: Sequence[Path], size: Size = (320, 240), frames_per_photo: int = 10) -> Iterator[np.ndarray]:
    """BGR frames: every photo panned/zoomed over `frames_per_photo` frames, in order."""
    for path in photos:
        image = cv2.imread(str(path))
        assert image is not None, path
        for i in range(frames_per_photo):
            yield pan_zoom(image, i / max(1, frames_per_photo - 1), size)


def write_clip(
    path: Path,
    photos: Sequence[Path],
    fps: float = 10.0,
    size: Size = (320, 240),
    frames_per_photo: int = 10,
) -> int:
    """Write a clip (.mp4 -> mp4v, .avi -> MJPG, .ts -> MPEG-2); returns the number of frames written."""
    codec = {".avi": "MJPG", ".ts": "mpg2"}.get(path.suffix.lower(), "mp4v")
    fourcc = cv2.VideoWriter_fourcc(*codec)
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, fourcc, fps, size)
    assert writer.isOpened(), f"cannot write {path}"
    count = 0
    try:
        for frame in frames(photos, size, frames_per_photo):
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    return count


def write_frame_folder(
    folder: Path, photos: Sequence[Path], size: Size = (320, 240), frames_per_photo: int = 10
) -> str:
    """Write `frame_0000.jpg`, ...; returns the printf pattern (`folder/frame_%04d.jpg`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames(photos, size, frames_per_photo)):
        assert cv2.imwrite(str(folder / f"frame_{i:04d}.jpg"), frame)
    return str(folder / "frame_%04d.jpg")


def jpeg_frames(
    photos: Sequence[Path], size: Size = (320, 240), frames_per_photo: int = 10, quality: int = 85
) -> list[bytes]:
    """The frames as JPEG bytes (what an MJPEG camera sends)."""
    out = []
    for frame in frames(photos, size, frames_per_photo):
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out.append(buf.tobytes())
    return out
