"""A camera session's output: its frames (through `FrameProducer`) and its error results.

Frames get their `seq`, `Nats-Msg-Id`, depth sampling and staleness limit
from the session's `shared.producer.FrameProducer`, as every source's do. A
publish that fails or times out loses only that frame (counted as
`publish_error`); the camera keeps going. Error results (SOURCE_LOST,
SOURCE_UNREACHABLE, ...) carry the seq of the last frame published.
"""

from __future__ import annotations

import logging

from nats.errors import Error as NatsError

from ingest.stats import IngestStats
from shared import subjects
from shared.envelopes import ErrorResult
from shared.errors import ErrorCode, SightwireError
from shared.producer import FrameProducer, FrameSink, Picture
from shared.sessions import SessionConfig
from shared.telemetry import DropReason

log = logging.getLogger(__name__)

PUBLISH_ERRORS = (TimeoutError, NatsError)


class FramePublisher:
    def __init__(self, js: FrameSink, sid: str, source: str, timeout_s: float, stats: IngestStats) -> None:
        self.producer = FrameProducer(js, sid, source, timeout_s)
        self.stats = stats

    async def publish(self, picture: Picture, config: SessionConfig) -> bool:
        """Publish one frame; False (and counted) if JetStream did not take it."""
        try:
            await self.producer.produce(picture, config)
        except SightwireError:  # logged by the producer
            self.stats.drop(DropReason.PUBLISH_ERROR)
            return False
        self.stats.published()
        return True

    async def error(self, code: ErrorCode, message: str) -> bool:
        """Publish an error result for this session (seq = the last frame's)."""
        producer = self.producer
        body = ErrorResult(sid=producer.sid, seq=producer.last_seq, code=code.value, message=message).to_bytes()
        subject = subjects.results(producer.sid, subjects.ResultKind.ERROR)
        try:
            await producer.sink.publish(subject, body, timeout=producer.timeout_s)
        except PUBLISH_ERRORS as exc:
            log.warning("error result publish failed", extra={"sid": producer.sid, "code": code, "error": repr(exc)})
            return False
        return True
