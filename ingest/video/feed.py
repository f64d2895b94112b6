"""One camera session's video: frames in from the capture thread, one encoder thread, packets out.

The capture thread calls `tap(image, captured_at_ns)` for every frame it
decodes (the camera's own rate, not the session's analysis rate) while the
feed is attached. `tap` only swaps the frame into a one-slot mailbox and
never waits: a frame the encoder had no time for is replaced by the newer
one and counted (`video_dropped.busy`). The encoder thread turns the newest
frame into H.264 packets and hands them, through the event loop, to every
viewer's track. A viewer that joins asks for a key frame (it cannot decode
anything before one); key frames also come every `keyframe_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import numpy as np

from ingest.video.encoder import Encoded, EncoderOptions, H264Encoder
from ingest.video.track import PacketTrack

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5  # the encoder thread checks for `close()` at least this often

Counter = Callable[[str, int], None]


class VideoFeed:
    """Encodes a session's frames once and fans the packets out to its viewers' tracks."""

    def __init__(
        self, sid: str, options: EncoderOptions, base_ns: int, loop: asyncio.AbstractEventLoop, count: Counter
    ) -> None:
        self.sid = sid
        self.base_ns = base_ns
        self.loop = loop
        self.count = count
        self.tracks: set[PacketTrack] = set()
        self.encoder = H264Encoder(options, base_ns)
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, int] | None = None
        self._keyframe = True
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"video-encode-{sid}", daemon=True)
        self._thread.start()

    # capture thread -----------------------------------------------------------------------------------------

    def tap(self, image: np.ndarray, captured_at_ns: int) -> None:
        """A decoded camera frame (BGR). Never blocks beyond a lock swap."""
        with self._cond:
            if self._pending is not None:
                self.count("video_dropped.busy", 1)
            self._pending = (image, captured_at_ns)
            self._cond.notify()

    # event loop ---------------------------------------------------------------------------------------------

    def add(self, track: PacketTrack) -> None:
        self.tracks.add(track)
        track.on_keyframe = self.request_keyframe
        self.request_keyframe()

    def remove(self, track: PacketTrack) -> None:
        self.tracks.discard(track)

    def request_keyframe(self) -> None:
        with self._cond:
            self._keyframe = True

    def close(self) -> None:
        """Stop the encoder thread (it exits within IDLE_WAIT_S) and end every viewer's track."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        for track in list(self.tracks):
            track.stop()
        self.tracks.clear()

    def _deliver(self, encoded: Encoded) -> None:
        for track in list(self.tracks):
            if not track.put(encoded):
                self.request_keyframe()  # that viewer skipped packets: it waits for the next key frame

    # encoder thread -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                job = self._next()
                if job is None:
                    return
                image, captured_at_ns, keyframe = job
                encoded = self.encoder.encode(image, captured_at_ns, keyframe)
                if encoded is None or not encoded.packets:
                    continue
                self.count("video_frames_encoded", 1)
                with contextlib.suppress(RuntimeError):  # loop closed: the process is going down
                    self.loop.call_soon_threadsafe(self._deliver, encoded)
        except Exception:
            log.exception("video encoder failed", extra={"sid": self.sid})
        finally:
            self.encoder.close()

    def _next(self) -> tuple[np.ndarray, int, bool] | None:
        with self._cond:
            while self._pending is None and not self._closed:
                self._cond.wait(IDLE_WAIT_S)
            if self._closed:
                return None
            assert self._pending is not None
            image, captured_at_ns = self._pending
            self._pending = None
            keyframe, self._keyframe = self._keyframe, False
            return image, captured_at_ns, keyframe
