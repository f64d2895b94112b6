"""PNG re-encoding and the base64 rules (no NATS needed; the rate limiter: tests/shared/test_rates.py).

The header-only checks themselves are tested in tests/shared/test_images.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import pytest

from gateway import images
from gateway.errors import http_status
from gateway.uploads import capture_time_ns, decode_base64
from shared.errors import SightwireError
from shared.images import ImageInfo, InvalidImage, inspect
from shared.sessions import SessionConfig


def test_png_is_re_encoded_as_a_jpeg_of_the_same_size(coco_dir: Path):
    image = cv2.imread(str(sorted(coco_dir.glob("*.jpg"))[1]))
    h, w = image.shape[:2]
    ok, png = cv2.imencode(".png", image)
    assert ok
    jpeg = images.png_to_jpeg(png.tobytes(), 40_000_000)
    assert inspect(jpeg) == ImageInfo("jpeg", w, h)


def test_undecodable_png_is_invalid_image():
    with pytest.raises(InvalidImage):
        images.png_to_jpeg(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 40_000_000)


def test_capture_time_keeps_only_a_plausible_client_clock():
    config = SessionConfig(max_frame_age_ms=1000)
    now = 10_000_000_000_000
    assert capture_time_ns(config, now - 500_000_000, now) == now - 500_000_000
    assert capture_time_ns(config, now + 1, now) == now
    assert capture_time_ns(config, now - 2_000_000_000, now) == now
    assert capture_time_ns(config, None, now) == now


def test_base64_rules():
    assert decode_base64(base64.b64encode(b"abc").decode(), None, 100) == b"abc"
    assert decode_base64("data:image/png;base64," + base64.b64encode(b"xy").decode(), None, 100) == b"xy"
    for bad in ("not base64!!", "YWJj=garbage", "data:image/png,raw"):
        with pytest.raises(SightwireError) as err:
            decode_base64(bad, "f", 100)
        assert (http_status(err.value), err.value.code, err.value.frame_id) == (422, "INVALID_IMAGE", "f")
    with pytest.raises(SightwireError) as large:
        decode_base64("A" * 400, None, 100)
    assert http_status(large.value) == 413
