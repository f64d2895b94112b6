"""One browser's peer connection: receive its camera, publish sampled JPEG frames.

Three tasks per peer, and the first to end ends the peer (then the peer
connection is closed):
- receive: drains the decoded track as fast as it comes (aiortc's track queue
  is unbounded, so it must never back up), stamps capture time and lets the
  session's `FrameProducer` sample them to its analysis rate (`fps_limit`) into a one-slot
  `LatestSlot` (latest wins);
- publish: takes the newest picked frame, JPEG-encodes it in a thread and
  has the producer publish it to FRAMES, like any other source's frame;
- watch (`PeerLink.watch`): ends the peer when ICE fails, the connection
  closes, it stays disconnected past a grace period, or never connects at all.
The receive task also ends the peer when video stops for `media_timeout_s`
(or no first frame comes within connect + media timeouts): a browser that
vanished without its DTLS close (a crashed tab, a lost packet, a close racing
the end of the handshake) would otherwise hold its slot until ICE consent
expires, about 30 s later, or for good when no frame ever came.
Live video drops rather than queues: a picked frame replaced in the slot
before the encoder got to it is counted as dropped (`reason="busy"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass

import av
from aiortc import MediaStreamTrack, RTCConfiguration
from aiortc.mediastreams import MediaStreamError

from ingest.stats import IngestStats
from ingest.webrtc.clock import CaptureClock
from ingest.webrtc.encode import EncodeError, encode_jpeg
from ingest.webrtc.link import LinkTimeouts, PeerLink
from shared.envelopes import now_ns
from shared.errors import InvalidSdp, SightwireError
from shared.latest import LatestSlot
from shared.producer import FrameProducer, FrameSink, Picture
from shared.sessions import SessionConfig
from shared.telemetry import DropReason

log = logging.getLogger(__name__)

SLOT_POLL_S = 1.0  # the publish task's wait for a picked frame, between checks
WEBCAM_LINK = LinkTimeouts(connect_timeout_s=20.0, disconnect_grace_s=5.0)


@dataclass(frozen=True, slots=True)
class PeerOptions:
    jpeg_quality: int = 80
    max_side: int = 1280
    link: LinkTimeouts = WEBCAM_LINK
    media_timeout_s: float = 10.0
    publish_timeout_s: float = 2.0


@dataclass(slots=True)
class Picked:
    frame: av.VideoFrame
    captured_at_ns: int


class Peer:
    """Owns one RTCPeerConnection for session `sid` until `run()` returns."""

    def __init__(
        self,
        sid: str,
        config: SessionConfig,
        js: FrameSink,
        rtc: RTCConfiguration,
        options: PeerOptions,
        stats: IngestStats,
    ) -> None:
        self.sid = sid
        self.stats = stats  # the ingest process's: published frames and drops reach its heartbeat
        self.config = config
        self.options = options
        self.link = PeerLink(sid, "webcam", rtc, options.link)
        self.pc = self.link.pc
        self.counters: Counter[str] = Counter()
        self.producer = FrameProducer(js, sid, "webrtc", options.publish_timeout_s)
        self._track: MediaStreamTrack | None = None
        self._stop = asyncio.Event()
        self._picked: LatestSlot[Picked] = LatestSlot(lambda _replaced: self._drop(DropReason.BUSY))
        self._clock = CaptureClock()
        self.pc.on("track", self._on_track)

    async def answer(self, offer_sdp: str) -> str:
        """Apply the browser's offer and return our answer (ICE candidates included)."""
        await self.link.apply_offer(offer_sdp)
        ours = next((t for t in self.pc.getTransceivers() if t.receiver.track is self._track), None)
        if self._track is None or ours is None:
            raise InvalidSdp("offer has no video track to receive")
        return await self.link.answer(ours)

    def update(self, config: SessionConfig) -> None:
        """New session config (fps, depth) applies from the next frame."""
        self.config = config

    def close(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Receive and publish until the first of: track end, ICE failure, `close()`."""
        assert self._track is not None, "answer() first"
        try:
            await self.link.run(self._stop, self._receive(self._track), self._publish())
        finally:
            log.info("webrtc peer closed", extra={"sid": self.sid, **self.counters})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._track is None:
            self._track = track

    async def _receive(self, track: MediaStreamTrack) -> None:
        # The first frame may take the connection set-up too; after it, only the media timeout.
        wait_s = self.options.link.connect_timeout_s + self.options.media_timeout_s
        with contextlib.suppress(MediaStreamError):
            while True:
                try:
                    async with asyncio.timeout(wait_s):
                        frame = await track.recv()
                except TimeoutError:
                    log.info("webrtc video stopped; closing peer", extra={"sid": self.sid, **self.counters})
                    return
                wait_s = self.options.media_timeout_s
                self.counters["received"] += 1
                self._pick(frame)  # type: ignore[arg-type]

    def _pick(self, frame: av.VideoFrame) -> None:
        captured = self._clock.captured_at_ns(frame.pts, frame.time_base, now_ns())
        if self.producer.admit(captured, self.config.analysis_fps):
            self._picked.put(Picked(frame, captured))

    async def _publish(self) -> None:
        while True:
            picked = await self._picked.get(SLOT_POLL_S)
            if picked is None:
                continue
            try:
                encoded = await asyncio.to_thread(
                    encode_jpeg, picked.frame, self.options.jpeg_quality, self.options.max_side
                )
            except EncodeError as exc:
                self._drop(DropReason.ENCODE_ERROR)
                log.warning("webrtc frame not encoded", extra={"sid": self.sid, "error": str(exc)})
                continue
            await self._send(Picture(encoded.jpeg, encoded.width, encoded.height, picked.captured_at_ns))

    async def _send(self, picture: Picture) -> None:
        try:
            await self.producer.produce(picture, self.config)
        except SightwireError:  # timeouts, no stream, reconnecting (logged): this frame is lost, the next may pass
            self._drop(DropReason.PUBLISH_ERROR)
            return
        self.counters["published"] += 1
        self.stats.published()

    def _drop(self, reason: DropReason) -> None:
        self.counters[f"dropped_{reason}"] += 1  # this peer's, for its closing log line
        self.stats.drop(reason)
