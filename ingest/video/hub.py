"""The video side of camera ownership: which sessions this instance may serve, and their viewers.

The session manager tells the hub when it starts running a camera (`owned`,
with the capture thread's `CaptureControl`) and when it stops (`released`:
session over, lease lost, shutdown). An offer for a session we do not own is
refused with `NOT_OWNER`-style `WEBRTC_UNAVAILABLE`, so the gateway (which
read a stale lease) and the page retry. The first viewer of a session creates
its `VideoFeed` and attaches its `tap` to the capture thread; the last one to
leave detaches it and stops the encoder, so a camera nobody watches costs no
more than before. Viewers are bounded per session and per instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from aiortc import RTCConfiguration

from ingest.video.encoder import EncoderOptions
from ingest.video.feed import VideoFeed
from ingest.video.viewer import Viewer, ViewerOptions
from shared.envelopes import now_ns
from shared.errors import RateLimited, WebRTCUnavailable

log = logging.getLogger(__name__)


class Tappable(Protocol):
    """What the hub needs of a running source (the capture thread reads `tap` on every frame)."""

    tap: Callable[[np.ndarray, int], None] | None


@dataclass(frozen=True, slots=True)
class HubLimits:
    per_session: int = 8
    per_instance: int = 32


class VideoHub:
    def __init__(
        self,
        rtc: RTCConfiguration,
        encoder: EncoderOptions,
        viewer: ViewerOptions,
        limits: HubLimits,
        count: Callable[[str, int], None],
    ) -> None:
        self.rtc = rtc
        self.encoder = encoder
        self.viewer_options = viewer
        self.limits = limits
        self.count = count
        self.sources: dict[str, Tappable] = {}
        self.feeds: dict[str, VideoFeed] = {}
        self.viewers: dict[str, set[Viewer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved = 0

    # ownership (called by the session manager) ---------------------------------------------------------------

    def owned(self, sid: str, source: Tappable) -> None:
        self.sources[sid] = source

    def released(self, sid: str) -> None:
        """The camera stopped here: its viewers are closed (they reconnect to the new owner)."""
        source = self.sources.pop(sid, None)
        if source is not None:
            source.tap = None
        for viewer in list(self.viewers.get(sid, ())):
            viewer.close()
        self._stop_feed(sid)

    # offers --------------------------------------------------------------------------------------------------

    def viewer_count(self, sid: str | None = None) -> int:
        if sid is not None:
            return len(self.viewers.get(sid, ()))
        return sum(len(v) for v in self.viewers.values())

    async def offer(self, sid: str, sdp: str) -> str:
        """Answer a viewer's offer; raises `WebRTCUnavailable` or `RateLimited` when refused."""
        if sid not in self.sources:
            raise WebRTCUnavailable("this ingest instance does not own that camera")
        if self.viewer_count(sid) >= self.limits.per_session:
            raise RateLimited(f"at most {self.limits.per_session} viewers per session")
        if self.viewer_count() + self._reserved >= self.limits.per_instance:
            raise WebRTCUnavailable(f"this ingest instance is full ({self.limits.per_instance} viewers)")
        self._reserved += 1
        try:
            viewer = Viewer(sid, self.rtc, self.viewer_options)
            try:
                answer = await viewer.answer(sdp)
            except BaseException:
                await viewer.pc.close()
                raise
        finally:
            self._reserved -= 1
        if sid not in self.sources:  # released while we answered
            await viewer.pc.close()
            raise WebRTCUnavailable("the camera moved to another instance")
        self._attach(sid, viewer)
        return answer

    def _attach(self, sid: str, viewer: Viewer) -> None:
        feed = self.feeds.get(sid)
        if feed is None:
            feed = VideoFeed(sid, self.encoder, now_ns(), asyncio.get_running_loop(), self.count)
            self.feeds[sid] = feed
            self.sources[sid].tap = feed.tap
            self.count("video_encoders_started", 1)
            log.info("video feed started", extra={"sid": sid})
        feed.add(viewer.track)
        self.viewers.setdefault(sid, set()).add(viewer)
        self.count("video_viewers_started", 1)
        task = asyncio.create_task(self._run(sid, viewer, feed), name=f"video-viewer-{sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, sid: str, viewer: Viewer, feed: VideoFeed) -> None:
        try:
            await viewer.run()
        except Exception:
            log.exception("video viewer failed", extra={"sid": sid})
        finally:
            feed.remove(viewer.track)
            viewers = self.viewers.get(sid)
            if viewers is not None:
                viewers.discard(viewer)
                if not viewers and self.feeds.get(sid) is feed:
                    self._stop_feed(sid)

    def _stop_feed(self, sid: str) -> None:
        self.viewers.pop(sid, None)
        source = self.sources.get(sid)
        if source is not None:
            source.tap = None
        feed = self.feeds.pop(sid, None)
        if feed is not None:
            feed.close()
            log.info("video feed stopped", extra={"sid": sid})

    def encoders(self) -> int:
        return len(self.feeds)

    async def close(self, timeout_s: float = 5.0) -> None:
        for sid in list(self.viewers):
            for viewer in list(self.viewers.get(sid, ())):
                viewer.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for sid in list(self.feeds):
            self._stop_feed(sid)
