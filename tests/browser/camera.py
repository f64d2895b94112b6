"""A fake webcam for Chromium: a .y4m file of COCO photos, looped by `--use-file-for-fake-video-capture`.

Y4M is raw planar YUV 4:2:0 behind one text header and a `FRAME` line per
frame, so numpy and OpenCV's colour conversion write it directly (no ffmpeg).
Each photo is held for `frames_per_photo` frames, like a camera looking at a
still scene for a moment, so that detection has frames to work on.
"""

from __future__ import annotations

from pathlib import Path

import cv2

WIDTH, HEIGHT = 640, 480


def write_y4m(path: Path, photos: list[Path], fps: int = 10, frames_per_photo: int = 12) -> Path:
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for photo in photos:
            image = cv2.imread(str(photo))
            assert image is not None, photo
            i420 = cv2.cvtColor(
                cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YUV_I420
            )
            for _ in range(frames_per_photo):
                out.write(b"FRAME\n")
                out.write(i420.tobytes())
    return path


def fake_camera_args(y4m: Path) -> tuple[str, ...]:
    """Chromium flags: a fake camera playing `y4m`, permission granted, loopback ICE candidates allowed."""
    return (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
        "--allow-loopback-in-peer-connection",
    )
