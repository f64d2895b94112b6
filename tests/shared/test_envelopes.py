"""Envelopes round-trip, and every malformed body is an EnvelopeError with a code."""

from __future__ import annotations

import msgpack
import pytest

from shared.envelopes import Box, DepthMap, Detections, ErrorResult, Frame, Heartbeat
from shared.errors import EnvelopeError, ErrorCode
from shared.telemetry import DropReason


def make_frame(**overrides: object) -> Frame:
    fields: dict[str, object] = dict(
        sid="s1", seq=7, captured_at_ns=1, ingested_at_ns=2, width=640, height=480, source="file", jpeg=b"\xff\xd8"
    )
    fields.update(overrides)
    return Frame(**fields)  # type: ignore[arg-type]


def test_frame_round_trip_keeps_every_field() -> None:
    frame = make_frame(frame_id="f-1", depth=False, max_age_ms=500)
    assert Frame.from_bytes(frame.to_bytes()) == frame


def test_detections_round_trip_with_boxes() -> None:
    det = Detections("s1", 3, 10, 11, 12, "w1", "yolox_nano", 640, 480, [Box(0.1, 0.2, 0.3, 0.4, 0.9, 11, "stop sign")])
    again = Detections.from_bytes(det.to_bytes())
    assert again == det
    assert again.boxes[0].label == "stop sign"


def test_depth_grid_must_match_its_shape() -> None:
    good = DepthMap("s1", 1, 1, 1, 1, "w", "pydnet", 640, 480, b"\x00" * 2 * 4 * 3, 4, 3, True)
    assert DepthMap.from_bytes(good.to_bytes()).grid_w == 4
    bad = good.to_dict() | {"grid": b"\x00" * 5}
    with pytest.raises(EnvelopeError):
        DepthMap.from_bytes(msgpack.packb(bad, use_bin_type=True))


def test_error_and_heartbeat_round_trip() -> None:
    err = ErrorResult("s1", 2, ErrorCode.INVALID_IMAGE, "not a JPEG", frame_id="x")
    assert ErrorResult.from_bytes(err.to_bytes()).code == "INVALID_IMAGE"
    beat = Heartbeat(
        "detector",
        "host-1",
        5,
        {"errors": 1},
        {"model": "yolox_nano"},
        ["person", "bicycle"],
        processed=3,
        dropped={DropReason.STALE: 2},
    )
    back = Heartbeat.from_bytes(beat.to_bytes())
    assert back == beat and back.processed == 3 and back.dropped == {DropReason.STALE: 2}
    assert type(next(iter(back.dropped))) is DropReason
    assert msgpack.unpackb(beat.to_bytes())["dropped"] == {"stale": 2}  # the reason's value on the wire


def test_heartbeat_labels_and_figures_are_optional_and_typed() -> None:
    without = {"v": 1, "service": "ingest", "instance": "i1", "at_ns": 5}
    beat = Heartbeat.from_bytes(msgpack.packb(without))
    assert (beat.labels, beat.processed, beat.dropped) == ([], 0, {})
    with pytest.raises(EnvelopeError, match="labels"):
        Heartbeat.from_bytes(msgpack.packb(without | {"labels": ["person", 7]}))
    with pytest.raises(EnvelopeError, match="processed"):
        Heartbeat.from_bytes(msgpack.packb(without | {"processed": "7"}))
    for dropped in ({"backpressure": 1}, {"stale": -1}, {"stale": "1"}, ["stale"]):
        with pytest.raises(EnvelopeError, match=r"dropped|DropReason"):
            Heartbeat.from_bytes(msgpack.packb(without | {"dropped": dropped}))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", ErrorCode.INVALID_ENVELOPE),
        (b"\xc1garbage", ErrorCode.INVALID_ENVELOPE),
        (msgpack.packb([1, 2, 3]), ErrorCode.INVALID_ENVELOPE),
        (msgpack.packb({"v": 99}), ErrorCode.UNSUPPORTED_VERSION),
        (msgpack.packb({"sid": "s"}), ErrorCode.UNSUPPORTED_VERSION),
        (msgpack.packb({"v": 1, "sid": "s"}), ErrorCode.INVALID_ENVELOPE),
        (make_frame().to_bytes().replace(b"\xa4file", b"\x04\x05\x06\x07\x08"), ErrorCode.INVALID_ENVELOPE),
    ],
)
def test_malformed_frames_raise_with_code(body: bytes, code: ErrorCode) -> None:
    with pytest.raises(EnvelopeError) as info:
        Frame.from_bytes(body)
    assert info.value.code == code


def test_wrong_field_types_are_refused() -> None:
    body = make_frame().to_dict() | {"seq": "7"}
    with pytest.raises(EnvelopeError, match="seq"):
        Frame.from_bytes(msgpack.packb(body, use_bin_type=True))
    body = make_frame().to_dict() | {"width": True}
    with pytest.raises(EnvelopeError, match="width"):
        Frame.from_bytes(msgpack.packb(body, use_bin_type=True))


def test_bad_box_is_refused() -> None:
    det = Detections("s1", 3, 10, 11, 12, "w1", "m", 640, 480).to_dict() | {"boxes": [[0.1, 0.2]]}
    with pytest.raises(EnvelopeError, match="box"):
        Detections.from_bytes(msgpack.packb(det, use_bin_type=True))
    det["boxes"] = {"x1": 0.1}
    with pytest.raises(EnvelopeError, match="boxes must be a list"):
        Detections.from_bytes(msgpack.packb(det, use_bin_type=True))
    del det["boxes"]
    assert Detections.from_bytes(msgpack.packb(det, use_bin_type=True)).boxes == []  # optional: no boxes


# Bodies as written before `Box` moved to shared/boxes.py and the result fields to `Result`:
# the wire form must stay byte for byte what other versions of the services read.
DETECTIONS_V1 = (
    "8da17601a3736964a27331a373657103ae63617074757265645f61745f6e730aad737461727465645f61745f6e730b"
    "ae66696e69736865645f61745f6e730ca6776f726b6572a27731a56d6f64656caa796f6c6f785f6e616e6fa5776964"
    "7468cd0280a6686569676874cd01e0a5626f7865739197cb3fb999999999999acb3fc999999999999acb3fd3333333"
    "333333cb3fd999999999999acb3feccccccccccccd0ba973746f70207369676ea86672616d655f6964a166ae696e67"
    "65737465645f61745f6e7305"
)
DEPTH_V1 = (
    "8fa17601a3736964a27331a373657103ae63617074757265645f61745f6e730aad737461727465645f61745f6e730b"
    "ae66696e69736865645f61745f6e730ca6776f726b6572a27731a56d6f64656caa796f6c6f785f6e616e6fa5776964"
    "7468cd0280a6686569676874cd01e0a467726964c418000000000000000000000000000000000000000000000000a6"
    "677269645f7704a6677269645f6803b16c61726765725f69735f66617274686572c3a86672616d655f6964a166"
)
RESULT_FIELDS = ("s1", 3, 10, 11, 12, "w1", "yolox_nano", 640, 480)


def test_result_envelopes_keep_their_wire_bytes() -> None:
    box = Box(0.1, 0.2, 0.3, 0.4, 0.9, 11, "stop sign")
    det = Detections(*RESULT_FIELDS, [box], frame_id="f", ingested_at_ns=5)
    assert det.to_bytes().hex() == DETECTIONS_V1
    assert Detections.from_bytes(bytes.fromhex(DETECTIONS_V1)) == det
    depth = DepthMap(*RESULT_FIELDS, b"\0" * 24, 4, 3, True, "f")
    assert depth.to_bytes().hex() == DEPTH_V1
    assert DepthMap.from_bytes(bytes.fromhex(DEPTH_V1)) == depth
