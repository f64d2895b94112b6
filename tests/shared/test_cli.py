"""The `sightwire` command line: configuration check and in-place stack dumps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.support.procs import ComponentRunner


def check_config(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "check-config"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_prints_every_component_with_secrets_masked() -> None:
    result = check_config(SIGHTWIRE_NATS_PASSWORD="hunter2-secret", SIGHTWIRE_API_KEY="key-do-not-print")
    assert result.returncode == 0, result.stderr
    for component in ("[ingest]", "[worker]", "[gateway]", "[up]"):
        assert component in result.stdout
    assert "nats_password = **********" in result.stdout
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "key-do-not-print" not in result.stdout + result.stderr


def test_check_config_names_the_invalid_setting_and_fails() -> None:
    result = check_config(SIGHTWIRE_HEARTBEAT_INTERVAL_S="0")
    assert result.returncode == 1
    assert "[worker] INVALID" in result.stderr and "heartbeat_interval_s" in result.stderr


def wait_for_line(proc: subprocess.Popen[bytes], text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = ComponentRunner.log_of(proc)
        if text in log:
            return log
        assert proc.poll() is None, log[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged in {timeout_s}s:\n{ComponentRunner.log_of(proc)[-3000:]}")


def test_sigusr1_dumps_every_thread_and_the_component_keeps_running(components: ComponentRunner) -> None:
    proc = components.start("ingest")
    wait_for_line(proc, "ingest ready", 60)
    os.kill(proc.pid, signal.SIGUSR1)
    # faulthandler writes the header first and the frames after it: wait for the main thread's own.
    log = wait_for_line(proc, "in run_until_signal", 10)
    assert "Current thread" in log and "shared/cli.py" in log
    assert proc.poll() is None, "SIGUSR1 must not stop the component"
    assert components.stop(proc) == 0
