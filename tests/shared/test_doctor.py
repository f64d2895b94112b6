"""`sightwire doctor`: every check in one line, and a fix beside each failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from shared import doctor
from tests.support.net import free_port


def run_doctor(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTWIRE_")}
    env |= {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}
    return subprocess.run([sys.executable, "-m", "shared.cli", "doctor", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def test_a_ready_machine_passes_every_check(tmp_path: Path) -> None:
    port = free_port()
    done = run_doctor(tmp_path, "--port", str(port))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith("OK") for line in lines[:-1]), done.stdout
    assert lines[2] == f"OK   UI port 127.0.0.1:{port}: free"
    names = [line[5:].split(":")[0] for line in lines[:-1]]
    assert names[:2] == ["python", "nats-server"] and names[3] == "WebRTC host address"
    assert names[4:8] == ["OpenVINO", "detector device", "depth device", "compiled-model cache"]
    assert any("detector model yolox_nano" in line and "(verified)" in line for line in lines)
    assert any("depth model pydnet" in line and "(verified)" in line for line in lines)
    assert lines[-1].endswith("checks passed") and "Traceback" not in done.stderr


def test_failures_say_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_doctor(tmp_path, "--port", str(port), SIGHTWIRE_DEVICE="GPU", SIGHTWIRE_DETECTOR_MODEL="yolov8n")
    assert done.returncode == 1, done.stdout
    out = done.stdout
    assert f"FAIL UI port 127.0.0.1:{port}: cannot listen" in out and "set SIGHTWIRE_PORT" in out
    assert "FAIL detector device: SIGHTWIRE_DEVICE=GPU: OpenVINO sees no GPU" in out
    assert "FAIL depth device: SIGHTWIRE_DEVICE=GPU" in out and "set SIGHTWIRE_DEVICE to one of CPU" in out
    assert "FAIL detector model yolov8n: not found" in out and "sightwire models add PATH --name yolov8n" in out


def test_webrtc_check_accepts_pinned_addresses_and_fails_on_loopback_only() -> None:
    assert doctor.webrtc(["127.0.0.1"]).ok
    check = doctor.Check("WebRTC host address", False, "only loopback interfaces", "set X")
    assert check.line() == "FAIL WebRTC host address: only loopback interfaces\n       fix: set X"
