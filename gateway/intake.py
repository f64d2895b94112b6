"""Frame intake of one gateway process: what `gateway.uploads` needs to take a pushed frame in.

Per-session upload state (rate limit, the session's `FrameProducer` with its
seq counter and depth sampling, outcome counts) is local to this process and dropped when the session ends
(`forget`); the NATS connection to publish on, the bound on concurrent PNG
re-encodes and the activity `touch` are handed in. Whether frames are accepted
at all follows the lifecycle shell's status (`accepting`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gateway.uploads import PUBLISH_TIMEOUT_S, UploadState
from shared.producer import FrameProducer
from shared.rates import RateLimiter

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

    from gateway.settings import GatewaySettings

PNG_REENCODES = 2


class FrameIntake:
    """`gateway.uploads.IntakeContext` of a running gateway."""

    def __init__(
        self,
        settings: GatewaySettings,
        nc: NATS,
        js: JetStreamContext,
        counters: Counter[str],
        touch: Callable[[str], Awaitable[None]],
        accepting: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self.nc = nc
        self.js = js
        self.counters = counters
        self.png_slots = asyncio.Semaphore(PNG_REENCODES)  # bounds memory of concurrent PNG decodes
        self._touch = touch
        self._accepting = accepting
        self._uploads: dict[str, UploadState] = {}

    @property
    def accepting(self) -> bool:
        return self._accepting()

    async def touch(self, sid: str) -> None:
        await self._touch(sid)

    def upload_state(self, sid: str) -> UploadState:
        state = self._uploads.get(sid)
        if state is None:
            limit = RateLimiter(self.settings.upload_rate_per_s, self.settings.upload_burst)
            producer = FrameProducer(self.js, sid, "upload", PUBLISH_TIMEOUT_S)
            state = self._uploads[sid] = UploadState(limit, producer)
        return state

    def upload_counters(self, sid: str) -> dict[str, int]:
        state = self._uploads.get(sid)
        return dict(state.counts) if state else {}

    def forget(self, sid: str) -> None:
        """Drop this process's upload state of a session that has ended."""
        self._uploads.pop(sid, None)
