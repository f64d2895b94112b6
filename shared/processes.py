"""Stopping a child process: SIGTERM, a bounded wait, then SIGKILL.

The embedded nats-server and every `sightwire up` component are stopped the
same way, so a child gets the same chance to shut down cleanly (drain, flush
acks) and the same guarantee that stopping never hangs. Idempotent: a process
that already exited is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

log = logging.getLogger(__name__)


async def terminate(proc: asyncio.subprocess.Process, timeout_s: float) -> int | None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL and wait; returns the exit code."""
    if proc.returncode is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(timeout_s):
            return await proc.wait()
    except TimeoutError:
        log.warning("process did not stop in time; killing", extra={"pid": proc.pid})
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    return await proc.wait()
