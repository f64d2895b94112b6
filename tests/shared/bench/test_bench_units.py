"""The parts of `sightwire bench` that need no stack: the ramp, the counters, the report checks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2

from shared.bench import cli, client, clip, procs, report


async def test_capacity_ramp_doubles_then_bisects_to_the_largest_count_that_holds() -> None:
    measured: list[int] = []

    async def measure(n: int) -> dict[str, Any]:
        measured.append(n)
        return {"n": n}

    best, steps = await cli.find_capacity(measure, lambda r: r["n"] <= 5, max_cameras=64)
    assert best == 5
    assert measured == [1, 2, 4, 8, 6, 5]
    assert [s["n"] for s in steps] == measured


async def test_capacity_ramp_stops_at_the_cap_and_at_zero() -> None:
    async def measure(n: int) -> dict[str, Any]:
        return {"n": n}

    assert (await cli.find_capacity(measure, lambda r: True, max_cameras=3))[0] == 3
    assert (await cli.find_capacity(measure, lambda r: False, max_cameras=3))[0] == 0


def step_result(p95: float | None, drop_rate: float) -> dict[str, Any]:
    return {"latency_ms": {"capture_to_client": {"p95": p95}}, "drop_rate": drop_rate}


def test_a_step_holds_only_under_both_bounds() -> None:
    assert cli.holds(step_result(100.0, 0.0), 150.0, 0.01)
    assert not cli.holds(step_result(151.0, 0.0), 150.0, 0.01)
    assert not cli.holds(step_result(100.0, 0.02), 150.0, 0.01)
    assert not cli.holds(step_result(None, 0.0), 150.0, 0.01)  # nothing delivered is not a pass


def stats(ingest: int, detector: int, drops: dict[str, dict[str, int]], skipped: int = 0) -> dict[str, Any]:
    return {
        "frames": {"processed": {"ingest": ingest, "detector": detector, "depth": 3}, "dropped": drops},
        "results": {"delivered": 0, "skipped": skipped},
    }


def test_counters_are_the_change_of_the_stack_counters_minus_designed_skips() -> None:
    before = stats(10, 8, {"detector": {"stale": 1}, "ingest": {"fps": 5}})
    after = stats(110, 100, {"detector": {"stale": 4}, "ingest": {"fps": 90}, "depth": {"depth_off": 7}}, skipped=2)
    counts = client.counters(before, after, nominal=120, delivered=95)
    assert (counts.offered, counts.processed, counts.source) == (100, 92, "stack")
    assert counts.drops == {"detector.stale": 3, "gateway.skipped": 2}


def test_counters_fall_back_to_the_client_side_when_the_stack_reports_none() -> None:
    counts = client.counters(None, {"frames": "?"}, nominal=120, delivered=95)
    assert (counts.offered, counts.processed, counts.source) == (120, 95, "client")


def test_sse_messages_are_counted_with_capture_to_client_latency() -> None:
    camera = client.Camera("s", "t", "/x")
    client.on_message(camera, '{"type": "detection_result", "data": {"timestamp": 1.0, "latency_ms": 12.5}}')
    client.on_message(camera, '{"type": "error", "error": "x"}')
    client.on_message(camera, "not json")
    assert camera.delivered == 1 and camera.errors == 1 and camera.result_ms == [12.5]
    assert camera.client_ms[0][1] > 1e9  # now - 1970: the arithmetic, not a real latency


def test_report_check_catches_disorder() -> None:
    good = {
        "frames": {"offered": 10, "processed": 9, "delivered": 9},
        "latency_ms": {"a": report.percentiles([1.0, 2.0, 3.0, 50.0]), "b": report.percentiles([])},
    }
    assert report.check(good) == []
    bad = {**good, "frames": {"offered": 10, "processed": 11, "delivered": 9}}
    assert report.check(bad) and "out of order" in report.check(bad)[0]


def test_roles_come_from_command_lines() -> None:
    py = "/venv/bin/python"
    assert procs.role_of([py, "-m", "shared.cli", "worker", "detector"]) == "detector"
    assert procs.role_of([py, "-m", "shared.cli", "gateway"]) == "gateway"
    assert procs.role_of(["/x/nats-server", "-js"]) == "nats"
    assert procs.role_of([py, "-m", "pytest"]) is None


def test_clip_is_written_at_the_asked_size(tmp_path: Path, coco_dir: Path) -> None:
    for photos in (None, coco_dir):
        path = clip.write_clip(tmp_path / f"{photos is None}.mp4", 5, (320, 240), photos)
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        assert ok and frame.shape == (240, 320, 3) and count == clip.SECONDS * 5


def test_arguments_are_validated() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.validate(parser.parse_args([])) is None
    assert cli.validate(parser.parse_args(["--fps", "0"]))
    assert cli.validate(parser.parse_args(["--url", "http://127.0.0.1:1"]))  # a remote stack needs --source
    assert cli.validate(parser.parse_args(["--size", "big"]))
