"""JPEG intake: frames are untrusted bytes, checked before OpenCV decodes them.

Two checks run on the raw bytes first, because the decoder itself is lenient
in ways a pipeline must not be:
- the frame size comes from the JPEG header, so a 50-megapixel bomb is refused
  before a single pixel is allocated;
- a JPEG cut short still "decodes" in libjpeg (grey rows, a warning on
  stderr), so we require the end-of-image marker after the last scan.
Both come from `shared.images`, the parser the gateway validates uploads with,
so the two agree on what a valid frame is. Everything that is not a complete
baseline/progressive JPEG raises `InvalidImage` (code INVALID_IMAGE), which
the worker turns into an error result.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from shared.images import ImageInfo, InvalidImage, check_limits, is_complete, jpeg_size

# libjpeg decodes at 1/2, 1/4 or 1/8 scale by dropping DCT coefficients: far less work than a
# full decode followed by a resize, and the result is a proper low-pass image.
REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def decode_jpeg(data: bytes, max_pixels: int, reduce_by: Callable[[int, int], int] | None = None) -> np.ndarray:
    """Checked decode to a BGR uint8 image (EXIF rotation ignored).

    The image has exactly the header's size, or `ceil(size / f)` where `f = reduce_by(width, height)`
    (1, 2, 4 or 8) when a caller that will shrink the frame anyway asks for a reduced-scale decode."""
    width, height = jpeg_size(data)
    check_limits(ImageInfo("jpeg", width, height), max_pixels)  # the gateway's check, same setting
    if not is_complete(data):
        raise InvalidImage("truncated JPEG (no end-of-image marker after the last scan)")
    factor = reduce_by(width, height) if reduce_by is not None else 1
    flags = REDUCED_FLAGS[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None or image.shape[:2] != (-(-height // factor), -(-width // factor)):
        raise InvalidImage("JPEG could not be decoded")
    return image
