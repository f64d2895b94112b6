"""Run real `sightwire` component processes in tests and stop them by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ComponentRunner:
    base_env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, env: dict[str, str] | None = None, name: str | None = None) -> subprocess.Popen[bytes]:
        """Start `python -m shared.cli *args`; its stderr goes to a log file in the test's tmp dir."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        label = name or "-".join(args)
        log_path = self.log_dir / f"{label}-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", *args],
            env={**os.environ, **self.base_env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_path.open("wb"),
        )
        proc.log_path = log_path  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    @staticmethod
    def log_of(proc: subprocess.Popen[bytes]) -> str:
        return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    @staticmethod
    def log_with_stacks(proc: subprocess.Popen[bytes], tail: int = 6000) -> str:
        """The log's tail after asking a live process for its thread stacks (SIGUSR1 -> faulthandler)."""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(1.0)
        return ComponentRunner.log_of(proc)[-tail:]

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> int:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                return proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        return proc.wait()

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: the crash case, nothing gets to clean up."""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
