"""Last resort against a process that is alive but stuck: exit so that it gets restarted.

A component whose event loop stops turning (a deadlock in a native library
holding the GIL, an accidental blocking call) still holds its TCP connection,
its leases look fresh until they expire, and nothing restarts it. The guard
re-arms `faulthandler.dump_traceback_later(exit=True)` from the loop; that
timer lives in a C thread that needs no GIL, so when the loop has not run for
`timeout_s` the process writes every thread's stack to stderr and exits with
status 1. `sightwire up`'s supervisor and Kubernetes then restart it, and
JetStream redelivers the frames it had not acknowledged.
"""

from __future__ import annotations

import asyncio
import faulthandler

REARMS_PER_TIMEOUT = 4


async def guard_event_loop(timeout_s: float) -> None:
    """Run until cancelled; 0 disables the guard."""
    if timeout_s <= 0:
        return
    try:
        while True:
            faulthandler.dump_traceback_later(timeout_s, exit=True)
            await asyncio.sleep(timeout_s / REARMS_PER_TIMEOUT)
    finally:
        faulthandler.cancel_dump_traceback_later()
