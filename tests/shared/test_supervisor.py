"""The `sightwire up` supervisor: restarts crashed children, gives up on a crash loop,
and stops stages in order."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from shared.supervisor import Child, CrashLoop, Supervisor


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_crash_loop_stops_the_stack() -> None:
    crasher = Child("crasher", py("raise SystemExit(3)"), stage=0, env=dict(os.environ))
    sleeper = Child("sleeper", py("import time; time.sleep(60)"), stage=1, env=dict(os.environ))
    supervisor = Supervisor([crasher, sleeper], max_restarts=2, window_s=30)
    with pytest.raises(ExceptionGroup) as info:
        async with asyncio.timeout(30):
            await supervisor.run()
    assert info.group_contains(CrashLoop)
    assert sleeper.proc is not None and sleeper.proc.returncode is not None


async def test_stop_terminates_stages_in_order(tmp_path: Path) -> None:
    order = tmp_path / "order"
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        f"    open({str(order)!r}, 'a').write(sys.argv[1] + '\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        f"open({str(tmp_path)!r} + '/ready-' + sys.argv[1], 'w').close()\n"
        "time.sleep(60)\n"
    )
    children = [
        Child(name, [sys.executable, "-c", code, name], stage=stage, env=dict(os.environ))
        for name, stage in (("worker", 1), ("gateway", 0))
    ]
    supervisor = Supervisor(children)
    run = asyncio.create_task(supervisor.run())
    async with asyncio.timeout(20):
        while not all((tmp_path / f"ready-{c.name}").exists() for c in children):  # handlers installed
            await asyncio.sleep(0.05)
        supervisor.stopping.set()
        await run
    assert order.read_text().split() == ["gateway", "worker"]
