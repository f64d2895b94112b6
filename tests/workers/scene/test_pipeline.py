"""The scene pipeline with envelopes in and client messages out (no NATS): order, filters,
distances, errors, bad input, and a checkpoint taken mid-stream that continues identically."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from shared import subjects
from shared.boxes import Box
from shared.clock import NS_PER_S
from shared.envelopes import DepthMap, Detections, ErrorResult
from shared.sessions import SessionConfig
from workers.scene.pipeline import PipelineLimits, ScenePipeline

SID = "s1"
DET = subjects.results(SID, subjects.ResultKind.DET)
DEPTH = subjects.results(SID, subjects.ResultKind.DEPTH)
ERROR = subjects.results(SID, subjects.ResultKind.ERROR)
T0 = 1_700_000_000_000_000_000


def det(seq: int, boxes: list[Box], sid: str = SID) -> bytes:
    at = T0 + seq * 100_000_000
    return Detections(sid, seq, at, at, at + 4_000_000, "w", "m", 640, 480, boxes).to_bytes()


def person(seq: int, score: float = 0.9) -> Box:
    x = 0.1 + 0.01 * seq
    return Box(x, 0.2, x + 0.1, 0.7, score, 0, "person")


def chair(score: float = 0.8) -> Box:
    return Box(0.6, 0.5, 0.7, 0.7, score, 56, "chair")


def depth_map(seq: int) -> bytes:
    grid = np.tile(np.linspace(1, 9, 80, dtype=np.float32), (56, 1))  # farther to the right
    at = T0 + seq * 100_000_000
    return DepthMap(SID, seq, at, at, at, "w", "m", 640, 480, grid.astype("<f2").tobytes(), 80, 56, True).to_bytes()


def pipeline(**config: Any) -> ScenePipeline:
    return ScenePipeline(SID, SessionConfig(**config), PipelineLimits(reorder_window=4, reorder_wait_ns=60 * NS_PER_S))


def run(p: ScenePipeline, messages: list[tuple[str, bytes]], first_rseq: int = 1) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for n, (subject, data) in enumerate(messages, start=first_rseq):
        out += [(e.results_seq, e.message) for e in p.handle(subject, data, n, now_ns=0)]
    return out


def started(p: ScenePipeline) -> ScenePipeline:
    p.window.restore(0, [], 0)
    return p


def test_messages_come_out_in_frame_order_with_their_results_seq():
    p = started(pipeline())
    out = run(p, [(DET, det(1, [person(1)])), (DET, det(3, [person(3)])), (DET, det(2, [person(2)]))])
    assert [(r, m["data"]["seq"]) for r, m in out] == [(1, 1), (3, 2), (2, 3)]
    data = out[1][1]["data"]
    assert data["detections"][0]["track_id"] == 1 and data["detections"][0]["bbox"] == [76.8, 96.0, 140.8, 336.0]
    assert data["processing_time_ms"] == 4.0 and data["timestamp"] == (T0 + 200_000_000) / 1e9


def test_threshold_and_classes_filter_what_is_shown():
    p = started(pipeline(confidence_threshold=0.5, classes=["person"]))
    out = run(p, [(DET, det(1, [person(1, 0.3), chair()])), (DET, det(2, [person(2, 0.95), chair()]))])
    assert out[0][1]["data"]["detections"] == []
    assert [d["label"] for d in out[1][1]["data"]["detections"]] == ["person"]


def test_tracking_off_gives_no_ids():
    p = started(pipeline(enable_tracking=False))
    out = run(p, [(DET, det(n, [person(n)])) for n in range(1, 4)])
    assert {d["track_id"] for _, m in out for d in m["data"]["detections"]} == {None}


def test_depth_gives_relative_depth_and_a_scaled_distance_to_the_chair():
    p = started(pipeline())
    out = run(p, [(DEPTH, depth_map(1)), (DET, det(1, [person(1), chair()]))])
    by_label = {d["label"]: d for d in out[0][1]["data"]["detections"]}
    assert by_label["person"]["distance_source"] == "size_prior"
    assert by_label["chair"]["distance_source"] == "depth_scaled"
    assert by_label["person"]["depth_rel"] < by_label["chair"]["depth_rel"]


def test_errors_pass_and_bad_input_is_counted():
    p = started(pipeline())
    error = ErrorResult(SID, 1, "INVALID_IMAGE", "broken", frame_id="f1", at_ns=T0).to_bytes()
    out = run(p, [(ERROR, error), (DET, b"\x00garbage"), (DET, det(2, [], sid="other"))])
    assert out == [
        (
            1,
            {
                "type": "error",
                "error": "broken",
                "error_code": "INVALID_IMAGE",
                "frame_id": "f1",
                "timestamp": T0 / 1e9,
            },
        )
    ]
    assert p.dropped == {"bad_envelope": 2}


def test_a_checkpoint_mid_stream_continues_exactly():
    stream = [(DEPTH, depth_map(1))] + [(DET, det(n, [person(n), chair()])) for n in (1, 2, 4, 5, 3, 6, 8, 7, 9)]
    whole = started(pipeline())
    expected = run(whole, stream)
    first = started(pipeline())
    before = run(first, stream[:5])  # 4 and 5 are waiting for 3
    saved = msgpack.unpackb(msgpack.packb(first.state(), use_bin_type=True), raw=False, strict_map_key=False)
    second = pipeline()
    second.restore(saved, now_ns=0)
    after = run(second, stream[5:], first_rseq=6)
    strip = [(r, {**m["data"], "latency_ms": 0}) for r, m in before + after]
    assert strip == [(r, {**m["data"], "latency_ms": 0}) for r, m in expected]
