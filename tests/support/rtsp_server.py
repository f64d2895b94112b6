"""A real RTSP camera (GStreamer's RTSP server) that tests can kill and bring back.

The server runs in Debian's /usr/bin/python3 (the venv has no `gi`), as its
own process, so a test can SIGKILL it like a camera losing power and then
`start()` it again on the same port, as a rebooted camera would come back.
Readiness is the server's own `READY <port>` line, read with a deadline; a
port still held by the dying process is retried until the deadline.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_gst_server.py")


class RtspServer:
    """`start(port=0)` -> port; `kill()` (SIGKILL) or `stop()` (SIGTERM) by pid; `start(port)` again."""

    def __init__(self, frames_pattern: str, fps: int = 10, mount: str = "/cam", log_path: Path | None = None) -> None:
        self.frames_pattern = frames_pattern
        self.fps = fps
        self.mount = mount
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, credentials: str = "") -> str:
        auth = f"{credentials}@" if credentials else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}{self.mount}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, port: int | None = None, timeout_s: float = 20.0) -> int:
        """Start listening on `port` (default: the previous port, else a free one)."""
        wanted = self.port if port is None else port
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._spawn(wanted, deadline)
            if line.startswith("READY"):
                self.port = int(line.split()[1])
                return self.port
            self.kill()
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start on port {wanted}: {line!r}")
            time.sleep(0.1)  # the old process's port is still being released: retry until the deadline

    def _spawn(self, port: int, deadline: float) -> str:
        argv = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(port), "--frames", self.frames_pattern]
        argv += ["--fps", str(self.fps), "--mount", self.mount]
        if self.log_path is None:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        else:
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            if not ready:
                return "TIMEOUT"
            chunk = os.read(fd, 256)
            if not chunk:
                return f"EXITED {self.proc.wait()}"
            buf += chunk
        return buf.decode(errors="replace").strip()

    def kill(self) -> None:
        """SIGKILL: the camera loses power."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self._reap()

    def _reap(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
