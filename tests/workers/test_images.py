"""The worker's checked decode on real photos and on the malformed inputs it must refuse.

The header parser itself (`jpeg_size`, `is_complete`) is tested in tests/shared/test_images.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shared.images import InvalidImage
from workers.images import decode_jpeg

LIMIT = 40_000_000


@pytest.fixture(scope="module")
def photo(coco_dir: Path) -> bytes:
    return (coco_dir / "000000000724.jpg").read_bytes()


def test_decode_matches_the_header_size(photo: bytes) -> None:
    image = decode_jpeg(photo, LIMIT)
    assert image.shape == (500, 375, 3) and image.dtype == np.uint8


def test_progressive_jpeg_is_read_too() -> None:
    image = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    assert decode_jpeg(buf.tobytes(), LIMIT).shape == (48, 64, 3)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_jpeg_is_refused(photo: bytes, cut: float) -> None:
    data = photo[: int(len(photo) * cut)]
    with pytest.raises(InvalidImage, match="truncated"):
        decode_jpeg(data, LIMIT)


def test_png_and_empty_and_garbage_are_refused() -> None:
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok
    for data in (png.tobytes(), b"", b"\xff\xd8", b"\xff\xd8\x00\x00garbage"):
        with pytest.raises(InvalidImage) as info:
            decode_jpeg(data, LIMIT)
        assert info.value.code == "INVALID_IMAGE"


def test_huge_frame_is_refused_from_the_header_alone(photo: bytes) -> None:
    width, height = 10_000, 5_000  # 50 MP; the header read itself is tested in tests/shared
    sof = photo.find(b"\xff\xc0")
    forged = bytearray(photo)
    forged[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    with pytest.raises(InvalidImage, match="pixel limit"):
        decode_jpeg(bytes(forged), LIMIT)
