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

import cv2
import numpy as np

from shared.images import ImageInfo, InvalidImage, check_limits, is_complete, jpeg_size


def decode_jpeg(data: bytes, max_pixels: int) -> np.ndarray:
    """Checked decode to a BGR uint8 image of exactly the header's size (EXIF rotation ignored)."""
    width, height = jpeg_size(data)
    check_limits(ImageInfo("jpeg", width, height), max_pixels)  # the gateway's check, same setting
    if not is_complete(data):
        raise InvalidImage("truncated JPEG (no end-of-image marker after the last scan)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.shape[:2] != (height, width):
        raise InvalidImage("JPEG could not be decoded")
    return image
