"""The JSON report and the terminal table of `sightwire bench` (DESIGN §10)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    p50, p95, p99 = (float(np.percentile(values, q)) for q in (50, 95, 99))
    return {
        "p50": round(p50, 1),
        "p95": round(p95, 1),
        "p99": round(p99, 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    try:
        openvino = importlib.metadata.version("openvino")
    except importlib.metadata.PackageNotFoundError:
        openvino = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "openvino": openvino,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def check(report: dict[str, Any]) -> list[str]:
    """What is internally inconsistent in a step's report (empty: nothing)."""
    problems = []
    f = report["frames"]
    if not f["delivered"] <= f["processed"] <= f["offered"]:
        problems.append(
            f"counts out of order: delivered {f['delivered']}, processed {f['processed']}, offered {f['offered']}"
        )
    for name, p in report["latency_ms"].items():
        if p["n"] and not p["p50"] <= p["p95"] <= p["p99"] <= p["max"]:
            problems.append(f"{name} percentiles out of order: {p}")
    return problems


def table(report: dict[str, Any]) -> str:
    w, m = report["workload"], report["machine"]
    c2c, c2r = report["latency_ms"]["capture_to_client"], report["latency_ms"]["capture_to_result"]
    fps, f = report["fps"], report["frames"]
    lines = [
        f"sightwire bench | {m['cpus']} CPUs {m['cpu_model']} | OpenVINO {m['openvino']} | load {m['load_avg']}",
        f"workload: {w['cameras']} cameras x {w['fps']} fps x {w['seconds']} s, {w['size']}, model {w['model']},"
        f" depth {'on' if w['depth'] else 'off'}, source {w['source']}",
        f"{'latency ms':<22}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'n':>7}",
    ]
    for name, p in (("capture -> client", c2c), ("capture -> result", c2r)):
        lines.append(f"{name:<22}" + "".join(f"{_num(p[k]):>8}" for k in ("p50", "p95", "p99", "max")) + f"{p['n']:>7}")
    lines.append(
        f"frames/s offered {fps['offered']:.1f}  processed {fps['processed']:.1f}  delivered {fps['delivered']:.1f}"
        f"  (frames {f['offered']}/{f['processed']}/{f['delivered']}, counters: {report['counters']})"
    )
    lines.append(f"drop rate {report['drop_rate']:.2%}  drops {report['drops'] or '{}'}")
    lines.append(f"{'component':<12}{'CPU %':>8}{'RSS MB':>9}")
    for role in sorted(set(report["cpu_percent"]) | set(report["rss_mb"])):
        lines.append(f"{role:<12}{report['cpu_percent'].get(role, 0):>8.1f}{report['rss_mb'].get(role, 0):>9.0f}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
