"""`sightwire bench` end to end: its own embedded stack, real models, a generated clip, SSE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import ComponentRunner

RUN_TIMEOUT_S = 600


@pytest.fixture
def runner(model_dir: Path, tmp_path: Path) -> Any:
    procs = ComponentRunner(
        base_env={"SIGHTWIRE_MODEL_DIR": str(model_dir), "XDG_CACHE_HOME": str(tmp_path / "cache")},
        log_dir=tmp_path / "logs",
    )
    yield procs
    procs.stop_all()


def run_bench(runner: ComponentRunner, *args: str) -> None:
    proc = runner.start("bench", *args, name="bench")
    try:
        code = proc.wait(RUN_TIMEOUT_S)
    except Exception:
        runner.stop(proc, timeout_s=60)
        raise
    assert code == 0, runner.log_of(proc)[-6000:]


def assert_consistent(report: dict[str, Any]) -> None:
    frames, fps = report["frames"], report["fps"]
    assert report["consistency"] == []
    assert report["counters"] == "stack"
    assert 0 < frames["delivered"] <= frames["processed"] <= frames["offered"], frames
    assert 0 < fps["delivered"] <= fps["processed"] <= fps["offered"], fps
    for name in ("capture_to_client", "capture_to_result"):
        p = report["latency_ms"][name]
        assert p["n"] > 0 and 0 < p["p50"] <= p["p95"] <= p["p99"] <= p["max"], (name, p)
    assert 0 <= report["drop_rate"] < 1
    assert report["machine"]["cpus"] >= 1 and report["machine"]["openvino"]


def test_bench_two_cameras_writes_a_consistent_report(runner: ComponentRunner, tmp_path: Path) -> None:
    out, png = tmp_path / "report.json", tmp_path / "bench.png"
    run_bench(runner, "--seconds", "10", "--cameras", "2", "--json", str(out), "--plot", str(png))
    report = json.loads(out.read_text())
    assert report["workload"]["cameras"] == 2 and report["workload"]["model"] == "yolox_nano"
    assert report["workload"]["depth"] is True
    assert_consistent(report)
    # two cameras at 15 fps for about 10 s: the stack really was fed
    assert report["frames"]["offered"] >= 2 * 15 * 5
    for component in ("gateway", "ingest", "detector", "depth", "nats", "up", "bench"):
        assert report["rss_mb"][component] > 0, component
    assert report["cpu_percent"]["detector"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_find_capacity_ramps_and_reports_the_largest_count_that_held(runner: ComponentRunner, tmp_path: Path) -> None:
    # The cheap stand-in workload: small frames, few of them, no depth; a latency bound loose enough
    # that 1 and 2 cameras hold on a loaded CI box, and a cap of 2 cameras.
    out = tmp_path / "capacity.json"
    run_bench(
        runner,
        *("--find-capacity", "--max-cameras", "2", "--p95-ms", "30000", "--max-drop", "0.9"),
        *("--no-depth", "--fps", "4", "--seconds", "4", "--size", "320x240", "--json", str(out)),
    )
    report = json.loads(out.read_text())
    assert [s["workload"]["cameras"] for s in report["steps"]] == [1, 2]
    assert report["capacity"]["cameras"] == 2
    assert report["capacity"]["per_core"] == round(2 / report["machine"]["cpus"], 2)
    for step in report["steps"]:
        assert step["workload"]["depth"] is False
        assert_consistent(step)
