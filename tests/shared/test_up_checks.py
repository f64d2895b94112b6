"""`sightwire up` explains itself: a missing model stops it before anything starts (one line, exit 2),
and a component that crash-loops ends it with one line naming the component and its last error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.net import free_port


def up_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTWIRE_")}
    return env | {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                  "XDG_DATA_HOME": str(tmp_path / "data"), "SIGHTWIRE_PORT": str(free_port()), **extra}  # fmt: skip


def test_missing_model_exits_2_with_one_line_and_starts_nothing(tmp_path: Path) -> None:
    env = up_env(tmp_path, SIGHTWIRE_DETECTOR_MODEL="yolov8n")  # a bring-your-own spec whose file is absent
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "shared.cli", "up"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    print(f"\nup with a missing model: exit {done.returncode} after {time.monotonic() - started:.1f} s")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    line = lines[0]
    assert line.startswith("sightwire up: detector model 'yolov8n': yolov8n.onnx not found in ")
    assert "SIGHTWIRE_MODEL_DIR (unset)" in line and str(tmp_path / "cache") in line
    assert "sightwire models add PATH --name yolov8n" in line and "SIGHTWIRE_MODEL_DIR" in line
    assert not (tmp_path / "cache" / "sightwire" / "nats").exists()  # no broker was started


def test_unknown_model_and_absent_device_each_get_their_line(tmp_path: Path) -> None:
    env = up_env(tmp_path, SIGHTWIRE_DEPTH_MODEL="nosuch", SIGHTWIRE_DEVICE="NPU", SIGHTWIRE_DEPTH_DEVICE="GPU,NPU")
    done = subprocess.run([sys.executable, "-m", "shared.cli", "up"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    assert "depth model: unknown model 'nosuch'" in lines[0] and "sightwire models add" in lines[0]
    assert lines[1] == "sightwire up: SIGHTWIRE_DEVICE=NPU: OpenVINO sees no NPU on this machine; available: CPU"
    assert (
        lines[2]
        == "sightwire up: SIGHTWIRE_DEPTH_DEVICE=GPU,NPU: OpenVINO sees no GPU or NPU on this machine; available: CPU"
    )


def test_crash_loop_ends_in_one_line_with_the_last_error(tmp_path: Path) -> None:
    """Ingest refuses its configuration on every start: `up` gives up with that reason, no traceback."""
    env = up_env(tmp_path, SIGHTWIRE_WEBRTC_MAX_SIDE="1", SIGHTWIRE_LOG_JSON="true")
    done = subprocess.run([sys.executable, "-m", "shared.cli", "up"], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("sightwire up: stopped: ingest exited 6 times in 60s; last error: invalid configuration:")
    assert "SIGHTWIRE_WEBRTC_MAX_SIDE" in last
