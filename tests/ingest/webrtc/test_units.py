"""Small pure parts of WebRTC ingest: capture clock, JPEG encode, ICE settings. (Sampling: tests/shared.)"""

from __future__ import annotations

from fractions import Fraction

import aioice.ice
import av
import cv2
import numpy as np
import pytest

from ingest.webrtc.clock import CaptureClock
from ingest.webrtc.encode import encode_jpeg, target_size
from ingest.webrtc.ice import rtc_configuration, use_host_addresses
from shared.webrtc import IceServer

RTP = Fraction(1, 90_000)
MS = 1_000_000


def test_capture_clock_follows_rtp_spacing_not_arrival_jitter() -> None:
    clock = CaptureClock()
    base = 1_000_000 * MS
    delays_ms = [30, 12, 45, 10, 60, 11]  # transit + decode jitter; 10 ms is the fastest
    captured = [clock.captured_at_ns(n * 3000, RTP, base + n * 33_333_333 + d * MS) for n, d in enumerate(delays_ms)]
    arrivals = [base + n * 33_333_333 + d * MS for n, d in enumerate(delays_ms)]
    assert all(c <= a for c, a in zip(captured, arrivals, strict=True))
    spacing = captured[-1] - captured[3]  # after the fastest frame: RTP spacing, plus at most the drift allowance
    assert abs(spacing - 2 * 33_333_333) <= 10_000


def test_capture_clock_restarts_on_a_new_stream_and_falls_back_to_arrival() -> None:
    clock = CaptureClock()
    clock.captured_at_ns(900_000, RTP, 50 * 10**9)
    assert clock.captured_at_ns(0, RTP, 60 * 10**9) == 60 * 10**9  # pts went back: new zero
    assert clock.captured_at_ns(None, None, 70 * 10**9) == 70 * 10**9


def test_encode_scales_to_max_side_keeping_aspect() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    cv2.rectangle(image, (100, 100), (400, 400), (0, 255, 0), -1)
    encoded = encode_jpeg(av.VideoFrame.from_ndarray(image, format="bgr24"), 80, 640)
    assert (encoded.width, encoded.height) == (640, 360)
    decoded = cv2.imdecode(np.frombuffer(encoded.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (360, 640, 3) and decoded[100, 100, 1] > 200
    assert target_size(641, 481, 4096) == (640, 480)  # even sizes for the colour planes


def test_host_addresses_setting_pins_aioice_and_empty_restores_it() -> None:
    default = aioice.ice.get_host_addresses
    try:
        use_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
        with pytest.raises(ValueError):
            use_host_addresses(["localhost"])  # literal addresses only: a typo fails at start-up
    finally:
        use_host_addresses([])
    assert aioice.ice.get_host_addresses is default


def test_no_ice_servers_means_none_at_all_not_googles() -> None:
    assert rtc_configuration([]).iceServers == []
    turn = IceServer(urls=["turn:t.example:3478"], username="u", credential="p")  # type: ignore[arg-type]
    config = rtc_configuration(["stun:s.example:3478", {"urls": "stun:x.example"}, turn])
    assert [s.urls for s in config.iceServers] == [["stun:s.example:3478"], ["stun:x.example"], ["turn:t.example:3478"]]
    assert config.iceServers[2].credential == "p"
    with pytest.raises(ValueError):
        IceServer(urls=["http://not-ice"])
