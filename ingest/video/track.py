"""A viewer's video track: the session's encoded packets, as aiortc's sender pulls them.

Each viewer has its own small queue, so one slow viewer never holds up the
others or the encoder: when its queue is full it is emptied, the viewer skips
packets until the next key frame (anything else would not decode) and the
feed is told to make one soon (`put` returns False).

The track also learns the sender's RTP clock. aiortc adds a random origin to
our pts (a local of its send loop, not exposed) and sends a frame's packets
before it asks the track for the next one; so at each `recv` the sender's last
RTP timestamp belongs to the packet returned before, whose capture time we
know. That pair is the mapping the page needs (`on_clock`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from ingest.video.encoder import Encoded

QUEUE_PACKETS = 30  # about a second of video at camera rate
KEYFRAME_REQUEST_EVERY_S = 1.0  # a viewer's PLIs force at most this many key frames (they cost every viewer)
_RTP_ATTR = "_RTCRtpSender__rtp_timestamp"  # aiortc's last sent RTP timestamp (checked by the browser test)

ClockCallback = Callable[[int, int], None]


class PacketTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, on_clock: ClockCallback | None = None) -> None:
        super().__init__()
        self.sender: RTCRtpSender | None = None
        self.on_clock = on_clock
        self.sent = 0
        self.skipped = 0
        self._queue: asyncio.Queue[tuple[av.Packet, int] | None] = asyncio.Queue(QUEUE_PACKETS)
        self._need_keyframe = True
        self._last_captured_ns: int | None = None
        self._last_rtp: int | None = None
        self.on_keyframe: Callable[[], None] | None = None  # set by the feed
        self._keyframe_asked_at = 0.0

    def want_keyframe(self) -> None:
        """The browser lost packets and asks for a key frame (RTCP PLI/FIR); rate-limited per viewer."""
        now = time.monotonic()
        if self.on_keyframe is not None and now - self._keyframe_asked_at >= KEYFRAME_REQUEST_EVERY_S:
            self._keyframe_asked_at = now
            self.on_keyframe()

    def put(self, encoded: Encoded) -> bool:
        """Queue a picture's packets; False when this viewer had to skip (it waits for a key frame)."""
        if self.readyState != "live":
            return True
        if self._need_keyframe and not encoded.keyframe:
            self.skipped += 1
            return True
        if self._queue.qsize() + len(encoded.packets) > QUEUE_PACKETS:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._need_keyframe = True
            self.skipped += 1
            return False
        self._need_keyframe = False
        for packet in encoded.packets:
            self._queue.put_nowait((packet, encoded.captured_at_ns))
        return True

    async def recv(self) -> av.Packet:
        self._observe_clock()
        item = await self._queue.get()
        if item is None or self.readyState != "live":
            raise MediaStreamError
        packet, captured_at_ns = item
        self._last_captured_ns = captured_at_ns
        self.sent += 1
        return packet

    def stop(self) -> None:
        super().stop()
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def _observe_clock(self) -> None:
        """The previous packet has been sent: pair its RTP timestamp with its capture time."""
        if self.sender is None or self._last_captured_ns is None or self.on_clock is None:
            return
        rtp = getattr(self.sender, _RTP_ATTR, None)
        if isinstance(rtp, int) and rtp != self._last_rtp:
            self._last_rtp = rtp
            self.on_clock(rtp, self._last_captured_ns)
