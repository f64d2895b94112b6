"""Pools start every thread up front, so no frame ever waits on a thread being created."""

from __future__ import annotations

import threading

from workers.threads import prestarted_pool


def test_every_thread_is_running_before_the_first_job() -> None:
    before = threading.active_count()
    pool = prestarted_pool(4, "t")
    try:
        assert threading.active_count() - before == 4
        names = {pool.submit(lambda: threading.current_thread().name).result(timeout=5) for _ in range(20)}
        assert names <= {t.name for t in threading.enumerate() if t.name.startswith("t_")}
        assert threading.active_count() - before == 4  # jobs reuse the started threads
    finally:
        pool.shutdown(wait=True)
