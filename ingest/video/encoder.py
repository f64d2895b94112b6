"""H.264 encoding of a camera's frames, once per session, for every viewer.

aiortc gives each `RTCRtpSender` its own encoder: N viewers of one track,
with or without `MediaRelay`, means N encodes of the same picture. A sender
also accepts already-encoded `av.Packet`s (it only packetizes them), so the
video path encodes each frame once here (libx264 through PyAV, the library
aiortc itself uses) and hands the same packets to every viewer's sender.

The RTP timestamp of a frame is derived from its capture time: `pts` counts
the 90 kHz clock from the session's `base_ns`, so a viewer that knows one
(RTP timestamp, capture time) pair knows the capture time of every frame,
which is what lines the overlay up with the picture.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import numpy as np

CLOCK_RATE = 90_000
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    bitrate_kbps: int = 1500
    keyframe_interval_s: float = 2.0
    fps_hint: int = 25


@dataclass(frozen=True, slots=True)
class Encoded:
    """One encoded picture: its packets (usually one) and the capture time it carries."""

    packets: list[av.Packet]
    captured_at_ns: int
    keyframe: bool


def pts_of(captured_at_ns: int, base_ns: int) -> int:
    """90 kHz ticks since `base_ns` (the RTP clock of the session's video)."""
    return (captured_at_ns - base_ns) * CLOCK_RATE // NS


def captured_at_of(pts: int, base_ns: int) -> int:
    """The capture time a pts stands for (to within one tick, 11 us)."""
    return base_ns + pts * NS // CLOCK_RATE


class H264Encoder:
    """Not thread-safe: one encoder thread per session owns it."""

    def __init__(self, options: EncoderOptions, base_ns: int) -> None:
        self.options = options
        self.base_ns = base_ns
        self.frames = 0
        self._codec: av.VideoCodecContext | None = None
        self._size = (0, 0)
        self._last_pts = -1

    def encode(self, image: np.ndarray, captured_at_ns: int, keyframe: bool = False) -> Encoded | None:
        """Encode one BGR picture; None when it cannot carry a later pts than the last one."""
        pts = pts_of(captured_at_ns, self.base_ns)
        if pts <= self._last_pts:  # two frames within one tick, or the wall clock stepped back
            return None
        height, width = image.shape[:2]
        size = (width - width % 2, height - height % 2)  # 4:2:0 needs even sides
        codec = self._codec_for(size)
        frame = av.VideoFrame.from_ndarray(image[: size[1], : size[0]], format="bgr24").reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = TIME_BASE
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        packets = list(codec.encode(frame))
        for packet in packets:
            packet.time_base = TIME_BASE
        self._last_pts = pts
        self.frames += 1
        return Encoded(packets, captured_at_ns, keyframe or any(p.is_keyframe for p in packets))

    def _codec_for(self, size: tuple[int, int]) -> av.VideoCodecContext:
        if self._codec is None or size != self._size:
            codec = av.CodecContext.create("libx264", "w")
            codec.width, codec.height = size
            codec.pix_fmt = "yuv420p"
            codec.time_base = TIME_BASE
            codec.framerate = fractions.Fraction(self.options.fps_hint, 1)
            codec.bit_rate = self.options.bitrate_kbps * 1000
            codec.gop_size = max(1, round(self.options.keyframe_interval_s * self.options.fps_hint))
            codec.max_b_frames = 0
            codec.profile = "Baseline"  # the profile every browser decodes (packetization-mode=1)
            codec.options = {"preset": "ultrafast", "tune": "zerolatency", "level": "31"}
            self._codec = codec
            self._size = size
        return self._codec

    def close(self) -> None:
        self._codec = None
