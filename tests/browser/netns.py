"""Run browser tests inside a fresh network namespace that has only `lo`.

WebRTC gathers candidates on every interface the machine has and Chromium
would offer them all; only an empty namespace guarantees that no media or
STUN packet goes anywhere but 127.0.0.1. So a browser test that finds itself
in the normal namespace re-executes itself: a child pytest, started under
`unshare --net` (plus `--map-root-user` when not root) after `ip link set lo
up`, runs the same test ids; nats-server, the components and Chromium are its
descendants and inherit the namespace. The child writes its test reports as
JSON lines (pytest's own report serialisation) and the parent replays them,
so the outcome, the captured output and the durations look as if the test
had run in the parent. If `.ci/run` already runs pytest in such a namespace,
nothing is re-executed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from _pytest.reports import TestReport

REPORT_ENV = "SIGHTWIRE_NETNS_REPORT"
CHILD_TIMEOUT_S = 600


def interfaces() -> list[str]:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines]


def isolated() -> bool:
    """True in a network namespace whose only interface is the loopback."""
    return interfaces() == ["lo"]


def unshare_argv(argv: list[str]) -> list[str]:
    """`argv` in a new network namespace with the loopback up."""
    userns = [] if os.geteuid() == 0 else ["--map-root-user"]
    script = "ip link set lo up && exec " + shlex.join(argv)
    return ["unshare", "--net", *userns, "--", "sh", "-c", script]


def child_argv(config: pytest.Config, nodeids: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN", *nodeids]
    if config.getoption("capture") == "no":
        argv.append("-s")
    return argv


def run_isolated(config: pytest.Config, nodeids: list[str]) -> tuple[dict[str, list[TestReport]], str]:
    """Run `nodeids` in a child pytest in a fresh namespace; its reports by node id, and its output."""
    with tempfile.TemporaryDirectory(prefix="sightwire-netns-") as tmp:
        report_path = Path(tmp) / "reports.jsonl"
        output = _run_child(config, nodeids, {**os.environ, REPORT_ENV: str(report_path)})
        reports: dict[str, list[TestReport]] = {}
        if report_path.exists():
            for line in report_path.read_text().splitlines():
                report = config.hook.pytest_report_from_serializable(config=config, data=json.loads(line))
                if isinstance(report, TestReport):
                    reports.setdefault(report.nodeid, []).append(report)
        return reports, output


def _run_child(config: pytest.Config, nodeids: list[str], env: dict[str, str]) -> str:
    """The child's output (empty with `-s`, where it goes straight to the terminal).

    The child leads its own process group: if it overruns, the group (its
    servers and browsers included) is killed, and nothing else.
    """
    passthrough = config.getoption("capture") == "no"
    proc = subprocess.Popen(
        unshare_argv(child_argv(config, nodeids)),
        cwd=config.rootpath,
        env=env,
        stdout=None if passthrough else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out = (out or b"") + f"\n[killed after {CHILD_TIMEOUT_S} s]".encode()
    return (out or b"").decode(errors="replace")


def write_report(config: pytest.Config, report: TestReport) -> None:
    """Child side: append one report, serialised by pytest itself."""
    path = os.environ.get(REPORT_ENV)
    if path:
        data: Any = config.hook.pytest_report_to_serializable(config=config, report=report)
        with open(path, "a") as out:
            out.write(json.dumps(data) + "\n")


def missing_report(item: pytest.Item, output: str) -> TestReport:
    """A failed report for a test the child never reported (it crashed, or the namespace failed)."""
    return TestReport(
        nodeid=item.nodeid,
        location=item.location,
        keywords={k: 1 for k in item.keywords},
        outcome="failed",
        longrepr=f"no report from the isolated run; its output:\n{output[-8000:]}",
        when="call",
    )
