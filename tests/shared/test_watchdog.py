"""The event-loop watchdog: a stuck loop ends the process with a stack dump; a turning one never does."""

from __future__ import annotations

import subprocess
import sys

# The loop runs for 3 s under a 1 s guard, either turning (awaiting) or stuck in a blocking call.
SCRIPT = """
import asyncio, sys, time
from shared.watchdog import guard_event_loop

async def main(stuck: bool) -> None:
    guard = asyncio.create_task(guard_event_loop(1.0))
    await asyncio.sleep(0.2)
    if stuck:
        time.sleep(3)  # the loop cannot turn
    else:
        await asyncio.sleep(3)
    guard.cancel()
    print("finished", flush=True)

asyncio.run(main(sys.argv[1] == "stuck"))
"""


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=30)


def test_a_stuck_loop_dumps_its_stacks_and_exits_1() -> None:
    result = run("stuck")
    assert result.returncode == 1
    assert "finished" not in result.stdout
    assert "Timeout (0:00:01)!" in result.stderr
    assert 'File "<string>", line 9 in main' in result.stderr  # the blocking line: time.sleep(3)


def test_a_turning_loop_runs_to_the_end() -> None:
    result = run("turning")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "finished"
