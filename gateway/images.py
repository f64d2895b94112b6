"""PNG uploads re-encoded as the JPEG the pipeline carries.

Browsers' canvases default to PNG, but every frame on `FRAMES` is a JPEG, so
the gateway converts once at the edge. Header validation of uploads (format,
size, truncation) is `shared.images`, the same parser the workers use.
"""

from __future__ import annotations

import cv2
import numpy as np

from shared.images import InvalidImage, inspect

JPEG_QUALITY = 90


def png_to_jpeg(data: bytes, max_pixels: int) -> bytes:
    """Re-encode a PNG (a browser canvas's default) as the JPEG the pipeline carries.

    The IHDR is checked against the pixel and decoded-size limits first, so a
    PNG bomb is refused before OpenCV allocates anything. CPU work: call it in
    a thread, never on the event loop.
    """
    inspect(data, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidImage("PNG could not be decoded")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InvalidImage("PNG could not be re-encoded as JPEG")
    return bytes(encoded.tobytes())
