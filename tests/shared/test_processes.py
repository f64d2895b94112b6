"""`terminate`: a polite SIGTERM first, SIGKILL for a child that ignores it, and idempotent."""

from __future__ import annotations

import asyncio
import signal
import sys

from shared.processes import terminate

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)
EXITS_ON_SIGTERM = "import time; print('ready', flush=True); time.sleep(60)"


async def started(code: str) -> asyncio.subprocess.Process:
    """A child that has printed 'ready' (its signal handling is in place)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        assert await proc.stdout.readline() == b"ready\n"
    return proc


async def test_sigterm_is_enough_for_a_cooperative_child() -> None:
    proc = await started(EXITS_ON_SIGTERM)
    assert await terminate(proc, timeout_s=30) == -signal.SIGTERM


async def test_a_child_ignoring_sigterm_is_killed_after_the_timeout() -> None:
    proc = await started(IGNORES_SIGTERM)
    assert await terminate(proc, timeout_s=0.2) == -signal.SIGKILL


async def test_an_exited_child_keeps_its_exit_code() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(3)")
    async with asyncio.timeout(30):
        await proc.wait()
    assert await terminate(proc, timeout_s=1) == 3
    assert await terminate(proc, timeout_s=1) == 3
