"""`sightwire up` as a child process for fault tests: start, read its log, find its children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port


@dataclass
class UpStack:
    proc: subprocess.Popen[bytes]
    base: str
    log_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines

    def wait_log(self, message: str, timeout_s: float, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log_lines():
                if line.get("msg") == message and all(line.get(k) == v for k, v in fields.items()):
                    return line
            assert self.proc.poll() is None, "sightwire up exited"
            time.sleep(0.2)
        raise AssertionError(f"no log line {message!r} {fields} within {timeout_s} s")

    def children(self) -> dict[int, str]:
        """pid -> command line of each direct child."""
        found: dict[int, str] = {}
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            for pid in (task / "children").read_text().split():
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found[int(pid)] = cmd
        return found

    def child_pid(self, needle: str) -> int:
        pids = [pid for pid, cmd in self.children().items() if needle in cmd]
        assert len(pids) == 1, self.children()
        return pids[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)


def start_up(tmp_path: Path, model_dir: Path, extra_env: dict[str, str] | None = None) -> UpStack:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SIGHTWIRE_NATS_URL"}
    env |= {
        "SIGHTWIRE_MODEL_DIR": str(model_dir),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "SIGHTWIRE_LOG_JSON": "true",
        **(extra_env or {}),
    }
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "up", "--port", str(port)], env=env, stderr=log, stdout=log
        )
    return UpStack(proc, f"http://127.0.0.1:{port}", log_path)


def wait_ready(stack: UpStack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert stack.proc.poll() is None, stack.log_path.read_text()[-3000:]
        try:
            if httpx.get(f"{stack.base}/stream/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("stack never became ready")
