"""A size-one "latest frame" slot between a capture thread and the publisher.

Live video drops rather than queues: when the publisher is still busy with
the previous frame (slow NATS, a burst), a newer frame replaces the waiting
one and the replaced frame is counted as dropped (`ingest_overrun`). So the
memory per camera is bounded to one frame, and what gets published is always
the freshest frame available. Used only on the event loop: the capture thread
reaches `put` through `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self, on_overwrite: Callable[[], None]) -> None:
        self._item: T | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self._on_overwrite = on_overwrite

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T) -> None:
        """Store `item`, replacing (and counting) an unconsumed older one."""
        if self._closed:
            return
        if self._item is not None:
            self._on_overwrite()
        self._item = item
        self._ready.set()

    async def get(self, timeout_s: float) -> T | None:
        """The waiting item, or None after `timeout_s` or once closed and empty."""
        if self._item is None and not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
        item, self._item = self._item, None
        self._ready.clear()
        return item

    def close(self) -> None:
        """No more items; wakes a waiting `get`."""
        self._closed = True
        self._ready.set()
