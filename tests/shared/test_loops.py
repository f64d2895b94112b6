"""The loop helpers: bounded backoff, `every` (interval, backoff on errors, one log per state change), `retrying`."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import pytest

from shared.loops import Backoff, every, retrying


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


async def test_every_keeps_running_through_errors_and_logs_each_state_change_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes = [True, False, False, False, True, True]  # False: the step fails
    calls: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def step() -> None:
        calls.append(loop.time())
        ok = outcomes[len(calls) - 1]
        if len(calls) == len(outcomes):
            stop.set()
        if not ok:
            raise ConnectionError("broker away")

    with caplog.at_level(logging.INFO, logger="shared.loops"):
        await asyncio.wait_for(every(0.01, step, "sweep", stop, Backoff(0.05, 0.1)), 5)
    assert len(calls) == len(outcomes)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert messages == ["sweep failed; retrying", "sweep recovered"]
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[1] >= 0.045 and gaps[2] >= 0.095 and gaps[3] >= 0.095  # backed off: 0.05, 0.1, 0.1 (capped)
    assert gaps[4] < 0.05  # healthy again: back to the interval


async def test_every_stops_promptly_when_told() -> None:
    stop = asyncio.Event()
    ran: list[int] = []

    async def step() -> None:
        ran.append(1)

    task = asyncio.create_task(every(30, step, "slow", stop))
    await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert ran == []


async def test_retrying_restarts_a_broken_step_and_resets_the_backoff_once_healthy() -> None:
    backoff = Backoff(0.01, 1.0)
    starts: list[int] = []
    stop = asyncio.Event()

    async def watch(healthy: Callable[[], None]) -> None:
        starts.append(len(starts))
        if len(starts) == 3:
            healthy()
        if len(starts) == 4:
            stop.set()
            return
        raise ConnectionError("watch broke")

    await asyncio.wait_for(retrying(watch, "watch", backoff, stop), 5)
    assert len(starts) == 4
    assert backoff.next() == 0.04  # reset by the healthy third run (0.01, 0.02 since); else 0.16


async def test_retrying_stops_a_running_step_when_told() -> None:
    stop = asyncio.Event()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def watch(healthy: Callable[[], None]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)  # a healthy watch never ends by itself
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(retrying(watch, "watch", Backoff(0.01, 0.01), stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert cancelled.is_set()
