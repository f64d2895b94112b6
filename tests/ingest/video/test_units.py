"""Units of camera video: the encoder's clock, a viewer's packet queue, the hub's ownership rules."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc import RTCConfiguration

from ingest.video.encoder import CLOCK_RATE, Encoded, EncoderOptions, H264Encoder, captured_at_of, pts_of
from ingest.video.feed import VideoFeed
from ingest.video.hub import HubLimits, VideoHub
from ingest.video.track import QUEUE_PACKETS, PacketTrack
from ingest.video.viewer import ViewerOptions
from shared.errors import ErrorCode, SightwireError

BASE = 1_700_000_000_000_000_000


def picture(value: int = 90, size: tuple[int, int] = (240, 321)) -> np.ndarray:
    return np.full((*size, 3), value, np.uint8)


def test_pts_counts_90khz_ticks_of_capture_time() -> None:
    assert pts_of(BASE + 1_000_000_000, BASE) == CLOCK_RATE
    assert captured_at_of(pts_of(BASE + 40_000_000, BASE), BASE) == BASE + 40_000_000
    assert abs(captured_at_of(pts_of(BASE + 12_345_678, BASE), BASE) - (BASE + 12_345_678)) < 11_112


def test_encoder_keeps_capture_time_as_pts_makes_keyframes_and_refuses_going_back() -> None:
    encoder = H264Encoder(EncoderOptions(keyframe_interval_s=10), BASE)
    first = encoder.encode(picture(), BASE + 40_000_000)
    assert first is not None and first.keyframe  # the first picture of a stream is a key frame
    assert [p.pts for p in first.packets] == [pts_of(BASE + 40_000_000, BASE)]
    second = encoder.encode(picture(100), BASE + 80_000_000)
    assert second is not None and not second.keyframe
    forced = encoder.encode(picture(110), BASE + 120_000_000, keyframe=True)
    assert forced is not None and forced.keyframe
    assert encoder.encode(picture(), BASE + 100_000_000) is None  # older than the last frame: never sent
    assert encoder.frames == 3


def encoded(keyframe: bool, at_ns: int = BASE) -> Encoded:
    encoder = H264Encoder(EncoderOptions(), BASE - 1_000_000_000)
    out = encoder.encode(picture(), at_ns, keyframe=True)
    assert out is not None
    return Encoded(out.packets, at_ns, keyframe)


async def test_track_waits_for_a_keyframe_and_skips_to_the_next_one_when_full() -> None:
    track = PacketTrack()
    assert track.put(encoded(False)) and track.skipped == 1  # cannot start on a delta frame
    assert track.put(encoded(True, BASE + 1))
    for i in range(QUEUE_PACKETS - 1):
        assert track.put(encoded(False, BASE + 2 + i))
    assert not track.put(encoded(False, BASE + 99))  # full: emptied, and the feed is asked for a key frame
    assert track.put(encoded(False, BASE + 100)) and track.skipped == 3
    assert track.put(encoded(True, BASE + 101))
    packet = await asyncio.wait_for(track.recv(), 1)
    assert packet.is_keyframe
    track.stop()


async def test_track_pairs_the_senders_rtp_timestamp_with_the_previous_frames_capture_time() -> None:
    pairs: list[tuple[int, int]] = []
    track = PacketTrack(on_clock=lambda rtp, at: pairs.append((rtp, at)))

    class Sender:
        _RTCRtpSender__rtp_timestamp = 0

    track.sender = Sender()  # type: ignore[assignment]
    track.put(encoded(True, BASE + 1000))
    track.put(encoded(True, BASE + 2000))
    await track.recv()
    Sender._RTCRtpSender__rtp_timestamp = 123_456  # aiortc sent the first frame with this timestamp
    await track.recv()
    assert pairs == [(123_456, BASE + 1000)]


class Source:
    tap = None


async def test_hub_serves_only_owned_cameras_and_stops_the_feed_on_release() -> None:
    counts: dict[str, int] = {}
    hub = VideoHub(
        RTCConfiguration(iceServers=[]),
        EncoderOptions(),
        ViewerOptions(),
        HubLimits(1, 1),
        lambda k, n: counts.__setitem__(k, counts.get(k, 0) + n),
    )
    with pytest.raises(SightwireError) as refused:
        await hub.offer("not-ours", "v=0")
    assert refused.value.code == ErrorCode.WEBRTC_UNAVAILABLE
    source = Source()
    hub.owned("cam", source)  # type: ignore[arg-type]
    with pytest.raises(SightwireError) as bad:
        await hub.offer("cam", "v=0\r\nnonsense")
    assert bad.value.code == ErrorCode.INVALID_SDP
    assert hub.encoders() == 0 and source.tap is None  # a refused offer starts nothing
    hub.released("cam")
    with pytest.raises(SightwireError):
        await hub.offer("cam", "v=0")


async def test_feed_encodes_each_frame_once_for_all_its_tracks() -> None:
    counts: dict[str, int] = {}
    feed = VideoFeed(
        "cam",
        EncoderOptions(),
        BASE,
        asyncio.get_running_loop(),
        lambda k, n: counts.__setitem__(k, counts.get(k, 0) + n),
    )
    tracks = [PacketTrack() for _ in range(3)]
    for track in tracks:
        feed.add(track)
    for i in range(5):
        feed.tap(picture(i * 20), BASE + (i + 1) * 40_000_000)
        await asyncio.sleep(0.15)
    received = [[(await asyncio.wait_for(t.recv(), 2)).pts for _ in range(3)] for t in tracks]
    feed.close()
    assert received[0] == received[1] == received[2]  # the same packets, not three encodes
    assert counts["video_frames_encoded"] == 5 - counts.get("video_dropped.busy", 0)


def test_a_viewers_keyframe_requests_reach_the_feed_at_most_once_a_second() -> None:
    asked: list[int] = []
    track = PacketTrack()
    track.on_keyframe = lambda: asked.append(1)
    for _ in range(20):  # a burst of PLIs (or a hostile peer) forces one key frame, not twenty
        track.want_keyframe()
    assert len(asked) == 1
