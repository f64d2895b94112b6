"""JPEG intake: frames are untrusted bytes, checked before OpenCV decodes them.

Two checks run on the raw bytes first, because the decoder itself is lenient
in ways a pipeline must not be:
- the frame size comes from the JPEG header, so a 50-megapixel bomb is refused
  before a single pixel is allocated;
- a JPEG cut short still "decodes" in libjpeg (grey rows, a warning on
  stderr), so we require the end-of-image marker after the last scan.
Everything that is not a complete baseline/progressive JPEG raises
`InvalidImage` (code INVALID_IMAGE), which the worker turns into an error result.
"""

from __future__ import annotations

import cv2
import numpy as np

from shared.errors import ErrorCode, SightwireError

SOI = b"\xff\xd8"
SOS = b"\xff\xda"
EOI = b"\xff\xd9"
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class InvalidImage(SightwireError):
    """The frame is not a complete JPEG we are willing to decode."""

    code = ErrorCode.INVALID_IMAGE


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the JPEG's start-of-frame segment, without decoding."""
    if len(data) < 4 or not data.startswith(SOI):
        raise InvalidImage("not a JPEG (missing start-of-image marker)")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise InvalidImage("corrupt JPEG: bad marker")
        marker = data[i + 1]
        if marker == 0xFF or marker in _STANDALONE:
            i += 1 if marker == 0xFF else 2
            continue
        if marker in (0xD9, 0xDA):
            break
        if marker in _SOF and i + 9 <= len(data):
            height, width = int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
            if width == 0 or height == 0:
                raise InvalidImage("JPEG declares an empty frame")
            return width, height
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    raise InvalidImage("JPEG header has no frame size (truncated or corrupt)")


def is_complete(data: bytes) -> bool:
    """True when an end-of-image marker follows the last scan (not cut short)."""
    last_scan = data.rfind(SOS)
    return last_scan >= 0 and data.find(EOI, last_scan + 2) >= 0


def decode_jpeg(data: bytes, max_pixels: int) -> np.ndarray:
    """Checked decode to a BGR uint8 image of exactly the header's size (EXIF rotation ignored)."""
    width, height = jpeg_size(data)
    if width * height > max_pixels:
        raise InvalidImage(f"{width}x{height} JPEG exceeds the {max_pixels}-pixel limit")
    if not is_complete(data):
        raise InvalidImage("truncated JPEG (no end-of-image marker after the last scan)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.shape[:2] != (height, width):
        raise InvalidImage("JPEG could not be decoded")
    return image
