"""Thread pools whose threads all exist before the first frame arrives.

`ThreadPoolExecutor` starts its threads lazily, inside `submit`, and
`Thread.start()` blocks its caller until the new thread runs, which needs the
GIL. Called from the event loop, that wait ties the loop to whatever else holds
the GIL. (We first saw a worker's loop stuck there for good; the cause was the
OpenVINO first-call deadlock described in engine.py, but a loop that never
waits on thread start-up is easier to reason about.) Starting every thread up
front, off the loop, keeps thread creation out of the frame path.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

START_TIMEOUT_S = 30.0


def prestarted_pool(size: int, name: str) -> ThreadPoolExecutor:
    """A pool of exactly `size` running threads (blocking: call it off the event loop)."""
    pool = ThreadPoolExecutor(size, thread_name_prefix=name)
    barrier = threading.Barrier(size)
    # Each task holds its thread until all `size` tasks run at once, so the pool must
    # have started `size` distinct threads.
    started = [pool.submit(barrier.wait, START_TIMEOUT_S) for _ in range(size)]
    wait(started, timeout=START_TIMEOUT_S)
    for future in started:
        future.result(timeout=0)  # a broken barrier raises here, at start-up, not mid-stream
    return pool
