"""The stack a benchmark runs against: its own `sightwire up`, or a gateway URL the user gives.

The embedded stack is a child `sightwire up` on a free local port with its
own NATS store and the clip's folder as the only file-source root; everything
else (models, hints, replicas) comes from the user's environment, so the bench
measures the configuration the user would run. It is ready when
`/stream/ready` says so and every worker kind the workload needs has sent a
heartbeat (seen in `/stream/stats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """The benchmark cannot run (stack not ready, bad arguments)."""


@dataclass
class Stack:
    url: str
    process: subprocess.Popen[bytes] | None  # None: a stack we did not start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "shared.cli", "up", "--host", "127.0.0.1", "--port", str(port)]


@contextlib.asynccontextmanager
async def embedded(work: Path, media: Path, log_path: Path) -> AsyncIterator[Stack]:
    """A fresh `sightwire up` with `media` as the file-source root; stopped (SIGTERM, then kill) on exit."""
    port = free_port()
    env = {
        **os.environ,
        "SIGHTWIRE_NATS_STORE_DIR": str(work / "nats"),
        "SIGHTWIRE_FILE_SOURCE_ROOTS": str(media),
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.to_thread(_spawn, _up_argv(port), env, log_path)
    try:
        yield Stack(f"http://127.0.0.1:{port}", process)
    finally:
        await asyncio.to_thread(stop, process)


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def wait_ready(
    http: httpx.AsyncClient, stack: Stack, kinds: set[str], timeout_s: float = READY_TIMEOUT_S
) -> None:
    """Until `/stream/ready` is 200 and `/stream/stats` lists a heartbeat from each kind in `kinds`."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if stack.process is not None and stack.process.poll() is not None:
            raise BenchError(f"the stack exited with code {stack.process.returncode} before it was ready")
        try:
            ready = await http.get("/stream/ready")
            if ready.status_code == 200:
                seen = set((await http.get("/stream/stats")).json().get("frames", {}).get("processed", {}))
                if kinds <= seen:
                    return
                last = f"waiting for heartbeats of {sorted(kinds - seen)}"
            else:
                last = ready.text[:300]
        except (httpx.HTTPError, ValueError) as exc:
            last = repr(exc)
        await asyncio.sleep(0.5)
    raise BenchError(f"stack not ready after {timeout_s:.0f} s: {last}")
