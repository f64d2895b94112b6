"""A camera-video viewer without a browser: an aiortc peer that receives video and the "sync" channel."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription


class ViewerPeer:
    """A browser stand-in: receives video, opens the "sync" channel, counts decoded frames."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        self.clock: list[str] = []
        self.frames = 0
        channel = self.pc.createDataChannel("sync")
        channel.on("message", self.clock.append)
        self.pc.on("track", lambda track: asyncio.ensure_future(self._read(track)))

    async def _read(self, track: Any) -> None:
        try:
            while True:
                await track.recv()
                self.frames += 1
        except Exception:  # the track ended with the connection
            return

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
