"""`sightwire bench`: arguments, one measured step, the `--find-capacity` ramp, the outputs.

A step opens N camera sessions (cycling over the sources), reads each one's
SSE stream for T seconds, closes them and turns what it saw plus the stack's
counters into one report. `--find-capacity` repeats steps on the same stack,
doubling the camera count while a step holds (p95 capture-to-client under the
bound and drops under the limit), then bisects between the last count that
held and the first that did not, and reports the largest that held.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from shared.bench import client, clip, procs, report, stack

log = logging.getLogger(__name__)

MAX_CAMERAS = 256
LATENCY_WARMUP_S = 2.0  # latency percentiles skip the first 2 s of a step (sources opening, first frames)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cameras", type=int, default=2, help="camera sessions (default 2)")
    p.add_argument("--fps", type=int, default=15, help="frames per second per camera, 1..30 (default 15)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step (default 30)")
    p.add_argument("--source", action="append", default=[], help="camera URL (rtsp/http/file); repeat; default: a clip")
    p.add_argument(
        "--photos", type=Path, help="build the clip from the .jpg photos in this folder (default: synthetic)"
    )
    p.add_argument("--size", default="640x480", help="clip size WxH (default 640x480)")
    p.add_argument("--no-depth", dest="depth", action="store_false", help="sessions without depth")
    p.add_argument("--url", help="a running gateway (default: start an embedded stack)")
    p.add_argument("--api-key", help="X-API-Key for --url")
    p.add_argument("--json", type=Path, default=Path("sightwire-bench.json"), help="report file")
    p.add_argument("--plot", type=Path, help="also draw latency and CPU over time into this PNG")
    p.add_argument("--find-capacity", action="store_true", help="ramp the camera count to the largest that holds")
    p.add_argument("--max-cameras", type=int, default=64, help="--find-capacity stops here (default 64)")
    p.add_argument("--p95-ms", type=float, default=150.0, help="capacity bound on p95 capture->client (150)")
    p.add_argument("--max-drop", type=float, default=0.01, help="capacity bound on the drop rate (0.01)")


def validate(args: argparse.Namespace) -> str | None:
    if not 1 <= args.cameras <= MAX_CAMERAS or not 1 <= args.max_cameras <= MAX_CAMERAS:
        return f"--cameras and --max-cameras must be 1..{MAX_CAMERAS}"
    if not 1 <= args.fps <= 30:
        return "--fps must be 1..30"
    if not 1 <= args.seconds <= 24 * 3600:
        return "--seconds must be at least 1"
    if args.url and not args.source:
        return "with --url give --source: the stack's ingest must be able to open the camera"
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        return "--size must be WxH"
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        return "--size out of range"
    return None


def size_of(args: argparse.Namespace) -> tuple[int, int]:
    w, h = (int(v) for v in args.size.lower().split("x"))
    return w, h


async def model_name(http: httpx.AsyncClient) -> str | None:
    try:
        models = (await http.get("/stream/models")).json().get("models", [])
        return next((m["model"] for m in models if m.get("kind") == "detector"), None)
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None


async def step(
    http: httpx.AsyncClient, args: argparse.Namespace, sources: list[str], cameras: int, root: int | None
) -> tuple[dict[str, Any], list[tuple[float, float]], procs.Sampler]:
    """Run one workload of `cameras` cameras; returns its report, latency timeline and CPU sampler."""
    before = await client.settled_stats(http)
    sampler = procs.Sampler(await asyncio.to_thread(procs.discover, root))
    sampler.start()
    opened = time.monotonic()
    cams: list[client.Camera] = []
    try:
        for i in range(cameras):
            cams.append(await client.open_camera(http, sources[i % len(sources)], args.fps, args.depth))
        await _watch(http, cams, sampler, opened + args.seconds)
    except client.SessionRefused as exc:
        raise stack.BenchError(str(exc)) from exc
    finally:
        elapsed = time.monotonic() - opened
        cpu = sampler.averages()
        for cam in cams:
            await client.close_camera(http, cam)
    after = await client.settled_stats(http)
    delivered = sum(c.delivered for c in cams)
    counts = client.counters(before, after, int(cameras * args.fps * elapsed), delivered)
    timeline = sorted((t - opened, ms) for c in cams for t, ms in c.client_ms)
    steady = [ms for t, ms in timeline if t >= LATENCY_WARMUP_S]
    result_ms = [ms for c in cams for ms in c.result_ms]
    out = {
        "machine": report.machine(),
        "workload": {
            "cameras": cameras,
            "fps": args.fps,
            "seconds": round(elapsed, 1),
            "model": await model_name(http),
            "depth": args.depth,
            "size": args.size,
            "source": "given" if args.source else ("photos" if args.photos else "synthetic clip"),
        },
        "latency_ms": {
            "capture_to_client": report.percentiles(steady),
            "capture_to_result": report.percentiles(result_ms),
        },
        "fps": {
            "offered": round(counts.offered / elapsed, 2),
            "processed": round(counts.processed / elapsed, 2),
            "delivered": round(delivered / elapsed, 2),
        },
        "frames": {"offered": counts.offered, "processed": counts.processed, "delivered": delivered},
        "drops": counts.drops,
        "drop_rate": round(1 - delivered / counts.offered, 4) if counts.offered else 0.0,
        "errors": sum(c.errors for c in cams),
        "counters": counts.source,
        "cpu_percent": cpu,
        "rss_mb": {role: round(mb, 1) for role, mb in sorted(sampler.rss_peak.items())},
    }
    out["consistency"] = report.check(out)
    return out, timeline, sampler


async def _watch(http: httpx.AsyncClient, cams: list[client.Camera], sampler: procs.Sampler, deadline: float) -> None:
    """Read every camera's SSE stream until `deadline`, sampling CPU once a second."""
    readers = [asyncio.create_task(client.read_sse(http, cam)) for cam in cams]
    try:
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(1.0, left))
            await asyncio.to_thread(sampler.sample)
            failed = [r for r in readers if r.done() and not r.cancelled() and r.exception() is not None]
            if failed:
                raise stack.BenchError(f"an SSE stream failed: {failed[0].exception()!r}")
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def holds(result: dict[str, Any], p95_ms: float, max_drop: float) -> bool:
    p95 = result["latency_ms"]["capture_to_client"]["p95"]
    return p95 is not None and p95 < p95_ms and result["drop_rate"] < max_drop


async def find_capacity(
    measure: Callable[[int], Awaitable[dict[str, Any]]], ok: Callable[[dict[str, Any]], bool], max_cameras: int
) -> tuple[int, list[dict[str, Any]]]:
    """Largest camera count whose step holds: double while holding, then bisect. Returns (count, steps)."""
    steps: list[dict[str, Any]] = []
    good, bad, n = 0, None, 1
    while n <= max_cameras:
        steps.append(await measure(n))
        if not ok(steps[-1]):
            bad = n
            break
        good = n
        n = max_cameras if n < max_cameras < 2 * n else 2 * n
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        steps.append(await measure(mid))
        good, bad = (mid, bad) if ok(steps[-1]) else (good, mid)
    return good, steps


async def run_async(args: argparse.Namespace) -> int:
    # SIGTERM cancels the run like Ctrl-C does, so the embedded stack is always stopped
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    with tempfile.TemporaryDirectory(prefix="sightwire-bench-") as tmp:
        work = Path(tmp)
        media = work / "media"
        sources = list(args.source)
        if not sources:
            path = await asyncio.to_thread(clip.write_clip, media / "bench.mp4", args.fps, size_of(args), args.photos)
            sources = [str(path)]
        headers = {"X-API-Key": args.api_key} if args.api_key else {}
        if args.url:
            target: Any = _given(args.url)
        else:
            target = stack.embedded(work, media, work / "stack.log")
        kinds = {"detector", "ingest"} | ({"depth"} if args.depth else set())
        async with target as running, httpx.AsyncClient(base_url=running.url, headers=headers, timeout=30.0) as http:
            try:
                await stack.wait_ready(http, running, kinds)
                return await _measure(http, args, sources, running)
            except stack.BenchError as exc:
                print(f"bench failed: {exc}")
                if running.process is not None:
                    print(_tail(work / "stack.log"))
                return 1


async def _measure(http: httpx.AsyncClient, args: argparse.Namespace, sources: list[str], running: stack.Stack) -> int:
    root = running.process.pid if running.process is not None else None
    timelines: dict[int, tuple[list[tuple[float, float]], procs.Sampler]] = {}

    async def measure(cameras: int) -> dict[str, Any]:
        result, latency, sampler = await step(http, args, sources, cameras, root)
        timelines[cameras] = (latency, sampler)
        print(report.table(result), flush=True)
        return result

    if args.find_capacity:
        cpus = report.machine()["cpus"] or 1
        best, steps = await find_capacity(measure, lambda r: holds(r, args.p95_ms, args.max_drop), args.max_cameras)
        final = dict(steps[-1])
        final |= {
            "capacity": {
                "cameras": best,
                "per_core": round(best / cpus, 2),
                "bounds": {"p95_capture_to_client_ms": args.p95_ms, "drop_rate": args.max_drop},
            },
            "steps": steps,
        }
        print(f"capacity: {best} cameras at {args.fps} fps ({best / cpus:.2f} per core)")
        shown = timelines.get(best) or timelines[final["workload"]["cameras"]]
    else:
        final = await measure(args.cameras)
        shown = timelines[args.cameras]
    problems = final["consistency"]
    args.json.write_text(json.dumps(final, indent=2) + "\n")
    print(f"report: {args.json}")
    if args.plot is not None:
        from shared.bench.plot import plot

        w = final["workload"]
        title = f"{w['cameras']} cameras x {w['fps']} fps, {w['model']}, depth {'on' if w['depth'] else 'off'}"
        await asyncio.to_thread(plot, args.plot, shown[0], shown[1].timeline, title)
        print(f"plot: {args.plot}")
    for problem in problems:
        print(f"inconsistent: {problem}")
    return 0


class _given:
    """A stack the user runs (`--url`): nothing to start or stop."""

    def __init__(self, url: str) -> None:
        self.stack = stack.Stack(url.rstrip("/"), None)

    async def __aenter__(self) -> stack.Stack:
        return self.stack

    async def __aexit__(self, *exc: object) -> None:
        return None


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def run(args: argparse.Namespace) -> int:
    problem = validate(args)
    if problem:
        print(f"sightwire bench: {problem}")
        return 2
    return asyncio.run(run_async(args))
