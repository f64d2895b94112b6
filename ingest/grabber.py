"""The capture thread body: one connection to a source, from open to failure or stop.

Everything slow or blocking about a camera happens here, off the event loop:
FFmpeg's open and read (bounded by the open/read timeouts), decoding, pacing
files to their native speed, and JPEG encoding. Each grabbed frame is offered
to `admit` (the session's `FrameProducer` sampling to its fps, on capture
time) *before* it is converted and encoded, so skipped frames cost only the
decode FFmpeg has to do anyway. Each kept frame is handed to `emit` (which
schedules it onto the event loop); the thread never waits for the loop.

One `Grabber.run()` is one connection attempt; reconnecting, backoff and
failure accounting belong to the asynchronous `SourceRunner`, which reads the
returned `Outcome`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from ingest.capture import Capture, Timeouts, open_capture
from ingest.pacing import MediaClock
from ingest.targets import CaptureTarget
from shared.envelopes import now_ns
from shared.producer import Picture

OutcomeReason = Literal["stopped", "open_failed", "read_failed", "ended"]
FALLBACK_FPS = 25.0


@dataclass(slots=True)
class CaptureControl:
    """Written by the event loop, read by the capture thread (plain attribute reads are atomic)."""

    analysis_fps: float  # the session's analysis rate (its `fps_limit`), read by the runner's `admit`
    stop: threading.Event = field(default_factory=threading.Event)
    # camera video to viewers (ingest.video): while set, every decoded frame goes to it, at the camera's rate
    tap: Callable[[np.ndarray, int], None] | None = None


@dataclass(frozen=True, slots=True)
class GrabOptions:
    timeouts: Timeouts
    jpeg_quality: int
    max_side: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a connection ended and how many frames it delivered (> 0: it worked, then dropped)."""

    reason: OutcomeReason
    frames: int


class Grabber:
    """Runs one connection to `target` in the calling (dedicated) thread."""

    def __init__(
        self,
        target: CaptureTarget,
        options: GrabOptions,
        control: CaptureControl,
        emit: Callable[[Picture], bool],
        admit: Callable[[int], bool],
    ) -> None:
        """`admit(captured_at_ns)`: whether to keep a frame (it counts the ones it skips)."""
        self.target = target
        self.options = options
        self.control = control
        self.emit = emit
        self.admit = admit
        self.frames = 0

    def run(self) -> Outcome:
        """Open, read until the source fails, ends or `stop` is set; always releases the capture."""
        while not self.control.stop.is_set():
            capture = open_capture(self.target, self.options.timeouts)
            try:
                if not capture.opened:
                    return Outcome("open_failed", self.frames)
                reason = self._read(capture)
            finally:
                capture.release()
            if reason != "ended" or not self.target.loop:
                return Outcome(reason, self.frames)
        return Outcome("stopped", self.frames)

    def _read(self, capture: Capture) -> OutcomeReason:
        paced = capture.finite or self.target.kind == "file"
        clock = MediaClock(self.control.stop) if paced else None
        fps = capture.native_fps or FALLBACK_FPS
        index = 0
        while not self.control.stop.is_set():
            if not capture.cap.grab():
                return "ended" if paced else "read_failed"
            if clock is not None and not clock.wait_for(_media_time(capture, index, fps)):
                break
            index += 1
            tap = self.control.tap
            captured_at_ns = now_ns()
            keep = self.admit(captured_at_ns)
            if not keep and tap is None:
                continue
            image = self._retrieve(capture)
            if image is None:
                continue
            if tap is not None:
                tap(image, captured_at_ns)  # the same capture time as the published frame: overlay sync
            if not keep:
                continue
            captured = self._encode(image, captured_at_ns)
            if captured is None:
                continue
            if not self.emit(captured):
                break
            self.frames += 1
        return "stopped"

    def _retrieve(self, capture: Capture) -> np.ndarray | None:
        ok, image = capture.cap.retrieve()
        if not ok or image is None:
            return None
        return _fit(image, self.options.max_side)

    def _encode(self, image: np.ndarray, captured_at_ns: int) -> Picture | None:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality])
        if not ok:
            return None
        height, width = image.shape[:2]
        return Picture(buf.tobytes(), int(width), int(height), captured_at_ns)


def _media_time(capture: Capture, index: int, fps: float) -> float:
    """The grabbed frame's timestamp; frame index / fps when the container gives none."""
    position = capture.position_s()
    return position if position > 0 or index == 0 else index / fps


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale so that neither side exceeds `max_side` (keeps JPEGs within NATS payload limits)."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
