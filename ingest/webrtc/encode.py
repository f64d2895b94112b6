"""Decoded WebRTC frame -> JPEG, the format every source puts on FRAMES.

Runs in a worker thread (never on the event loop): colour conversion, the
optional downscale (swscale, in the same pass) and the JPEG encode together
cost several milliseconds per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2


@dataclass(frozen=True, slots=True)
class Encoded:
    jpeg: bytes
    width: int
    height: int


class EncodeError(RuntimeError):
    """The frame could not be converted or encoded."""


def target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale down to fit `max_side`, keeping the aspect ratio and even dimensions."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def encode_jpeg(frame: av.VideoFrame, quality: int, max_side: int) -> Encoded:
    width, height = target_size(frame.width, frame.height, max_side)
    try:
        image = frame.reformat(width=width, height=height, format="bgr24").to_ndarray()
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    except (av.FFmpegError, ValueError, cv2.error) as exc:
        raise EncodeError(f"cannot encode frame: {exc}") from exc
    if not ok:
        raise EncodeError("JPEG encoder refused the frame")
    return Encoded(buf.tobytes(), width, height)
