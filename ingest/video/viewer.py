"""One browser watching a camera session: a send-only peer connection fed by the session's feed.

The page offers to receive video and opens a data channel ("sync"). We
answer with H.264 only (the feed's packets are H.264; aiortc packetizes them
without encoding) and send, on the data channel, the mapping from the
sender's RTP clock to capture time: `{"type": "clock", "rtp": <RTP
timestamp>, "captured_at_ns": <capture time of that frame>}`, first as soon as
one frame is out, then every `CLOCK_EVERY_S`. The page turns each displayed
frame's RTP timestamp into its capture time with it.

`run()` ends with the first of: the connection failed or closed, it stayed
disconnected past the grace period or never connected, `close()` (last
viewer policy, session over, lease lost).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiortc import RTCConfiguration, RTCRtpSender

from ingest.video.track import PacketTrack
from ingest.webrtc.link import LinkTimeouts, PeerLink
from shared.errors import InvalidSdp

log = logging.getLogger(__name__)

CLOCK_EVERY_S = 2.0
_H264_AND_RTX = ("video/h264", "video/rtx")

ViewerOptions = LinkTimeouts  # a viewer needs nothing but the connection's timeouts


class Viewer:
    def __init__(self, sid: str, rtc: RTCConfiguration, options: ViewerOptions) -> None:
        self.sid = sid
        self.options = options
        self.link = PeerLink(sid, "viewer", rtc, options)
        self.pc = self.link.pc
        self.track = PacketTrack(on_clock=self._on_clock)
        self._channel: Any = None
        self._clock_sent_at = 0.0
        self._stop = asyncio.Event()
        self.pc.on("datachannel", self._on_datachannel)

    async def answer(self, offer_sdp: str) -> str:
        # The transceiver exists before the offer is applied: aiortc then negotiates its codec preferences
        # (H.264 only; set afterwards they would not apply) for the offer's first video m-line.
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() in _H264_AND_RTX]
        )
        self.track.sender = transceiver.sender
        # aiortc answers a PLI by flagging its own encoder, which pre-encoded packets bypass: route it to the feed.
        setattr(transceiver.sender, "_send_keyframe", self.track.want_keyframe)  # noqa: B010
        await self.link.apply_offer(offer_sdp)
        if transceiver.mid is None:
            raise InvalidSdp("offer has no video to receive")
        return await self.link.answer(transceiver)

    def close(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        try:
            await self.link.run(self._stop, before_close=self.track.stop)
        finally:
            log.info("video viewer closed", extra={"sid": self.sid, "sent": self.track.sent})

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label == "sync":
            self._channel = channel

    def _on_clock(self, rtp: int, captured_at_ns: int) -> None:
        channel = self._channel
        now = time.monotonic()
        if channel is None or channel.readyState != "open" or now - self._clock_sent_at < CLOCK_EVERY_S:
            return
        self._clock_sent_at = now
        channel.send(json.dumps({"type": "clock", "rtp": rtp, "captured_at_ns": captured_at_ns}))
