"""JPEG and PNG header parsing: format, size and completeness without decoding.

The gateway's cheap upload validation and the worker's pre-decode guard must
agree on what a valid frame is: a frame the gateway accepts and a worker then
refuses (or the reverse) would be a silent contract break. So both read the
header with this one parser. Reading the JPEG SOF or PNG IHDR costs
microseconds, refuses a decompression bomb before a pixel is allocated, and
catches a frame cut short, which libjpeg would otherwise "decode" with grey
rows. Every refusal raises `InvalidImage` (code INVALID_IMAGE).

One pixel limit (`max_image_pixels`, a common setting) is applied by both
sides through `check_limits`. A PNG's decoded size also depends on its IHDR
bit depth and colour type (a 16-bit RGBA pixel is 8 bytes, a 510 KB file can
declare 8192x8192x16-bit = 512 MB), so `decoded_bytes` is bounded too, to
what an 8-bit RGB image of the pixel limit takes, before any decoder runs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
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


# PNG colour type -> samples per pixel (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA), and valid bit depths.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: Literal["jpeg", "png"]
    width: int
    height: int
    bytes_per_pixel: float = field(default=3.0, compare=False)  # while decoding (at least the BGR output)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return int(self.pixels * self.bytes_per_pixel)


def inspect(data: bytes, max_pixels: int | None = None) -> ImageInfo:
    """Format and size of a complete JPEG or PNG, from the header alone (and within `max_pixels`)."""
    if data.startswith(SOI):
        if not is_complete(data):
            raise InvalidImage("truncated JPEG (no end-of-image marker after the last scan)")
        info = ImageInfo("jpeg", *jpeg_size(data))
    elif data.startswith(PNG_SIGNATURE):
        info = png_info(data)
    else:
        raise InvalidImage("not a JPEG or PNG image")
    if max_pixels is not None:
        check_limits(info, max_pixels)
    return info


def check_limits(info: ImageInfo, max_pixels: int) -> None:
    """Refuse an image over the pixel limit, or whose decode needs more than max_pixels x 3 bytes."""
    if info.pixels > max_pixels:
        raise InvalidImage(f"{info.width}x{info.height} {info.format.upper()} exceeds the {max_pixels}-pixel limit")
    if info.decoded_bytes > max_pixels * 3:
        raise InvalidImage(
            f"{info.width}x{info.height} {info.format.upper()} would decode to {info.decoded_bytes} bytes "
            f"(limit {max_pixels * 3})"
        )


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


def png_info(data: bytes) -> ImageInfo:
    """Size, bit depth and colour type from IHDR: what decoding this PNG will allocate."""
    width, height = png_size(data)
    bit_depth, color_type = data[24], data[25]
    if color_type not in _PNG_CHANNELS or bit_depth not in _PNG_DEPTHS[color_type]:
        raise InvalidImage(f"PNG has an invalid bit depth {bit_depth} for colour type {color_type}")
    samples = max(_PNG_CHANNELS[color_type], 3)  # the decoder's output is BGR at least
    return ImageInfo("png", width, height, samples * max(bit_depth, 8) / 8)


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
