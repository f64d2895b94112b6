"""Background loops of a service: one retry policy and one "every N seconds" shape for all of them.

Every service runs steps that must outlive a NATS outage: a lease refresh, a
janitor sweep, a KV watch that breaks on reconnect. Written by hand each time,
the shape is `while True: try step; except log; sleep(RETRY)`, with a constant
per module and a warning on *every* failed round (a broker away for a minute
logs sixty of them). Here it is written once:
- `Backoff`: a bounded exponential delay (first, doubling, capped), reset on success;
- `every`: run a step every `interval_s` until stopped; an error is logged when
  the step starts failing and again when it recovers (not once per round), and
  the next try waits for the backoff instead of the interval;
- `retrying`: keep a long-running step (a watch) running, restarted after the
  backoff whenever it ends or fails.
Cancellation always goes straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


@dataclass
class Backoff:
    """Delays after consecutive failures: `first_s`, doubling, never above `max_s`."""

    first_s: float = 1.0
    max_s: float = 10.0
    factor: float = 2.0
    _next_s: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s or self.factor < 1:
            raise ValueError(f"invalid backoff {self.first_s}s..{self.max_s}s x{self.factor}")
        self._next_s = self.first_s

    def next(self) -> float:
        """The delay before the next try; each call grows the one after it."""
        delay = self._next_s
        self._next_s = min(self.max_s, self._next_s * self.factor)
        return delay

    def reset(self) -> None:
        self._next_s = self.first_s


@dataclass
class FailureLog:
    """Logs a step's state changes once: the first failure, and the recovery after failures."""

    what: str
    failures: int = 0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning(f"{self.what} failed; retrying", extra={"error": repr(exc)})
        else:
            log.debug(f"{self.what} failed again", extra={"error": repr(exc), "failures": self.failures})

    def succeeded(self) -> None:
        if self.failures:
            log.info(f"{self.what} recovered", extra={"failures": self.failures})
        self.failures = 0


async def _pause(delay_s: float, stop: asyncio.Event | None) -> bool:
    """Sleep `delay_s`, or less if `stop` is set meanwhile; True when it is time to stop."""
    if stop is None:
        await asyncio.sleep(delay_s)
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay_s):
            await stop.wait()
    return stop.is_set()


async def every(
    interval_s: float,
    step: Step,
    what: str,
    stop: asyncio.Event | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Run `step` every `interval_s` (first after one interval) until `stop` is set or cancelled.

    A failing step is retried after the backoff (by default: the interval,
    doubling up to 10 intervals), never stops the loop, and is logged once per
    change of state.
    """
    backoff = backoff or Backoff(interval_s, 10 * interval_s)
    status = FailureLog(what)
    delay = interval_s
    while not await _pause(delay, stop):
        try:
            await step()
        except Exception as exc:  # the loop must outlive transient failures of its step
            status.failed(exc)
            delay = backoff.next()
        else:
            status.succeeded()
            backoff.reset()
            delay = interval_s


async def retrying(
    step: Callable[[Callable[[], None]], Awaitable[object]],
    what: str,
    backoff: Backoff,
    stop: asyncio.Event | None = None,
) -> None:
    """Keep a long-running `step` going: restarted after `backoff.next()` whenever it ends or fails.

    `step` is handed a `healthy()` to call once it works again (a watch: when
    its initial values are in); that resets the backoff and logs the recovery,
    so a flapping step backs off while a recovered one restarts quickly next time.
    """
    status = FailureLog(what)

    def healthy() -> None:
        status.succeeded()
        backoff.reset()

    while stop is None or not stop.is_set():
        try:
            await _until_stopped(step(healthy), stop)
        except Exception as exc:  # e.g. a watch broken by a NATS reconnect: start a fresh one
            status.failed(exc)
        if await _pause(backoff.next(), stop):
            return


async def _until_stopped(work: Awaitable[object], stop: asyncio.Event | None) -> None:
    """Await `work`; once `stop` is set, cancel it (and wait for it to finish)."""
    if stop is None:
        await work
        return
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()
