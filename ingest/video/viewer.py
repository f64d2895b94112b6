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
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from ingest.video.track import PacketTrack
from shared.errors import InvalidSdp

log = logging.getLogger(__name__)

CLOCK_EVERY_S = 2.0
_H264_AND_RTX = ("video/h264", "video/rtx")
CLOSE_TIMEOUT_S = 5.0


class OfferRefused(InvalidSdp):
    """aiortc could not use the viewer's offer."""


@dataclass(frozen=True, slots=True)
class ViewerOptions:
    connect_timeout_s: float = 15.0
    disconnect_grace_s: float = 5.0


class Viewer:
    def __init__(self, sid: str, rtc: RTCConfiguration, options: ViewerOptions) -> None:
        self.sid = sid
        self.options = options
        self.pc = RTCPeerConnection(configuration=rtc)
        self.track = PacketTrack(on_clock=self._on_clock)
        self._channel: Any = None
        self._clock_sent_at = 0.0
        self._state = asyncio.Event()
        self._stop = asyncio.Event()
        self.pc.on("connectionstatechange", self._state.set)
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
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc's parser raises many unrelated types on hostile input
            raise OfferRefused(f"offer rejected: {exc.__class__.__name__}") from exc
        if transceiver.mid is None:
            raise OfferRefused("offer has no video to receive")
        for other in self.pc.getTransceivers():
            if other is not transceiver:
                other.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def close(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._watch(), name=f"video-watch-{self.sid}"),
            asyncio.create_task(self._stop.wait(), name=f"video-stop-{self.sid}"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            self.track.stop()
            closing = asyncio.ensure_future(self.pc.close())
            done, _ = await asyncio.wait({closing}, timeout=CLOSE_TIMEOUT_S)
            if not done:
                log.warning("video peer close timed out", extra={"sid": self.sid})
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

    async def _watch(self) -> None:
        deadline = time.monotonic() + self.options.connect_timeout_s
        connected_once = False
        while True:
            self._state.clear()
            state = self.pc.connectionState
            if state in ("failed", "closed"):
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
                log.info("video viewer gave up", extra={"sid": self.sid, "state": self.pc.connectionState})
                return
