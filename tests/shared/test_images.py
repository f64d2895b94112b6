"""The one JPEG/PNG header parser, on real photos and on malformed inputs.

The gateway (upload validation) and the workers (pre-decode guard) both rely
on it, so the cases from both services' former copies are kept here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shared.errors import ErrorCode, SightwireError
from shared.images import ImageInfo, InvalidImage, inspect, is_complete, jpeg_size, png_size


@pytest.fixture(scope="module")
def photo(coco_dir: Path) -> bytes:
    return (coco_dir / "000000000724.jpg").read_bytes()


def test_jpeg_dimensions_match_a_full_decode_on_every_photo(coco_dir: Path):
    photos = sorted(coco_dir.glob("*.jpg"))
    assert len(photos) >= 50
    for path in photos:
        data = path.read_bytes()
        h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
        assert inspect(data) == ImageInfo("jpeg", w, h), path.name
        assert jpeg_size(data) == (w, h) and is_complete(data), path.name


def test_header_size_of_a_known_photo(photo: bytes) -> None:
    assert jpeg_size(photo) == (375, 500)


def test_progressive_jpeg_and_png(coco_dir: Path):
    image = cv2.imread(str(sorted(coco_dir.glob("*.jpg"))[1]))
    h, w = image.shape[:2]
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and inspect(progressive.tobytes()) == ImageInfo("jpeg", w, h)
    ok, png = cv2.imencode(".png", image)
    assert ok and inspect(png.tobytes()) == ImageInfo("png", w, h)
    assert png_size(png.tobytes()) == (w, h)


@pytest.mark.parametrize("cut", [10, 200, 2000, -100])
def test_truncated_images_are_refused(coco_dir: Path, cut: int):
    data = sorted(coco_dir.glob("*.jpg"))[0].read_bytes()
    with pytest.raises(InvalidImage):
        inspect(data[:cut])
    _ok, png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    with pytest.raises(InvalidImage):
        inspect(png.tobytes()[:cut])


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_jpeg_is_not_complete(photo: bytes, cut: float) -> None:
    data = photo[: int(len(photo) * cut)]
    assert not is_complete(data)
    with pytest.raises(InvalidImage, match="truncated"):
        inspect(data)


@pytest.mark.parametrize("data", [b"", b"hello", b"\xff\xd8", b"\xff\xd8\x00\x00\xff\xd9", b"GIF89a" + b"\x00" * 40])
def test_not_images(data: bytes):
    with pytest.raises(InvalidImage):
        inspect(data)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\x00\x00garbage", b"GIF89a" + b"\x00" * 40])
def test_jpeg_size_refuses_what_has_no_frame_header(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        jpeg_size(data)


def test_errors_carry_the_invalid_image_code() -> None:
    with pytest.raises(SightwireError) as info:
        inspect(b"hello")
    assert isinstance(info.value, InvalidImage) and info.value.code == ErrorCode.INVALID_IMAGE == "INVALID_IMAGE"


def test_huge_frame_size_is_read_from_the_header_alone(photo: bytes) -> None:
    width, height = 10_000, 5_000  # 50 MP
    sof = photo.find(b"\xff\xc0")
    forged = bytearray(photo)
    forged[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    assert jpeg_size(bytes(forged)) == (width, height)
    assert inspect(bytes(forged)) == ImageInfo("jpeg", width, height)


def test_empty_frame_is_refused(photo: bytes) -> None:
    sof = photo.find(b"\xff\xc0")
    forged = photo[: sof + 5] + bytes(4) + photo[sof + 9 :]
    with pytest.raises(InvalidImage, match="empty"):
        jpeg_size(forged)


def test_a_thumbnail_scan_does_not_make_a_truncated_jpeg_complete(photo: bytes) -> None:
    """An EXIF-style thumbnail (its own SOS..EOI inside an APP1 segment) before the cut."""
    ok, thumb = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    payload = b"Exif\x00\x00" + thumb.tobytes()
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    with_thumb = photo[:2] + app1 + photo[2:]
    assert is_complete(with_thumb) and jpeg_size(with_thumb) == (375, 500)
    cut_before_scan = with_thumb[: with_thumb.find(b"\xff\xda", len(app1) + 2)]
    assert not is_complete(cut_before_scan)
    with pytest.raises(InvalidImage, match="truncated"):
        inspect(cut_before_scan)
