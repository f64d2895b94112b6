"""A bounded set of per-frame tasks: the worker's only queue.

The fetch loop asks for at most `free` messages, so frames wait in JetStream
(where a replica with spare capacity can take them and staleness is judged on
arrival) rather than in this process. Shutdown waits for in-flight frames for a
bounded time and cancels the rest; their messages are unacknowledged and will
be redelivered, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("in-flight limit must be at least 1")
        self.limit = limit
        self.tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def free(self) -> int:
        return self.limit - len(self.tasks)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Start a frame task. Never refuses: a fetch may hand back a late message or two beyond
        `free` (nats-py drains its pending queue), and those must be handled, not dropped."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("frame task failed", exc_info=task.exception())

    async def wait_for_slot(self, timeout_s: float) -> None:
        """Return when a slot is free or after `timeout_s`."""
        if self.free > 0 or not self.tasks:
            return
        await asyncio.wait(set(self.tasks), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)

    async def finish(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for every task; cancel stragglers; return how many were cancelled."""
        if not self.tasks:
            return 0
        _, pending = await asyncio.wait(set(self.tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        return len(pending)
