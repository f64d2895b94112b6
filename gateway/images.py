"""PNG uploads re-encoded as the JPEG the pipeline carries.

Browsers' canvases default to PNG, but every frame on `FRAMES` is a JPEG, so
the gateway converts once at the edge. Header validation of uploads (format,
size, truncation) is `shared.images`, the same parser the workers use.
"""

from __future__ import annotations

import cv2
import numpy as np

from shared.images import InvalidImage

JPEG_QUALITY = 90


def png_to_jpeg(data: bytes) -> bytes:
    """Re-encode a PNG (a browser canvas's default) as the JPEG the pipeline carries.

    CPU work: call it in a thread, never on the event loop.
    """
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidImage("PNG could not be decoded")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InvalidImage("PNG could not be re-encoded as JPEG")
    return bytes(encoded.tobytes())
