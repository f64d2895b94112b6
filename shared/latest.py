"""The one "latest wins" slot: live data drops rather than queues.

Between a fast producer and a slower consumer (a capture thread and the
publisher, a WebRTC track and the JPEG encoder, NATS and a preview client, a
hub and one viewer) at most one item waits. A newer item replaces an unread
one; the replaced item is counted (`replaced`) and handed to `on_replaced`,
so every skip is accounted for where it happens. Memory is bounded to one
item and the consumer always gets the freshest one.

Used only on the event loop (a thread reaches `put` through
`loop.call_soon_threadsafe`). `get` waits with a timeout; `take` never waits,
for consumers that decide themselves when to read (a rate-limited sender).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """One item at most; a newer `put` replaces (and counts) an unread one."""

    def __init__(self, on_replaced: Callable[[T], None] | None = None) -> None:
        self.replaced = 0
        self._item: T | None = None
        self._ready: asyncio.Event | None = None  # made by the first `get`: a slot nobody awaits costs no Event
        self._closed = False
        self._on_replaced = on_replaced

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> bool:
        """Whether an item is waiting."""
        return self._item is not None

    def put(self, item: T) -> bool:
        """Store `item`; False if it replaced an unread item (or the slot is closed)."""
        if self._closed:
            return False
        replaced = self.evict()
        self._item = item
        if self._ready is not None:
            self._ready.set()
        return replaced is None

    def evict(self) -> T | None:
        """Remove the waiting item unread, counted as replaced (None if there was none)."""
        item, self._item = self._item, None
        if item is not None:
            self.replaced += 1
            if self._on_replaced is not None:
                self._on_replaced(item)
        return item

    def take(self) -> T | None:
        """The waiting item now, or None."""
        item, self._item = self._item, None
        if self._ready is not None:
            self._ready.clear()
        return item

    def take_if(self, allowed: Callable[[], bool]) -> T | None:
        """The waiting item if there is one and `allowed()` says it may go now (asked only then)."""
        if self._item is None or not allowed():
            return None
        return self.take()

    async def get(self, timeout_s: float) -> T | None:
        """The waiting item, or None after `timeout_s` or once closed and empty."""
        if self._item is None and not self._closed:
            if self._ready is None:
                self._ready = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
        return self.take()

    def close(self) -> None:
        """No more items; wakes a waiting `get` (an item already waiting is still returned)."""
        self._closed = True
        if self._ready is not None:
            self._ready.set()
