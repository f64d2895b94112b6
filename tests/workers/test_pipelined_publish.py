"""Pipelined publishing: a frame leaves the inference window as soon as its result exists, and is
acked only after the result's PubAck; a failed publish naks it, so it comes back.

Real nats-server and JetStream; the runner is a small in-memory stand-in (our own interface) so the
test is about the consumer, not the model.
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from shared import subjects
from shared.envelopes import Detections, Envelope, Frame, now_ns
from shared.settings import NatsSettings
from tests.workers.support import frame, publish_frame
from workers.consumer import FrameHandler
from workers.inflight import InFlight
from workers.settings import WorkerSettings
from workers.stats import WorkerStats


class InstantRunner:
    """Answers every frame with an empty detection result."""

    async def run(self, f: Frame) -> Envelope:
        now = now_ns()
        return Detections(f.sid, f.seq, f.captured_at_ns, now, now, "w", "m", 1, 1, [], frame_id=f.frame_id)


async def consumer_state(js: JetStreamContext) -> tuple[int, int]:
    info = await js.consumer_info(subjects.FRAMES_STREAM, subjects.DETECTOR_DURABLE)
    return info.num_ack_pending, info.num_pending


async def results_count(js: JetStreamContext) -> int:
    return (await js.stream_info(subjects.RESULTS_STREAM)).state.messages


async def test_result_published_then_frame_acked_outside_the_inference_window(
    js: JetStreamContext, nats_settings: NatsSettings
) -> None:
    settings = WorkerSettings(nats_url=nats_settings.nats_url)
    publishing = InFlight(4)
    handler = FrameHandler("detector", js, InstantRunner(), WorkerStats("detector", "i", "m"), settings, publishing)  # type: ignore[arg-type]
    sub = await js.pull_subscribe_bind(subjects.DETECTOR_DURABLE, stream=subjects.FRAMES_STREAM)
    for seq in (1, 2, 3):  # three sessions: FRAMES keeps only the newest 2 frames of each
        await publish_frame(js, frame(f"cam{seq}", seq, b"jpeg"))
    msgs = await sub.fetch(3, timeout=10)
    await asyncio.gather(*(handler.handle(m) for m in msgs))
    assert len(publishing) > 0, "publish + ack continue after handle() has returned"
    assert await publishing.finish(30) == 0
    assert await results_count(js) == 3
    assert await consumer_state(js) == (0, 0)


async def test_a_failed_publish_naks_the_frame_instead_of_acking_it(
    js: JetStreamContext, nats_settings: NatsSettings
) -> None:
    settings = WorkerSettings(nats_url=nats_settings.nats_url, publish_timeout_s=2.0, nak_delay_s=0.0)
    publishing = InFlight(4)
    handler = FrameHandler("detector", js, InstantRunner(), WorkerStats("detector", "i", "m"), settings, publishing)  # type: ignore[arg-type]
    sub = await js.pull_subscribe_bind(subjects.DETECTOR_DURABLE, stream=subjects.FRAMES_STREAM)
    await publish_frame(js, frame("cam", 1, b"jpeg"))
    await js.delete_stream(subjects.RESULTS_STREAM)  # nothing can take the result now
    (msg,) = await sub.fetch(1, timeout=10)
    await handler.handle(msg)
    assert await publishing.finish(30) == 0
    (again,) = await sub.fetch(1, timeout=10)  # nak-ed, so JetStream hands it out again
    assert again.metadata.num_delivered == 2 and again.metadata.sequence.stream == msg.metadata.sequence.stream
