"""A browser stand-in for WebRTC tests without a browser: aiortc sending real photos.

The track plays COCO photos at 30 fps (aiortc paces it), each photo for a
number of frames, like a camera looking at a changing scene. The offerer uses
no ICE servers (aiortc's default would be Google's STUN), so with the host
addresses pinned to 127.0.0.1 nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack


@dataclass
class RtcSettings:
    """The WebRTC fields of IngestSettings for an in-process `serve()`: loopback only, no ICE servers."""

    instance_id: str = "ingest-test"
    webrtc_ice_servers: list[Any] = field(default_factory=list)
    webrtc_host_addresses: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    webrtc_max_peers: int = 2
    webrtc_jpeg_quality: int = 80
    webrtc_max_side: int = 1280
    webrtc_connect_timeout_s: float = 15.0
    webrtc_disconnect_grace_s: float = 2.0
    webrtc_media_timeout_s: float = 10.0


def load_photos(paths: list[Path], size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    images = []
    for path in paths:
        image = cv2.imread(str(path))
        assert image is not None, path
        images.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return images


class PhotoTrack(VideoStreamTrack):
    """A video track that shows each photo for `frames_per_photo` frames, in a loop; with
    `stall_after`, it sends that many frames and then nothing (the connection stays up)."""

    def __init__(self, photos: list[np.ndarray], frames_per_photo: int = 30, stall_after: int | None = None) -> None:
        super().__init__()
        self.photos = photos
        self.frames_per_photo = frames_per_photo
        self.stall_after = stall_after
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        if self.stall_after is not None and self.sent >= self.stall_after:
            await asyncio.Event().wait()  # never set: the camera froze, the peer connection did not
        pts, time_base = await self.next_timestamp()
        photo = self.photos[(self.sent // self.frames_per_photo) % len(self.photos)]
        self.sent += 1
        frame = av.VideoFrame.from_ndarray(photo, format="bgr24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


async def offer_for(track: VideoStreamTrack) -> tuple[RTCPeerConnection, str]:
    """A send-only video peer connection and its offer (ICE candidates included)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def accept_answer(pc: RTCPeerConnection, sdp: str) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))


async def wait_for_state(pc: RTCPeerConnection, states: set[str], timeout_s: float = 20.0) -> str:
    """Poll the connection state until it is one of `states` (fails after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while pc.connectionState not in states:
        if time.monotonic() > deadline:
            raise AssertionError(f"peer connection stayed {pc.connectionState!r}, wanted {states}")
        await asyncio.sleep(0.05)
    return pc.connectionState
