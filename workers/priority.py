"""A worker's CPU priority (Unix nice): depth yields the CPU to the detector on a shared box.

On one machine the detector and the depth worker compete for the same cores. The
detector sees every frame and its boxes must keep up with the picture; depth is
sampled (`depth_fps`) and only the freshest map matters. At equal priority a
depth inference that holds every core delays the detector's frames behind it
(15 fps, detector + depth, 2 cores: capture-to-client p50 96 ms; with depth at
nice 15, 52 ms). So the depth worker lowers its own priority at start-up,
before OpenVINO starts its threads; on Kubernetes, where each worker has its
own CPU request, it changes nothing that matters.

Linux keeps a nice value per thread and a new thread inherits its creator's, so
the calling thread is lowered first and every thread already running is
lowered by its id (`/proc/self/task`). Raising a nice value needs no privilege.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TASKS = Path("/proc/self/task")


def lower_priority(nice: int) -> int:
    """Raise this process's nice value to at least `nice` (never lower it); the value in effect."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice <= current:
        return current
    os.nice(nice - current)  # the calling thread (on Linux), so every thread it starts from now on
    for task in TASKS.glob("*") if TASKS.is_dir() else ():
        try:
            tid = int(task.name)
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except (ValueError, ProcessLookupError, PermissionError):
            continue  # a thread that ended meanwhile
    log.info("cpu priority lowered", extra={"nice": nice})
    return os.getpriority(os.PRIO_PROCESS, 0)
