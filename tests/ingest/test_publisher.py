"""Frame envelopes on a real JetStream: subject, Nats-Msg-Id, depth rate, staleness limit, errors."""

from __future__ import annotations

from nats.js import JetStreamContext, api

from ingest.publisher import FramePublisher
from ingest.stats import IngestStats
from shared import subjects
from shared.envelopes import ErrorResult, Frame
from shared.errors import ErrorCode
from shared.producer import Picture
from shared.sessions import SessionConfig


def captured(at_s: float) -> Picture:
    return Picture(b"\xff\xd8jpeg\xff\xd9", 4, 2, int(at_s * 1e9))


async def stored(js: JetStreamContext, subject: str) -> list[api.RawStreamMsg]:
    info = await js.stream_info(subjects.FRAMES_STREAM if subject.startswith("sw.frames") else subjects.RESULTS_STREAM)
    msgs = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(info.config.name or "", seq)
        if msg.subject == subject:
            msgs.append(msg)
    return msgs


async def test_frames_carry_msg_id_depth_rate_and_max_age(ijs: JetStreamContext) -> None:
    stats = IngestStats()
    publisher = FramePublisher(ijs, "s1", "rtsp", 5.0, stats)
    config = SessionConfig(fps_limit=10, enable_depth=True, depth_fps=2, max_frame_age_ms=750)
    for i in range(10):
        assert await publisher.publish(captured(100 + i / 10), config)

    msgs = await stored(ijs, subjects.frames("s1"))
    frames = [Frame.from_bytes(m.data or b"") for m in msgs]
    assert [m.headers["Nats-Msg-Id"] for m in msgs if m.headers] == [f"s1:{f.seq}" for f in frames]
    assert [f.seq for f in frames] == sorted({f.seq for f in frames})
    assert {(f.source, f.width, f.height, f.max_age_ms) for f in frames} == {("rtsp", 4, 2, 750)}
    assert stats.processed == 10


def test_depth_is_rate_limited_to_depth_fps() -> None:
    publisher = FramePublisher(None, "s3", "file", 5.0, IngestStats())  # type: ignore[arg-type]  # frame() only
    config = SessionConfig(fps_limit=10, enable_depth=True, depth_fps=2)
    depth = [publisher.producer.frame(captured(100 + i / 10), config).depth for i in range(50)]  # 5 s at 10 fps
    assert 9 <= sum(depth) <= 11
    off = config.model_copy(update={"enable_depth": False})
    assert not any(publisher.producer.frame(captured(200 + i), off).depth for i in range(5))


async def test_error_results_go_to_the_error_subject(ijs: JetStreamContext) -> None:
    publisher = FramePublisher(ijs, "s2", "http", 5.0, IngestStats())
    assert await publisher.error(ErrorCode.SOURCE_LOST, "camera stream lost")
    (msg,) = await stored(ijs, subjects.results("s2", subjects.ResultKind.ERROR))
    error = ErrorResult.from_bytes(msg.data or b"")
    assert (error.sid, error.code, error.seq) == ("s2", "SOURCE_LOST", 0)
