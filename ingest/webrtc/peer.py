"""One browser's peer connection: receive its camera, publish sampled JPEG frames.

Three tasks per peer, and the first to end ends the peer (then the peer
connection is closed):
- receive: drains the decoded track as fast as it comes (aiortc's track queue
  is unbounded, so it must never back up), stamps capture time and lets the
  session's `fps_limit` pick frames into a one-slot mailbox (latest wins);
- publish: takes the newest picked frame, JPEG-encodes it in a thread and
  publishes a `Frame` to FRAMES with its `Nats-Msg-Id`, like any other source;
- watch: ends the peer when ICE fails, the connection closes, it stays
  disconnected past a grace period, or never connects at all.
The receive task also ends the peer when video stops for `media_timeout_s`
(or no first frame comes within connect + media timeouts): a browser that
vanished without its DTLS close (a crashed tab, a lost packet, a close racing
the end of the handshake) would otherwise hold its slot until ICE consent
expires, about 30 s later, or for good when no frame ever came.
Live video drops rather than queues: a picked frame replaced in the mailbox
before the encoder got to it is counted as dropped (`reason="busy"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from nats.js import JetStreamContext

from ingest.stats import IngestStats
from ingest.webrtc.clock import CaptureClock
from ingest.webrtc.encode import EncodeError, encode_jpeg
from ingest.webrtc.gates import RateGate
from shared import subjects
from shared.envelopes import Frame, now_ns
from shared.errors import ErrorCode, SightwireError
from shared.sequence import SeqCounter
from shared.sessions import SessionConfig
from shared.telemetry import DropReason

log = logging.getLogger(__name__)


class OfferRefused(SightwireError):
    """The offer cannot be answered (bad SDP, no video)."""

    code = ErrorCode.INVALID_SDP


CLOSE_TIMEOUT_S = 5.0  # bound on ending a peer's tasks and closing its connection


@dataclass(frozen=True, slots=True)
class PeerOptions:
    jpeg_quality: int = 80
    max_side: int = 1280
    connect_timeout_s: float = 20.0
    disconnect_grace_s: float = 5.0
    media_timeout_s: float = 10.0
    publish_timeout_s: float = 2.0


@dataclass(slots=True)
class Picked:
    frame: av.VideoFrame
    captured_at_ns: int
    depth: bool


class Mailbox:
    """A one-slot queue where a new item replaces an unread one."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Picked] = asyncio.Queue(maxsize=1)

    def put(self, item: Picked) -> bool:
        """Store `item`; False if it replaced an unread item (a drop)."""
        replaced = False
        if self._queue.full():
            self._queue.get_nowait()
            replaced = True
        self._queue.put_nowait(item)
        return not replaced

    async def get(self) -> Picked:
        return await self._queue.get()


class Peer:
    """Owns one RTCPeerConnection for session `sid` until `run()` returns."""

    def __init__(
        self,
        sid: str,
        config: SessionConfig,
        js: JetStreamContext,
        rtc: RTCConfiguration,
        options: PeerOptions,
        stats: IngestStats,
    ) -> None:
        self.sid = sid
        self.stats = stats  # the ingest process's: published frames and drops reach its heartbeat
        self.config = config
        self.js = js
        self.options = options
        self.pc = RTCPeerConnection(configuration=rtc)
        self.counters: Counter[str] = Counter()
        self._track: MediaStreamTrack | None = None
        self._closing: asyncio.Future[None] | None = None
        self._state = asyncio.Event()
        self._stop = asyncio.Event()
        self._mailbox = Mailbox()
        self._seq = SeqCounter()
        self._clock = CaptureClock()
        self._frame_gate = RateGate()
        self._depth_gate = RateGate()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._state.set)

    async def answer(self, offer_sdp: str) -> str:
        """Apply the browser's offer and return our answer (ICE candidates included)."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc's parser raises many unrelated types on hostile input
            raise OfferRefused(f"offer rejected: {exc.__class__.__name__}") from exc
        if self._track is None:
            raise OfferRefused("offer has no video track to receive")
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is not self._track:
                transceiver.direction = "inactive"  # audio or extra video: ask the browser not to send it
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def update(self, config: SessionConfig) -> None:
        """New session config (fps, depth) applies from the next frame."""
        self.config = config

    def close(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Receive and publish until the first of: track end, ICE failure, `close()`."""
        assert self._track is not None, "answer() first"
        tasks = [
            asyncio.create_task(self._receive(self._track), name=f"webrtc-recv-{self.sid}"),
            asyncio.create_task(self._publish(), name=f"webrtc-pub-{self.sid}"),
            asyncio.create_task(self._watch(), name=f"webrtc-watch-{self.sid}"),
            asyncio.create_task(self._stop.wait(), name=f"webrtc-stop-{self.sid}"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            await self._close_connection()
            log.info("webrtc peer closed", extra={"sid": self.sid, **self.counters})

    async def _close_connection(self) -> None:
        """Close the peer connection, waiting at most CLOSE_TIMEOUT_S. (Not `wait_for`: on
        timeout it waits for the cancelled close to finish, and a close stuck on a
        half-closed transport would then hold this peer's slot for good.)"""
        closing = asyncio.ensure_future(self.pc.close())
        done, _ = await asyncio.wait({closing}, timeout=CLOSE_TIMEOUT_S)
        if not done:
            self._closing = closing  # keep a reference; it finishes (or not) on its own
            log.warning("webrtc peer connection close timed out", extra={"sid": self.sid})
        elif not closing.cancelled() and closing.exception() is not None:
            log.debug("webrtc peer connection close failed", extra={"error": repr(closing.exception())})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._track is None:
            self._track = track

    async def _receive(self, track: MediaStreamTrack) -> None:
        # The first frame may take the connection set-up too; after it, only the media timeout.
        wait_s = self.options.connect_timeout_s + self.options.media_timeout_s
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
        config = self.config
        if not self._frame_gate.admit(captured, config.fps_limit):
            return
        depth = config.enable_depth and self._depth_gate.admit(captured, min(config.depth_fps, config.fps_limit))
        if not self._mailbox.put(Picked(frame, captured, depth)):
            self._drop(DropReason.BUSY)

    async def _publish(self) -> None:
        while True:
            picked = await self._mailbox.get()
            try:
                encoded = await asyncio.to_thread(
                    encode_jpeg, picked.frame, self.options.jpeg_quality, self.options.max_side
                )
            except EncodeError as exc:
                self._drop(DropReason.ENCODE_ERROR)
                log.warning("webrtc frame not encoded", extra={"sid": self.sid, "error": str(exc)})
                continue
            seq = self._seq.next()
            frame = Frame(
                sid=self.sid,
                seq=seq,
                captured_at_ns=picked.captured_at_ns,
                ingested_at_ns=now_ns(),
                width=encoded.width,
                height=encoded.height,
                source="webrtc",
                jpeg=encoded.jpeg,
                depth=picked.depth,
                max_age_ms=self.config.max_frame_age_ms,
            )
            await self._send(frame)

    async def _send(self, frame: Frame) -> None:
        headers = {"Nats-Msg-Id": subjects.frame_msg_id(frame.sid, frame.seq)}
        try:
            await self.js.publish(
                subjects.frames(frame.sid), frame.to_bytes(), timeout=self.options.publish_timeout_s, headers=headers
            )
        except Exception as exc:  # timeouts, no stream, reconnecting: this frame is lost, the next may pass
            self._drop(DropReason.PUBLISH_ERROR)
            log.warning("webrtc frame not published", extra={"sid": self.sid, "error": repr(exc)})
            return
        self.counters["published"] += 1
        self.stats.published()

    async def _watch(self) -> None:
        """Return when the connection is over (or never came up)."""
        deadline = time.monotonic() + self.options.connect_timeout_s
        connected_once = False
        while True:
            self._state.clear()
            state = self.pc.connectionState
            if state in ("failed", "closed"):
                log.info("webrtc connection ended", extra={"sid": self.sid, "state": state})
                return
            connected_once = connected_once or state == "connected"
            if state == "connected":
                timeout = None
            elif connected_once:
                timeout = self.options.disconnect_grace_s
            else:
                timeout = max(0.0, deadline - time.monotonic())
            try:
                async with asyncio.timeout(timeout):
                    await self._state.wait()
            except TimeoutError:
                log.info("webrtc connection gave up", extra={"sid": self.sid, "state": self.pc.connectionState})
                return

    def _drop(self, reason: DropReason) -> None:
        self.counters[f"dropped_{reason}"] += 1  # this peer's, for its closing log line
        self.stats.dropped(reason)
