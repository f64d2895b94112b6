"""Cheap image checks: format and dimensions from the header, no decode.

A full decode (cv2.imdecode) of every upload on the gateway would cost what
the detector costs; reading the JPEG SOF or PNG IHDR costs microseconds and
already refuses what is not an image, is truncated, or is absurdly large. The
workers still report an image that is corrupt inside as an INVALID_IMAGE
error result.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_QUALITY = 90
# Start-of-frame markers carry the dimensions (C4 DHT, C8 JPG, CC DAC are not SOF).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_EOI_WINDOW = 64


class ImageError(ValueError):
    """Not a complete JPEG or PNG; the message says why."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: Literal["jpeg", "png"]
    width: int
    height: int


def inspect(data: bytes) -> ImageInfo:
    """Format and size from the header; raises `ImageError` for anything else."""
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data.startswith(PNG_SIGNATURE):
        return _png(data)
    raise ImageError("not a JPEG or PNG image")


def _jpeg(data: bytes) -> ImageInfo:
    if b"\xff\xd9" not in data[-_EOI_WINDOW:]:
        raise ImageError("JPEG is truncated (no end-of-image marker)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError("JPEG marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise ImageError("JPEG segment length is invalid")
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return ImageInfo("jpeg", width, height)
        if marker == 0xDA:  # start of scan before any SOF
            break
        pos += 2 + length
    raise ImageError("JPEG has no frame header")


def _png(data: bytes) -> ImageInfo:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageError("PNG has no IHDR header")
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        raise ImageError("PNG is truncated (no IEND chunk)")
    width, height = struct.unpack_from(">II", data, 16)
    return ImageInfo("png", width, height)


def png_to_jpeg(data: bytes) -> bytes:
    """Re-encode a PNG (a browser canvas's default) as the JPEG the pipeline carries.

    CPU work: call it in a thread, never on the event loop.
    """
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError("PNG could not be decoded")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ImageError("PNG could not be re-encoded as JPEG")
    return bytes(encoded.tobytes())
