"""JPEG and PNG header parsing: format, size and completeness without decoding.

The gateway's cheap upload validation and the worker's pre-decode guard must
agree on what a valid frame is: a frame the gateway accepts and a worker then
refuses (or the reverse) would be a silent contract break. So both read the
header with this one parser. Reading the JPEG SOF or PNG IHDR costs
microseconds, refuses a decompression bomb before a pixel is allocated, and
catches a frame cut short, which libjpeg would otherwise "decode" with grey
rows. Every refusal raises `InvalidImage` (code INVALID_IMAGE).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from shared.errors import ErrorCode, SightwireError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"IEND\xaeB`\x82"
SOI = b"\xff\xd8"
SOS = b"\xff\xda"
EOI = b"\xff\xd9"
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0-7 have no length field
_END_OF_HEADER = frozenset({SOS[1], EOI[1]})


class InvalidImage(SightwireError):
    """Not a complete JPEG or PNG we are willing to decode; the message says why."""

    code = ErrorCode.INVALID_IMAGE


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: Literal["jpeg", "png"]
    width: int
    height: int


def inspect(data: bytes) -> ImageInfo:
    """Format and size of a complete JPEG or PNG, from the header alone."""
    if data.startswith(SOI):
        if not is_complete(data):
            raise InvalidImage("truncated JPEG (no end-of-image marker after the last scan)")
        return ImageInfo("jpeg", *jpeg_size(data))
    if data.startswith(PNG_SIGNATURE):
        return ImageInfo("png", *png_size(data))
    raise InvalidImage("not a JPEG or PNG image")


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the JPEG's start-of-frame segment, without decoding."""
    if not data.startswith(SOI):
        raise InvalidImage("not a JPEG (missing start-of-image marker)")
    for marker, pos in _header_segments(data):
        if marker in _SOF and pos + 9 <= len(data):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            if width == 0 or height == 0:
                raise InvalidImage("JPEG declares an empty frame")
            return width, height
        if marker in _END_OF_HEADER:
            break
    raise InvalidImage("JPEG header has no frame size (truncated or corrupt)")


def is_complete(data: bytes) -> bool:
    """True when the header reaches a scan and an end-of-image marker follows the last scan.

    Walking the header first means the SOS/EOI of a thumbnail embedded in an
    APP segment cannot pass for the main image's.
    """
    if not data.startswith(SOI):
        return False
    try:
        reaches_scan = any(marker == SOS[1] for marker, _ in _header_segments(data))
    except InvalidImage:
        return False
    return reaches_scan and data.find(EOI, data.rfind(SOS) + 2) >= 0


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk; the IEND chunk must close the file."""
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidImage("not a PNG (missing signature)")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise InvalidImage("PNG has no IHDR header")
    if not data.rstrip(b"\x00").endswith(PNG_IEND):
        raise InvalidImage("truncated PNG (no IEND chunk)")
    width, height = struct.unpack_from(">II", data, 16)
    if width == 0 or height == 0:
        raise InvalidImage("PNG declares an empty image")
    return width, height


def _header_segments(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset) of each JPEG marker segment after SOI, up to and including SOS or EOI."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise InvalidImage("corrupt JPEG: marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        yield marker, pos
        if marker in _END_OF_HEADER:
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise InvalidImage("corrupt JPEG: segment length is invalid")
        pos += 2 + length
