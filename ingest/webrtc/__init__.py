"""WebRTC ingest (aiortc): answers browser SDP offers relayed on `sw.ingest.webrtc`.

Placeholder until the browser issue lands: `serve` only waits for `stop`.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def serve(nc: Any, js: Any, settings: Any, stop: asyncio.Event) -> None:
    await stop.wait()
