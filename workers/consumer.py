"""The life of one frame message: parse, drop or process, publish, then ack.

Rules (DESIGN.md section 2 and the team brief):
- nothing acknowledged is lost: the result (or error result) is published and
  its PubAck received BEFORE the frame is acked; if publishing fails the frame
  is nak-ed with a delay and comes back;
- bad input never crashes the worker: a body that is not a frame envelope gets
  an error result with the envelope's code and is terminated (never
  redelivered); an undecodable image gets INVALID_IMAGE, a model failure
  INFERENCE_ERROR;
- frames that are too old, or that the producer marked as not wanted by the
  depth worker, are acked and counted as dropped by reason.
Publishing is pipelined: once a result exists, the frame leaves the inference
window and its publish -> PubAck -> ack runs as a task of its own (bounded by
the `publishing` set the fetch loop also respects), so the next frame is
fetched and OpenVINO's requests stay busy while the PubAck round trip is in
flight; the ack still follows the PubAck.
Results carry `Nats-Msg-Id = <kind>:<FRAMES stream seq>`, so when a frame is
redelivered after its result was published but before its ack landed (a
crashed replica), JetStream discards the second copy of the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Literal

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import Envelope, ErrorResult, Frame, now_ns
from shared.errors import EnvelopeError, ErrorCode, SightwireError
from shared.subjects import ResultKind
from workers.evictions import EvictionCounter
from workers.inflight import InFlight
from workers.runner import Runner
from workers.settings import WorkerSettings
from workers.stats import WorkerStats

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
RESULT_KIND: dict[str, ResultKind] = {"detector": ResultKind.DET, "depth": ResultKind.DEPTH}
# Faults of the frame itself. Every frame reaches the detector, so only the detector reports
# them: a client sees one error per bad frame, not one per worker type. The depth worker
# counts them as drops (reason "invalid_input").
INPUT_ERRORS = frozenset({ErrorCode.INVALID_IMAGE, ErrorCode.INVALID_ENVELOPE, ErrorCode.UNSUPPORTED_VERSION})
REPORTS_INPUT_ERRORS = "detector"

Drop = Literal["stale", "depth_off"]


def drop_reason(kind: str, frame: Frame, now: int, default_max_age_ms: int) -> Drop | None:
    """Why this frame should be skipped, or None to process it."""
    if kind == "depth" and not frame.depth:
        return "depth_off"
    max_age_ms = frame.max_age_ms if frame.max_age_ms > 0 else default_max_age_ms
    if now - frame.captured_at_ns > max_age_ms * 1_000_000:
        return "stale"
    return None


def seq_hint(msg: Msg) -> int:
    """The frame seq from `Nats-Msg-Id` (`<sid>:<seq>`) when the body itself is unreadable; else 0."""
    msg_id = (msg.headers or {}).get(MSG_ID_HEADER, "")
    _, _, seq = msg_id.rpartition(":")
    return int(seq) if seq.isdigit() else 0


def result_msg_id(kind: str, msg: Msg) -> str | None:
    try:
        return f"{kind}:{msg.metadata.sequence.stream}"
    except Exception:  # not a JetStream message (tests, replays): no dedupe key
        return None


class FrameHandler:
    """Handles one frame message of a `detector` or `depth` consumer; never raises."""

    def __init__(
        self,
        kind: str,
        js: JetStreamContext,
        runner: Runner,
        stats: WorkerStats,
        settings: WorkerSettings,
        publishing: InFlight | None = None,
    ) -> None:
        self.publishing = publishing  # None: publish and ack inside `handle` (tests, benchmarks)
        self.kind = kind
        self.js = js
        self.runner = runner
        self.stats = stats
        self.default_max_age_ms = settings.default_max_frame_age_ms
        self.publish_timeout_s = settings.publish_timeout_s
        self.nak_delay_s = settings.nak_delay_s
        self.evictions = EvictionCounter(stats)  # frames FRAMES discarded undelivered (workers/evictions.py)

    async def handle(self, msg: Msg) -> None:
        self.evictions.observe(msg)  # first, before any await: in delivery order
        self.stats.in_flight += 1
        try:
            await self._handle(msg)
        except Exception:  # a bug must not take the worker down: the frame comes back via ack_wait
            log.exception("unexpected error handling a frame", extra={"subject": msg.subject})
        finally:
            self.stats.in_flight -= 1

    async def _handle(self, msg: Msg) -> None:
        try:
            frame = Frame.from_bytes(msg.data)
            if frame.sid != subjects.check_sid(subjects.sid_of(msg.subject)):
                raise EnvelopeError("frame sid does not match its subject")
        except (EnvelopeError, ValueError) as exc:
            await self._reject(msg, exc)
            return
        reason = drop_reason(self.kind, frame, now_ns(), self.default_max_age_ms)
        if reason is not None:
            self.stats.drop(reason)
            await _quiet(msg.ack())
            return
        started = time.monotonic()
        result: Envelope
        try:
            result = await self.runner.run(frame)
            result_kind = RESULT_KIND[self.kind]
        except SightwireError as exc:
            if self._silenced(exc.code):
                await _quiet(msg.ack())
                return
            result = ErrorResult(frame.sid, frame.seq, exc.code.value, f"{self.kind}: {exc.message}", frame.frame_id)
            result_kind = ResultKind.ERROR
        finish = self._finish(msg, frame, result_kind, result, started)
        if self.publishing is None:
            await finish
        else:
            self.publishing.spawn(finish)

    async def _finish(self, msg: Msg, frame: Frame, result_kind: ResultKind, result: Envelope, started: float) -> None:
        """Publish the result, and ack the frame once its PubAck is in."""
        if await self._publish(msg, subjects.results(frame.sid, result_kind), result):
            self.stats.result_published(
                error=result_kind is ResultKind.ERROR,
                processing_s=time.monotonic() - started,
                age_s=(now_ns() - frame.captured_at_ns) / 1e9,
            )
            await _quiet(msg.ack())

    async def _reject(self, msg: Msg, exc: Exception) -> None:
        """An unreadable frame: error result on its session's error subject, then terminate it."""
        code = exc.code if isinstance(exc, SightwireError) else ErrorCode.INVALID_ENVELOPE
        if self._silenced(code):
            await _quiet(msg.term())
            return
        try:
            sid = subjects.check_sid(subjects.sid_of(msg.subject))
        except ValueError:
            log.warning("frame on an unusable subject terminated", extra={"subject": msg.subject[:200]})
            await _quiet(msg.term())
            return
        error = ErrorResult(sid, seq_hint(msg), code.value, f"{self.kind}: {exc}")
        if await self._publish(msg, subjects.results(sid, ResultKind.ERROR), error):
            self.stats.result_published(error=True, processing_s=0.0, age_s=0.0)
            await _quiet(msg.term())

    def _silenced(self, code: ErrorCode) -> bool:
        """True (and counted) for an input fault that the detector reports instead of us."""
        if self.kind == REPORTS_INPUT_ERRORS or code not in INPUT_ERRORS:
            return False
        self.stats.drop("invalid_input")
        return True

    async def _publish(self, msg: Msg, subject: str, result: Envelope) -> bool:
        """Publish and await the PubAck; on failure nak the frame with a delay and return False."""
        msg_id = result_msg_id(self.kind, msg)
        headers = {MSG_ID_HEADER: msg_id} if msg_id else None
        try:
            await self.js.publish(subject, result.to_bytes(), timeout=self.publish_timeout_s, headers=headers)
        except Exception as exc:  # timeout, no responders, reconnecting: retry the frame later
            log.warning("result not published; frame nak-ed", extra={"subject": subject, "error": repr(exc)})
            await _quiet(msg.nak(delay=self.nak_delay_s))
            return False
        return True


async def _quiet(ack: Awaitable[None]) -> None:
    """Await an ack/nak/term; a failure only means the server will redeliver (results are deduped)."""
    try:
        await ack
    except Exception as exc:
        log.debug("ack not delivered", extra={"error": repr(exc)})
