"""Opening a `CaptureTarget` with OpenCV, with timeouts, in the capture thread.

Network cameras go through FFmpeg by URL, with open and read timeouts so that
a dead camera can hang a thread for at most that long. Local files are opened
by Python and handed to OpenCV as a stream object: FFmpeg then reads bytes
through our callbacks and never resolves a path or a protocol itself, which
is what lets the process-wide protocol whitelist (see `ffmpeg.py`) leave out
`file`. USB cameras use the V4L2 backend by index.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import BinaryIO, cast

import cv2

from ingest.targets import CaptureTarget


@dataclass(frozen=True, slots=True)
class Timeouts:
    open_s: float
    read_s: float

    def params(self) -> list[int]:
        return [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_s * 1000),
        ]  # fmt: skip


class Capture:
    """One opened (or failed) VideoCapture plus what it needs kept alive."""

    def __init__(self, cap: cv2.VideoCapture, stream: BinaryIO | None = None) -> None:
        self.cap = cap
        self._stream = stream

    @property
    def opened(self) -> bool:
        return bool(self.cap.isOpened())

    @property
    def native_fps(self) -> float:
        """The media's frame rate, or 0 when the container does not say."""
        fps = float(self.cap.get(cv2.CAP_PROP_FPS))
        return fps if math.isfinite(fps) and 0 < fps <= 240 else 0.0

    @property
    def finite(self) -> bool:
        """True for media with a known length (a file, local or over HTTP): play it at its own pace."""
        count = float(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return math.isfinite(count) and 0 < count < 1e9

    def position_s(self) -> float:
        """Timestamp of the last grabbed frame in the media, seconds."""
        msec = float(self.cap.get(cv2.CAP_PROP_POS_MSEC))
        return msec / 1000 if math.isfinite(msec) and msec >= 0 else 0.0

    def release(self) -> None:
        self.cap.release()
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()


def open_capture(target: CaptureTarget, timeouts: Timeouts) -> Capture:
    """Open `target`; check `.opened` on the result (OpenCV does not raise)."""
    if target.kind == "usb":
        assert target.device is not None
        return Capture(cv2.VideoCapture(target.device, cv2.CAP_V4L2))
    if target.kind == "file":
        assert target.path is not None
        return _open_file(target, timeouts)
    assert target.url is not None
    return Capture(cv2.VideoCapture(target.url, cv2.CAP_FFMPEG, timeouts.params()))


def _open_file(target: CaptureTarget, timeouts: Timeouts) -> Capture:
    assert target.path is not None
    try:
        stream = target.path.open("rb")
    except OSError:
        return Capture(cv2.VideoCapture())
    reader = cast("cv2.IStreamReader", stream)  # OpenCV only calls read() and seek() on it
    return Capture(cv2.VideoCapture(reader, cv2.CAP_FFMPEG, timeouts.params()), stream)
