"""Ingest counts published frames and drops once: the heartbeat and Prometheus read the same tally."""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration
from prometheus_client import REGISTRY

from ingest.heartbeat import beat
from ingest.stats import SERVICE, IngestStats
from ingest.webrtc.peer import Peer, PeerOptions
from shared.envelopes import Frame, Heartbeat
from shared.metrics import FRAMES_DROPPED
from shared.sessions import SessionConfig
from shared.telemetry import DropReason


def prometheus_drops(reason: DropReason) -> float:
    return REGISTRY.get_sample_value(FRAMES_DROPPED, {"service": SERVICE, "reason": reason.value}) or 0.0


def test_the_heartbeat_carries_typed_figures_and_the_other_counters() -> None:
    stats = IngestStats()
    before = prometheus_drops(DropReason.FPS)
    stats.published()
    stats.published()
    stats.drop(DropReason.FPS, 3)
    stats.drop("ingest_overrun")
    stats.event("source_lost")
    hb = Heartbeat.from_bytes(beat("i1", stats, ["cam-1"]).to_bytes())
    assert hb.processed == 2
    assert hb.dropped == {DropReason.FPS: 3, DropReason.INGEST_OVERRUN: 1}
    assert hb.counters == {"source_lost": 1, "sessions_owned": 0}  # no drop or processed spelling left here
    assert prometheus_drops(DropReason.FPS) - before == 3


class FakeJetStream:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.published: list[str] = []

    async def publish(self, subject: str, payload: bytes, **_: Any) -> None:
        if self.fail:
            raise TimeoutError("no stream")
        self.published.append(subject)


def frame(seq: int) -> Frame:
    return Frame(sid="w1", seq=seq, captured_at_ns=1, ingested_at_ns=1, width=8, height=8, source="webrtc", jpeg=b"x")


async def test_webrtc_frames_and_drops_reach_the_ingest_heartbeat() -> None:
    """They reached Prometheus only: the heartbeat-derived pipeline counter was lower than the process's own."""
    stats = IngestStats()
    before = prometheus_drops(DropReason.PUBLISH_ERROR)
    js = FakeJetStream(fail=False)
    peer = Peer("w1", SessionConfig(), js, RTCConfiguration(), PeerOptions(), stats)  # type: ignore[arg-type]
    try:
        await peer._send(frame(1))
        js.fail = True
        await peer._send(frame(2))
        await peer._send(frame(3))
    finally:
        await peer.pc.close()
    hb = beat("i1", stats, [])
    assert js.published == ["sw.frames.w1"]
    assert (hb.processed, hb.dropped) == (1, {DropReason.PUBLISH_ERROR: 2})
    assert prometheus_drops(DropReason.PUBLISH_ERROR) - before == 2
