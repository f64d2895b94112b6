"""Worker CPU priority: the depth worker runs every thread at `depth_nice`, the detector at its own.

The real `sightwire worker depth|detector` processes on a real nats-server, read from
`/proc/<pid>/task/*/stat` (field 19 is the nice value) once they beat; and
`lower_priority` in a fresh interpreter, for threads started before and after it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from tests.support.pipeline import start_workers
from tests.support.procs import ComponentRunner


def thread_nices(pid: int) -> set[int]:
    nices = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        nices.add(int(fields[16]))  # field 19 of stat; fields[0] here is field 3 (state)
    return nices


async def test_the_depth_worker_yields_the_cpu_and_the_detector_does_not(
    components: ComponentRunner, js: JetStreamContext, nc: NATS
) -> None:
    await start_workers(components, nc, ("detector", "depth"))
    detector, depth = components.procs
    assert thread_nices(depth.pid) == {10}  # every thread, OpenVINO's included
    assert thread_nices(detector.pid) == {0}


def test_lower_priority_reaches_threads_started_before_and_after_and_never_raises_it() -> None:
    script = """
import threading, time, os
from workers.priority import lower_priority
stop = threading.Event()
before = threading.Thread(target=stop.wait); before.start()
assert lower_priority(7) == 7
assert lower_priority(3) == 7  # never back up
after = threading.Thread(target=stop.wait); after.start()
time.sleep(0.1)
print(sorted({os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir('/proc/self/task')}))
stop.set()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[7]", out.stderr
