"""Gateway result streaming: (a) capture-to-client latency, (b) SSE fan-out capacity.

Everything is real and local: an embedded nats-server, `sightwire gateway`
(and, for (a), `sightwire worker detector|depth`) as separate processes, and
SSE clients speaking raw HTTP over sockets. The fan-out clients share the
machine with the gateway, so they must cost it little: each client process
holds many connections on uvloop, an `asyncio.Protocol` per connection finds
each result's capture timestamp by scanning the bytes (no line splitting, no
JSON parse), arrival times and lags go into flat arrays, and the processes run
SCHED_BATCH (see `batch_scheduling`). Each step reports the client processes'
CPU per message beside the gateway's CPU per delivery (user + system, and the
system part: mostly loopback TCP, which on one box the sender pays for the
receiver too), so a reader can see which side was the limit.

(a) `latency`: one session, a real COCO photo uploaded at 15 fps through
    `POST /stream/process` (with its capture timestamp), detector + depth
    workers, one SSE client. Latency = SSE arrival - capture time, per result.
(b) `fanout`: one session whose finished client messages (3 boxes each) are
    published straight to SCENE at 10 fps, as the scene stage writes them (a
    stand-in, so that inference and tracking do not compete for the CPU), and a
    ramp of SSE clients at fps_limit 10. Lag = SSE arrival - capture (= publish)
    time. The answer is the largest client count whose p99 lag stays under
    100 ms while every client still gets ~10 results/s. The ramp stops at the
    first step that misses, unless `--keep-going`.

    python -m benchmarks.gateway_fanout latency --seconds 20
    python -m benchmarks.gateway_fanout fanout --steps 250,500,1000,1500,2000 --keep-going
    python -m benchmarks.gateway_fanout compare --before-src ../old-checkout --log-dir /tmp/fanout
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import httpx
import numpy as np
import uvloop

from shared import subjects
from shared.envelopes import Box, Detections, now_ns
from shared.jetstream import provision
from shared.natsconn import connect, drain_quietly
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SIGHTWIRE_SHARED_DIR", REPO.parent / "shared"))
PHOTO = SHARED / "data" / "coco" / "000000000139.jpg"


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used (Linux /proc): what the gateway (or a
    client process) itself spent, a figure that a busy shared machine distorts far less than
    latency. System time is mostly the loopback TCP work of its socket writes or reads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def clients_cpu(procs: list[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """(user, system) CPU seconds used so far by the client processes that are still running."""
    user, system = 0.0, 0.0
    for proc in procs:
        with contextlib.suppress(OSError):
            times = cpu_times(proc.pid)
            user, system = user + times[0], system + times[1]
    return user, system


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


# ---------------------------------------------------------------- processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    base: str
    nats_url: str
    procs: list[subprocess.Popen[bytes]]


@contextlib.asynccontextmanager
async def stack(workers: tuple[str, ...], log_dir: Path, gateway_src: Path | None = None) -> AsyncIterator[Stack]:
    """nats-server in-process; gateway and workers as `sightwire` processes, stopped by pid.

    `gateway_src`: run the gateway from another checkout of the project (e.g. the code
    before a change), so that `compare` measures both in the same run."""
    async with EmbeddedNatsServer(log_dir / "nats") as server:
        nc = await connect(NatsSettings(nats_url=server.url), "bench")
        await provision(nc.jetstream(), NatsSettings(nats_url=server.url))
        await drain_quietly(nc, 5)
        port = free_port()
        env = {
            **os.environ,
            "SIGHTWIRE_NATS_URL": server.url,
            "SIGHTWIRE_MODEL_DIR": str(SHARED / "models"),
            "SIGHTWIRE_PORT": str(port),
            "SIGHTWIRE_LOG_LEVEL": "WARNING",
            "SIGHTWIRE_UPLOAD_RATE_PER_S": "100",
            "XDG_CACHE_HOME": str(log_dir / "cache"),
        }
        procs = []
        for args in (("gateway",), *(("worker", kind) for kind in workers)):
            log = (log_dir / f"{'-'.join(args)}.log").open("wb")
            command = [sys.executable, "-m", "shared.cli", *args]
            src = gateway_src if args == ("gateway",) and gateway_src else None
            proc_env = {**env, "PYTHONPATH": str(src)} if src else env
            procs.append(subprocess.Popen(command, env=proc_env, stderr=log, stdout=log, cwd=src))  # noqa: ASYNC220
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(base, needs_detector=bool(workers))
            yield Stack(base, server.url, procs)
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()


async def wait_ready(base: str, needs_detector: bool, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    path = "/stream/ready" if needs_detector else "/stream/health"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"gateway at {base} not ready")


async def create_session(base: str, **config: Any) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post("/stream/sessions", json=config)
        response.raise_for_status()
        body = response.json()
        return body["client_id"], body["token"]


# ---------------------------------------------------------------- SSE client


async def sse_lags(
    host: str,
    port: int,
    path: str,
    until: float,
    measure_from: float,
    lags: list[float],
    hub: list[float] | None = None,
) -> int:
    """One raw SSE connection; appends capture-to-arrival lags (ms) of results arriving in the window,
    and to `hub` the capture-to-gateway part (the message's own `latency_ms`, stamped by the hub)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    received = 0
    try:
        while True:
            remaining = until - time.time()
            if remaining <= 0:
                break
            try:
                line = await asyncio.wait_for(reader.readline(), remaining)
            except TimeoutError:
                break
            if not line:
                break
            if not line.startswith(b"data: {"):
                continue
            arrived = time.time_ns()
            body = json.loads(line[6:])
            if body.get("type") == "detection_result" and arrived / 1e9 >= measure_from:
                lags.append((arrived - body["data"]["timestamp"] * 1e9) / 1e6)
                if hub is not None:
                    hub.append(body["data"]["latency_ms"])
                received += 1
    finally:
        writer.close()
    return received


RESULT_MARK = b'{"type":"detection_result"'
TIMESTAMP_KEY = b'"timestamp":'
FRAME_END = b"\r\n\r\n"


class SseRecorder(asyncio.Protocol):
    """One SSE connection that only timestamps results: per detection result, its arrival time
    and capture-to-arrival lag, found by scanning the bytes for the capture `timestamp` (no JSON
    parse, no line splitting), so that a client costs far less per message than the gateway.

    The bytes are the gateway's chunked HTTP body; a frame split across reads is kept until its
    blank line arrives. Results are recognised by the message's own leading bytes, exactly as
    `scene_message` writes them (the gateway passes the published bytes through unchanged)."""

    def __init__(self, request: bytes, arrivals: array[float], lags: array[float]) -> None:
        self.request = request
        self.arrivals = arrivals
        self.lags = lags
        self.tail = b""
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        if self.tail:
            data, self.tail = self.tail + data, b""
        end = data.rfind(FRAME_END)
        if end < 0:
            self.tail = data
            return
        if end + 4 < len(data):
            self.tail = data[end + 4 :]
        at = data.find(RESULT_MARK, 0, end)
        while at >= 0:
            key = data.find(TIMESTAMP_KEY, at, end)
            if key < 0:
                break
            start = key + len(TIMESTAMP_KEY)
            stop = data.find(b",", start, end)
            self.arrivals.append(arrived)
            self.lags.append((arrived - float(data[start:stop])) * 1e3)
            at = data.find(RESULT_MARK, stop, end)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


def batch_scheduling() -> None:
    """SCHED_BATCH for this client process (Linux): a result the gateway writes no longer
    preempts the gateway mid-loop to wake this process for one socket; the clients run when the
    gateway yields and read many sockets per wakeup. On a shared 2-core box this keeps the
    context switches (CPU on both sides) out of what is measured; the lag still includes the
    wait for the CPU."""
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


async def open_recorder(recorder: SseRecorder, host: str, port: int) -> asyncio.BaseTransport:
    transport, _ = await asyncio.get_running_loop().create_connection(lambda: recorder, host, port)
    return transport


async def client_process_main(host: str, port: int, path: str, count: int) -> None:
    """`client` mode: `count` SSE connections (uvloop, `SseRecorder`) until SIGTERM; prints, per
    connection, its arrival times (s) and capture-to-arrival lags (ms) as JSON."""
    with contextlib.suppress(OSError, AttributeError):  # see batch_scheduling
        batch_scheduling()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
    recorders = [SseRecorder(request, array("d"), array("d")) for _ in range(count)]
    transports: list[asyncio.BaseTransport] = []
    failed = 0
    for batch in range(0, count, 100):  # a burst of thousands of SYNs would overflow the backlog
        opened = await asyncio.gather(
            *(open_recorder(r, host, port) for r in recorders[batch : batch + 100]),
            return_exceptions=True,
        )
        for item in opened:
            if isinstance(item, BaseException):
                failed += 1
            else:
                transports.append(item)
    await stop.wait()
    failed += sum(1 for r in recorders if r.lost.done() and r.lost.result() is not None)
    for transport in transports:
        transport.close()
    samples = [[r.arrivals.tolist(), r.lags.tolist()] for r in recorders]
    print(json.dumps({"samples": samples, "failed": failed}))


def spawn_clients(base: str, path: str, count: int) -> subprocess.Popen[bytes]:
    host_port = base.removeprefix("http://")
    args = [sys.executable, "-m", "benchmarks.gateway_fanout", "client", "--target", host_port, "--path", path]
    args += ["--count", str(count)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)


# ---------------------------------------------------------------- (a) latency


def photo_jpeg() -> bytes:
    photo = cv2.imread(str(PHOTO))
    assert photo is not None, PHOTO
    image = cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(buf.tobytes())


async def feed_frames(base: str, sid: str, token: str, fps: float, until: float) -> int:
    jpeg, sent = photo_jpeg(), 0
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        start = time.monotonic()
        while time.time() < until:
            await asyncio.sleep(max(0.0, start + sent / fps - time.monotonic()))
            url = f"/stream/process/{sid}?token={token}&timestamp={time.time():.6f}&frame_id=b{sent}"
            response = await client.post(url, content=jpeg, headers={"Content-Type": "image/jpeg"})
            response.raise_for_status()
            sent += 1
    return sent


async def latency(seconds: float, fps: float, depth: bool) -> dict[str, Any]:
    workers = ("detector", "depth", "scene") if depth else ("detector", "scene")
    with tempfile.TemporaryDirectory() as tmp:
        async with stack(workers, Path(tmp)) as s:
            sid, token = await create_session(s.base, fps_limit=30, enable_depth=depth, depth_fps=5)
            host, port = s.base.removeprefix("http://").split(":")
            warmup = time.time() + 3
            until = warmup + seconds
            lags: list[float] = []
            hub: list[float] = []
            path = f"/stream/events/{sid}?token={token}"
            reader = asyncio.create_task(sse_lags(host, int(port), path, until + 2, warmup, lags, hub))
            await asyncio.sleep(0.5)
            sent = await feed_frames(s.base, sid, token, fps, until)
            received = await reader
    return {
        "frames": sent,
        "results_measured": received,
        "fps": fps,
        "depth": depth,
        "capture_to_client_ms": percentiles(lags),
        "capture_to_gateway_ms": percentiles(hub),
        "gateway_to_client_ms": percentiles([a - b for a, b in zip(lags, hub, strict=True)]),
    }


# ---------------------------------------------------------------- (b) fan-out


def scene_message(seq: int, captured_at_ns: int) -> bytes:
    """A DESIGN.md section 4 message as the scene stage publishes it: 3 tracked people."""
    detections = [
        {"label": "person", "class_id": 0, "confidence": 0.9, "bbox": [64.0 * i, 96.0, 64.0 * i + 51.2, 432.0],
         "track_id": i + 1, "depth_rel": 0.42, "distance_m": 3.1, "distance_source": "size_prior"}
        for i in range(3)
    ]  # fmt: skip
    data = {
        "frame_id": str(seq), "seq": seq, "timestamp": captured_at_ns / 1e9, "width": 640, "height": 480,
        "detections": detections, "processing_time_ms": 9.0, "latency_ms": round((now_ns() - captured_at_ns) / 1e6, 1),
    }  # fmt: skip
    return json.dumps({"type": "detection_result", "data": data}, separators=(",", ":")).encode()


def results_message(sid: str, seq: int, captured_at_ns: int) -> bytes:
    """What a detector publishes to RESULTS (for a gateway from before the scene stage)."""
    t = captured_at_ns
    boxes = [Box(0.1 * i, 0.2, 0.1 * i + 0.08, 0.9, 0.9, 0, "person") for i in range(3)]
    det = Detections(
        sid=sid, seq=seq, captured_at_ns=t, started_at_ns=t, finished_at_ns=t + 9_000_000,
        worker="bench", model="fake", width=640, height=480, boxes=boxes,
    )  # fmt: skip
    return det.to_bytes()


async def fake_feed(nats_url: str, sid: str, fps: float, stop: asyncio.Event, feed: str = "scene") -> dict[str, int]:
    """Publish at `fps`, capture time = now: finished messages to SCENE (`feed="scene"`), or
    detector results to RESULTS (`"results"`). A failed publish is counted, not fatal."""
    nc = await connect(NatsSettings(nats_url=nats_url), "bench-feed")
    js = nc.jetstream()
    sent, failed, start = 0, 0, time.monotonic()
    try:
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + (sent + failed) / fps - time.monotonic()))
            t, seq = now_ns(), sent + failed + 1
            try:
                if feed == "scene":
                    headers = {"Nats-Msg-Id": subjects.scene_msg_id(sid, seq)}
                    await js.publish(subjects.scene(sid), scene_message(seq, t), headers=headers)
                else:
                    await js.publish(subjects.results(sid, subjects.ResultKind.DET), results_message(sid, seq, t))
                sent += 1
            except Exception:  # a slow broker on a loaded machine: count it and go on
                failed += 1
    finally:
        await drain_quietly(nc, 5)
    return {"sent": sent, "failed": failed}


async def session_streams(base: str, sid: str, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        stats = await client.get(f"/stream/sessions/{sid}/stats", headers={"Authorization": f"Bearer {token}"})
        streams: dict[str, Any] = stats.json().get("streams", {})
        return streams


async def fanout_step(
    s: Stack, clients: int, seconds: float, procs_per_step: int, feed: str = "scene"
) -> dict[str, Any]:
    """Connect `clients` (fps_limit 10), wait until all are in, measure `seconds`, disconnect."""
    sid, token = await create_session(s.base, fps_limit=10, enable_depth=False)
    path = f"/stream/events/{sid}?token={token}&fps_limit=10"
    stop = asyncio.Event()
    detector = asyncio.create_task(fake_feed(s.nats_url, sid, 10, stop, feed))
    share = [clients // procs_per_step + (1 if i < clients % procs_per_step else 0) for i in range(procs_per_step)]
    procs = [spawn_clients(s.base, path, n) for n in share if n]
    try:
        deadline = time.monotonic() + 30 + clients / 50
        while (await session_streams(s.base, sid, token)).get("clients", 0) < clients:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        before = await session_streams(s.base, sid, token)
        gateway0, clients0, start = cpu_times(s.procs[0].pid), clients_cpu(procs), time.time()
        await asyncio.sleep(seconds)
        end, gateway1, clients1 = time.time(), cpu_times(s.procs[0].pid), clients_cpu(procs)
        streams = await session_streams(s.base, sid, token)
        delivered = int(streams.get("delivered", 0)) - int(before.get("delivered", 0))
        for proc in procs:
            os.kill(proc.pid, signal.SIGTERM)
        lags: list[float] = []
        counts: list[int] = []
        failed = 0
        for proc in procs:
            out, _ = await asyncio.to_thread(proc.communicate, None, 120)
            body = json.loads(out or b'{"samples": [], "failed": 0}')
            failed += body["failed"]
            for arrivals, lags_ms in body["samples"]:
                window = [lag for arrived, lag in zip(arrivals, lags_ms, strict=True) if start <= arrived <= end]
                lags += window
                counts.append(len(window))
    finally:
        for proc in procs:  # a failed step leaves no client behind
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        stop.set()
        published = await detector
    expected = 10 * seconds
    gateway_cpu, gateway_sys = sum(gateway1) - sum(gateway0), gateway1[1] - gateway0[1]
    client_cpu, client_sys = sum(clients1) - sum(clients0), clients1[1] - clients0[1]
    window_s, received = end - start, sum(counts)
    return {
        "clients": clients,
        "published": published,
        "connected": streams.get("clients"),
        "failed": failed,
        "gateway_latency_ms": streams.get("latency_ms"),
        "lag_ms": percentiles(lags),
        "gateway_cpu_share": round(gateway_cpu / window_s, 3),
        "gateway_cpu_us_per_delivery": round(gateway_cpu / delivered * 1e6, 1) if delivered else None,
        "gateway_sys_us_per_delivery": round(gateway_sys / delivered * 1e6, 1) if delivered else None,
        "client_procs": len(procs),
        "client_cpu_share": round(client_cpu / window_s, 3),
        "client_cpu_us_per_message": round(client_cpu / received * 1e6, 1) if received else None,
        "client_sys_us_per_message": round(client_sys / received * 1e6, 1) if received else None,
        "results_per_client_s": round(float(np.mean(counts)) / seconds, 2) if counts else 0.0,
        "min_results_per_client_s": round(min(counts) / seconds, 2) if counts else 0.0,
        "complete": bool(counts) and min(counts) >= 0.9 * expected and failed == 0,
    }


async def fanout(steps: list[int], seconds: float, procs_per_step: int, keep_going: bool = False) -> dict[str, Any]:
    rows = []
    best = 0
    with tempfile.TemporaryDirectory() as tmp:
        async with stack((), Path(tmp)) as s:
            for clients in steps:
                row = await fanout_step(s, clients, seconds, procs_per_step)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if row["complete"] and row["lag_ms"]["p99"] < 100:
                    best = max(best, clients)
                elif not keep_going:
                    break
    return {"max_clients_p99_under_100ms": best, "steps": rows}


async def compare(
    steps: list[int], seconds: float, procs_per_step: int, before_src: Path, log_dir: Path, before_feed: str = "scene"
) -> dict[str, Any]:
    """The ramp on two gateways in one run: `before_src` (fed SCENE, or RESULTS for a gateway from
    before the scene stage: `before_feed`) and this checkout (fed SCENE). Steps alternate which goes
    first, so that both see the same background load as far as a shared machine allows."""
    rows: list[dict[str, Any]] = []
    best = {"before": 0, "after": 0}
    (log_dir / "before").mkdir(parents=True, exist_ok=True)
    (log_dir / "after").mkdir(parents=True, exist_ok=True)
    async with stack((), log_dir / "before", before_src) as old, stack((), log_dir / "after") as new:
        for i, clients in enumerate(steps):
            order = [("before", old, before_feed), ("after", new, "scene")]
            for label, s, feed in order if i % 2 == 0 else order[::-1]:
                try:
                    row = {"gateway": label, **await fanout_step(s, clients, seconds, procs_per_step, feed)}
                except (httpx.HTTPError, OSError) as exc:  # the gateway stopped answering: a failed step
                    row = {"gateway": label, "clients": clients, "complete": False, "error": repr(exc)}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    continue
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if row["complete"] and row["lag_ms"]["p99"] < 100:
                    best[label] = max(best[label], clients)
    return {"max_clients_p99_under_100ms": best, "steps": rows}


# ---------------------------------------------------------------- CLI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--seconds", type=float, default=20)
    lat.add_argument("--fps", type=float, default=15)
    lat.add_argument("--no-depth", action="store_true", help="detector only (depth off)")
    fan = sub.add_parser("fanout")
    fan.add_argument("--steps", default="50,100,200,400,800,1200,1600")
    fan.add_argument("--seconds", type=float, default=8)
    fan.add_argument("--client-procs", type=int, default=2)
    fan.add_argument("--keep-going", action="store_true", help="run every step, even after one missed")
    cmp = sub.add_parser("compare", help="the fan-out ramp on an older checkout and this one, interleaved")
    cmp.add_argument("--before-src", type=Path, required=True, help="checkout of the gateway to compare against")
    cmp.add_argument("--log-dir", type=Path, required=True)
    cmp.add_argument("--before-feed", choices=["scene", "results"], default="scene", help="results: pre-scene gateway")
    cmp.add_argument("--steps", default="250,500,1000,1500,2000")
    cmp.add_argument("--seconds", type=float, default=8)
    cmp.add_argument("--client-procs", type=int, default=2)
    cli = sub.add_parser("client")
    cli.add_argument("--target", required=True)
    cli.add_argument("--path", required=True)
    cli.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    if args.mode == "client":
        host, port = args.target.split(":")
        uvloop.run(client_process_main(host, int(port), args.path, args.count))
        return
    if args.mode == "latency":
        result = asyncio.run(latency(args.seconds, args.fps, not args.no_depth))
    elif args.mode == "compare":
        steps = [int(n) for n in args.steps.split(",")]
        result = asyncio.run(
            compare(steps, args.seconds, args.client_procs, args.before_src, args.log_dir, args.before_feed)
        )
    else:
        steps = [int(n) for n in args.steps.split(",")]
        result = asyncio.run(fanout(steps, args.seconds, args.client_procs, args.keep_going))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
