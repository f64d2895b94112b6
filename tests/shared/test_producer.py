"""The one frame producer: seq and Nats-Msg-Id, fps and depth sampling on capture time, publish failures.

Published into a small in-memory sink of our own `FrameSink` interface; the
real JetStream path is tested by each source (tests/ingest, tests/gateway).
"""

from __future__ import annotations

from typing import Any

import pytest
from nats.errors import MaxPayloadError, NoRespondersError

from shared import subjects
from shared.envelopes import Frame
from shared.errors import PayloadTooLarge, Unavailable
from shared.producer import FrameProducer, Picture
from shared.sessions import SessionConfig

S = 1_000_000_000


class Sink:
    """Keeps what was published; raises `fail` instead when set."""

    def __init__(self) -> None:
        self.published: list[tuple[str, Frame, dict[str, Any]]] = []
        self.fail: Exception | None = None

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.published.append((subject, Frame.from_bytes(payload), headers or {}))


def picture(at_s: float) -> Picture:
    return Picture(b"\xff\xd8jpeg\xff\xd9", 4, 2, int(at_s * S))


async def test_frames_carry_rising_seq_msg_id_source_and_max_age() -> None:
    sink = Sink()
    producer = FrameProducer(sink, "s1", "rtsp", 1.0)
    config = SessionConfig(max_frame_age_ms=750, enable_depth=False)
    for i in range(5):
        await producer.produce(picture(100 + i / 10), config, frame_id=f"f{i}")
    seqs = [frame.seq for _, frame, _ in sink.published]
    assert seqs == sorted(set(seqs)) and producer.last_seq == seqs[-1]
    assert [h["Nats-Msg-Id"] for _, _, h in sink.published] == [f"s1:{seq}" for seq in seqs]
    assert {subject for subject, _, _ in sink.published} == {subjects.frames("s1")}
    first = sink.published[0][1]
    assert (first.source, first.width, first.height, first.max_age_ms, first.frame_id) == ("rtsp", 4, 2, 750, "f0")
    assert first.captured_at_ns == 100 * S and not first.depth


def test_admit_samples_capture_time_to_the_session_fps() -> None:
    producer = FrameProducer(Sink(), "s1", "webrtc", 1.0)
    admitted = [producer.admit(int(n * S / 30), 10) for n in range(90)]  # 3 s of a 30 fps camera
    assert abs(sum(admitted) - 30) <= 1
    assert admitted[:6] == [True, False, False, True, False, False]  # evenly: every third frame


def test_depth_goes_to_depth_fps_frames_and_follows_config() -> None:
    producer = FrameProducer(Sink(), "s1", "file", 1.0)
    config = SessionConfig(fps_limit=10, enable_depth=True, depth_fps=2)
    depth = [producer.frame(picture(100 + i / 10), config).depth for i in range(50)]  # 5 s at 10 fps
    assert 9 <= sum(depth) <= 11 and depth[0]
    assert [i for i, d in enumerate(depth[:15]) if d] == [0, 4, 9, 14]  # a quarter period early is on time
    off = config.model_copy(update={"enable_depth": False})
    assert not any(producer.frame(picture(200 + i), off).depth for i in range(5))
    every = config.model_copy(update={"depth_fps": 30})
    assert all(producer.frame(picture(300 + i / 10), every).depth for i in range(10))


def test_a_first_frame_gets_depth_and_a_slow_depth_rate_waits() -> None:
    producer = FrameProducer(Sink(), "s1", "upload", 1.0)
    config = SessionConfig(enable_depth=True, depth_fps=0.01)
    assert [producer.frame(picture(10 + i), config).depth for i in range(3)] == [True, False, False]


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(MaxPayloadError(), PayloadTooLarge), (TimeoutError(), Unavailable), (NoRespondersError(), Unavailable)],
)
async def test_a_refused_publish_raises_a_coded_error_with_the_frame_id(
    failure: Exception, raised: type[Exception]
) -> None:
    sink = Sink()
    sink.fail = failure
    producer = FrameProducer(sink, "s1", "upload", 1.0)
    with pytest.raises(raised) as err:
        await producer.produce(picture(1), SessionConfig(), frame_id="f7")
    assert getattr(err.value, "frame_id", None) == "f7"
    sink.fail = None
    await producer.produce(picture(2), SessionConfig())
    assert len(sink.published) == 1  # the next frame goes through
