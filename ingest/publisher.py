"""Turning captured frames into `Frame` envelopes on `sw.frames.<sid>`, and error results.

Per session: `seq` from a wall-clock-seeded `SeqCounter` (so it keeps rising
when another instance takes the camera over), `Nats-Msg-Id` = `<sid>:<seq>` so
that JetStream drops a repeated publish, the session's staleness limit in
`max_age_ms`, and `depth` set only on the frames the depth worker should look
at (depth enabled, at most `depth_fps` of them). A publish that fails or times
out loses only that frame (counted); the camera keeps going.
"""

from __future__ import annotations

import logging

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from ingest.grabber import Captured
from ingest.pacing import RateSampler
from ingest.stats import IngestStats
from shared import subjects
from shared.envelopes import ErrorResult, Frame, now_ns
from shared.errors import ErrorCode
from shared.sequence import SeqCounter
from shared.sessions import SessionConfig

log = logging.getLogger(__name__)

PUBLISH_ERRORS = (TimeoutError, NatsError)


class FramePublisher:
    def __init__(self, js: JetStreamContext, sid: str, source: str, timeout_s: float, stats: IngestStats) -> None:
        self.js = js
        self.sid = sid
        self.source = source
        self.timeout_s = timeout_s
        self.stats = stats
        self.last_seq = 0
        self._seq = SeqCounter()
        self._depth = RateSampler()

    def envelope(self, captured: Captured, config: SessionConfig) -> Frame:
        self.last_seq = self._seq.next()
        return Frame(
            sid=self.sid,
            seq=self.last_seq,
            captured_at_ns=captured.captured_at_ns,
            ingested_at_ns=now_ns(),
            width=captured.width,
            height=captured.height,
            source=self.source,
            jpeg=captured.jpeg,
            depth=config.enable_depth and self._depth.take(captured.captured_at_ns / 1e9, config.depth_fps),
            max_age_ms=config.max_frame_age_ms,
        )

    async def publish(self, captured: Captured, config: SessionConfig) -> bool:
        """Publish one frame; False (and counted) if JetStream did not take it."""
        frame = self.envelope(captured, config)
        headers = {"Nats-Msg-Id": subjects.frame_msg_id(self.sid, frame.seq)}
        try:
            await self.js.publish(subjects.frames(self.sid), frame.to_bytes(), timeout=self.timeout_s, headers=headers)
        except PUBLISH_ERRORS as exc:
            self.stats.dropped("publish_error")
            log.warning("frame publish failed", extra={"sid": self.sid, "seq": frame.seq, "error": repr(exc)})
            return False
        self.stats.published()
        return True

    async def error(self, code: ErrorCode, message: str) -> bool:
        """Publish an error result for this session (seq = the last frame's)."""
        body = ErrorResult(sid=self.sid, seq=self.last_seq, code=code.value, message=message).to_bytes()
        try:
            await self.js.publish(subjects.results(self.sid, subjects.ResultKind.ERROR), body, timeout=self.timeout_s)
        except PUBLISH_ERRORS as exc:
            log.warning("error result publish failed", extra={"sid": self.sid, "code": code, "error": repr(exc)})
            return False
        return True
