"""Header-only image checks, the token bucket and the base64 rules (no NATS needed)."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway import images
from gateway.errors import ApiError
from gateway.uploads import TokenBucket, capture_time_ns, decode_base64
from shared.sessions import SessionConfig


def test_jpeg_dimensions_match_a_full_decode_on_every_photo(coco_dir: Path):
    photos = sorted(coco_dir.glob("*.jpg"))
    assert len(photos) >= 50
    for path in photos:
        data = path.read_bytes()
        h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
        assert images.inspect(data) == images.ImageInfo("jpeg", w, h), path.name


def test_progressive_jpeg_and_png(coco_dir: Path):
    image = cv2.imread(str(sorted(coco_dir.glob("*.jpg"))[1]))
    h, w = image.shape[:2]
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and images.inspect(progressive.tobytes()) == images.ImageInfo("jpeg", w, h)
    ok, png = cv2.imencode(".png", image)
    assert ok and images.inspect(png.tobytes()) == images.ImageInfo("png", w, h)
    jpeg = images.png_to_jpeg(png.tobytes())
    assert images.inspect(jpeg) == images.ImageInfo("jpeg", w, h)


@pytest.mark.parametrize("cut", [10, 200, 2000, -100])
def test_truncated_images_are_refused(coco_dir: Path, cut: int):
    data = sorted(coco_dir.glob("*.jpg"))[0].read_bytes()
    with pytest.raises(images.ImageError):
        images.inspect(data[:cut])
    _ok, png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    with pytest.raises(images.ImageError):
        images.inspect(png.tobytes()[:cut])


@pytest.mark.parametrize("data", [b"", b"hello", b"\xff\xd8", b"\xff\xd8\x00\x00\xff\xd9", b"GIF89a" + b"\x00" * 40])
def test_not_images(data: bytes):
    with pytest.raises(images.ImageError):
        images.inspect(data)


def test_token_bucket_allows_burst_then_rate():
    bucket = TokenBucket(rate=2.0, burst=3, clock=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.25) is False
    assert bucket.take(0.5) is True
    assert bucket.take(100.0) and bucket.tokens == 2.0  # refill is capped at the burst


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
        with pytest.raises(ApiError) as err:
            decode_base64(bad, "f", 100)
        assert (err.value.status, err.value.code, err.value.frame_id) == (422, "INVALID_IMAGE", "f")
    with pytest.raises(ApiError) as err:
        decode_base64("A" * 400, None, 100)
    assert err.value.status == 413
