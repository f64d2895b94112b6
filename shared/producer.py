"""The one way a frame enters the pipeline: a `Frame` on `sw.frames.<sid>`.

Camera ingest, WebRTC ingest and gateway uploads all produce frames through a
`FrameProducer`, one per session and process, so every frame carries the same
things, decided the same way:
- `seq` from a wall-clock-seeded `SeqCounter` (it keeps rising when another
  process takes the session over) and `Nats-Msg-Id` = `<sid>:<seq>`, so that
  JetStream drops a repeated publish;
- sampling to the session's analysis rate (`admit`, `fps_limit` frames a
  second of capture time) for sources that deliver faster than that (cameras,
  webcams); pushed uploads are paced by their client and capped by the
  gateway's upload limit instead, so they do not call it;
- `depth` set on at most `depth_fps` frames a second of capture time (when
  depth is on), sampled like the frames: evenly in the scene, a frame a little
  early still on time, no burst after a pause;
- the session's staleness limit in `max_age_ms`.
A publish that JetStream does not take raises `PayloadTooLarge` (over the
message limit) or `Unavailable` (timeout, no stream, reconnecting); the caller
decides whether that loses one frame (a camera) or answers a client (an upload).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError

from shared import subjects
from shared.clock import ns_to_s
from shared.envelopes import Frame, now_ns
from shared.errors import PayloadTooLarge, Unavailable
from shared.rates import RateLimiter
from shared.sequence import SeqCounter
from shared.sessions import SessionConfig

log = logging.getLogger(__name__)


class FrameSink(Protocol):
    """Where frames are published (a `JetStreamContext`)."""

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,  # noqa: ASYNC109 - JetStreamContext.publish's signature
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class Picture:
    """An encoded frame and the wall-clock time (ns) it was captured."""

    jpeg: bytes
    width: int
    height: int
    captured_at_ns: int


class FrameProducer:
    """Frames of one session from one source kind (`rtsp`, `webrtc`, `upload`, ...)."""

    def __init__(self, sink: FrameSink, sid: str, source: str, timeout_s: float) -> None:
        self.sink = sink
        self.sid = sid
        self.source = source
        self.timeout_s = timeout_s
        self.last_seq = 0
        self._seq = SeqCounter()
        self._frames = RateLimiter.sampler()
        self._depth = RateLimiter.sampler()

    def admit(self, captured_at_ns: int, fps: float) -> bool:
        """Whether a frame captured at this time is one of the session's `fps` a second.

        Call it from one thread only (a camera's capture thread, or the event loop).
        """
        return self._frames.take(ns_to_s(captured_at_ns), rate=fps)

    def frame(self, picture: Picture, config: SessionConfig, frame_id: str | None = None) -> Frame:
        """The envelope of the next frame: a new `seq`, depth sampled, the session's max age."""
        self.last_seq = self._seq.next()
        return Frame(
            sid=self.sid,
            seq=self.last_seq,
            captured_at_ns=picture.captured_at_ns,
            ingested_at_ns=now_ns(),
            width=picture.width,
            height=picture.height,
            source=self.source,
            jpeg=picture.jpeg,
            frame_id=frame_id,
            depth=config.enable_depth and self._depth.take(ns_to_s(picture.captured_at_ns), rate=config.depth_fps),
            max_age_ms=config.max_frame_age_ms,
        )

    async def publish(self, frame: Frame) -> None:
        """Store `frame` in FRAMES; raises `PayloadTooLarge` or `Unavailable` if JetStream did not take it."""
        headers = {"Nats-Msg-Id": subjects.frame_msg_id(frame.sid, frame.seq)}
        try:
            await self.sink.publish(
                subjects.frames(frame.sid), frame.to_bytes(), timeout=self.timeout_s, headers=headers
            )
        except MaxPayloadError as exc:
            log.warning("frame over the message limit", extra={"sid": frame.sid, "seq": frame.seq})
            raise PayloadTooLarge("frame exceeds the NATS message limit", frame_id=frame.frame_id) from exc
        except (NatsError, TimeoutError) as exc:
            log.warning("frame publish failed", extra={"sid": frame.sid, "seq": frame.seq, "error": repr(exc)})
            raise Unavailable("frame store unavailable, retry", frame_id=frame.frame_id) from exc

    async def produce(self, picture: Picture, config: SessionConfig, frame_id: str | None = None) -> Frame:
        """Envelope and publish one frame; the published frame (raises as `publish`)."""
        frame = self.frame(picture, config, frame_id)
        await self.publish(frame)
        return frame
