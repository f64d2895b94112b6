"""Runs the services of `sightwire up` as child processes and stops them in order.

Each component is its own process (as in a cluster), started with the same
`sightwire <component>` command a container runs. A child that dies is
restarted with backoff; one that crash-loops (N exits in M seconds) brings the
whole stack down with an error rather than flapping forever. Shutdown order:
gateway and ingest first (stop intake), then the workers (finish in-flight
acks), then the broker, each with SIGTERM and a bounded wait before SIGKILL.

The embedded broker is supervised like the components (issue 13: a killed
nats-server used to go unnoticed). Its child has a `spawn` function instead
of an argv: `EmbeddedNatsServer.restart`, which starts it again on the same
store and port, so the components' reconnect loop finds it where it was.
A child already running when the supervisor starts (the broker, started
first to learn its port) is watched, not spawned again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared import console
from shared.processes import terminate

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    argv: list[str]
    stage: int  # shutdown stage: lower stops first
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    exits: deque[float] = field(default_factory=lambda: deque(maxlen=8))
    spawn: Callable[[], Awaitable[asyncio.subprocess.Process]] | None = None  # instead of argv
    restarts: int = 0
    last_error: str = ""  # the newest error its stderr reported (shared/console.py)
    relay: asyncio.Task[None] | None = None

    def remember(self, error: str) -> None:
        self.last_error = error


class CrashLoop(RuntimeError):
    pass


def component_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", *args]


class Supervisor:
    def __init__(self, children: list[Child], max_restarts: int = 5, window_s: float = 60.0) -> None:
        self.children = children
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.stopping = asyncio.Event()

    async def _spawn(self, child: Child) -> None:
        if child.spawn is not None:  # the embedded broker: it reads its own log
            child.proc = await child.spawn()
        else:
            child.proc = await asyncio.create_subprocess_exec(
                *child.argv, env=child.env, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            assert child.proc.stderr is not None
            child.relay = asyncio.create_task(
                console.relay(child.proc.stderr, child.remember), name=f"relay-{child.name}"
            )
        log.info("started", extra={"component": child.name, "pid": child.proc.pid, "restarts": child.restarts})

    async def _run_once(self, child: Child) -> int | str:
        """Start the child unless it runs already, and wait for its exit code (or why it did not start)."""
        if child.proc is None or child.proc.returncode is not None:
            try:
                await self._spawn(child)
            except Exception as exc:  # e.g. the broker's port taken meanwhile: count it as an exit
                child.proc = None
                return f"failed to start: {exc}"
        assert child.proc is not None
        return await child.proc.wait()

    async def _watch(self, child: Child) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            code = await self._run_once(child)
            if self.stopping.is_set():
                return
            now = time.monotonic()
            child.exits.append(now)
            recent = [t for t in child.exits if now - t < self.window_s]
            log.error("component exited", extra={"component": child.name, "code": code, "recent_exits": len(recent)})
            if len(recent) > self.max_restarts:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(child.relay), 2.0) if child.relay else None
                last = child.last_error or f"exit code {code}"
                raise CrashLoop(f"{child.name} exited {len(recent)} times in {self.window_s:.0f}s; last error: {last}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self.stopping.wait()
            backoff = min(backoff * 2, 10.0)
            child.restarts += 1
            child.proc = None

    async def run(self) -> None:
        """Run until `stopping` is set or a child crash-loops; then stop all in order."""
        try:
            async with asyncio.TaskGroup() as tg:
                for child in self.children:
                    tg.create_task(self._watch(child), name=f"watch-{child.name}")
                tg.create_task(self._stop_when_asked(), name="stopper")
        finally:
            await self.stop_all()

    async def _stop_when_asked(self) -> None:
        await self.stopping.wait()
        await self.stop_all()

    async def stop_all(self, timeout_s: float = 10.0) -> None:
        self.stopping.set()
        for stage in sorted({c.stage for c in self.children}):
            batch = [c for c in self.children if c.stage == stage]
            await asyncio.gather(*(_terminate(c, timeout_s) for c in batch))


async def _terminate(child: Child, timeout_s: float) -> None:
    proc = child.proc
    if proc is None or proc.returncode is not None:
        return
    code = await terminate(proc, timeout_s)
    log.info("stopped", extra={"component": child.name, "pid": proc.pid, "code": code})
