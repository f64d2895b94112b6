"""One benchmark step: N camera sessions for T seconds, read over SSE, counted against the stack.

Latency is taken where a user sees it: `capture_to_client` is the time an SSE
message arrives here minus its frame's capture `timestamp` (same host clock as
the ingest for the embedded stack); `capture_to_result` is the message's own
`latency_ms` (capture to the moment the stack built the message). Counts:
`offered` = frames the ingest published for the run, `processed` = frames the
detectors finished, both the change of the stack's counters (`/stream/stats`,
read before the sessions exist and after they are gone and the counters have
settled); `delivered` = detection messages received here. When the stack does
not report counters, `processed` falls back to `delivered` and `offered` to
cameras x fps x seconds, and the report says so (`counters: "client"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 20.0
SETTLE_INTERVAL_S = 2.5  # a little more than the default heartbeat interval
MAX_SSE_LINE = 1 << 20


class SessionRefused(RuntimeError):
    """The stack did not create a camera session (bad source, not allowed, full)."""


@dataclass
class Camera:
    sid: str
    token: str
    sse_path: str
    client_ms: list[tuple[float, float]] = field(default_factory=list)  # (arrival monotonic, ms)
    result_ms: list[float] = field(default_factory=list)
    delivered: int = 0
    errors: int = 0


@dataclass
class Counters:
    offered: int
    processed: int
    drops: dict[str, int]
    source: str  # "stack" or "client"


def source_body(url: str, fps: int, depth: bool) -> dict[str, Any]:
    kind = "rtsp" if url.startswith(("rtsp://", "rtsps://")) else "http" if url.startswith("http") else "file"
    return {"source": {"type": kind, "url": url, "loop": kind == "file"}, "fps_limit": fps, "enable_depth": depth}


async def open_camera(http: httpx.AsyncClient, url: str, fps: int, depth: bool) -> Camera:
    response = await http.post("/stream/sessions", json=source_body(url, fps, depth))
    if not response.is_success:
        raise SessionRefused(f"session not created ({response.status_code}): {response.text[:300]}")
    body = response.json()
    return Camera(body["client_id"], body["token"], body["sse_endpoint"])


async def close_camera(http: httpx.AsyncClient, camera: Camera) -> None:
    with contextlib.suppress(httpx.HTTPError):
        await http.delete(f"/stream/sessions/{camera.sid}", params={"token": camera.token})


def on_message(camera: Camera, data: str) -> None:
    arrived_wall, arrived = time.time(), time.monotonic()
    try:
        message = json.loads(data)
    except ValueError:
        return
    payload = message.get("data", message) if isinstance(message, dict) else {}
    if not isinstance(payload, dict) or message.get("type", "detection_result") != "detection_result":
        camera.errors += message.get("type") == "error" if isinstance(message, dict) else 0
        return
    camera.delivered += 1
    stamp = payload.get("timestamp")
    if isinstance(stamp, int | float):
        camera.client_ms.append((arrived, (arrived_wall - float(stamp)) * 1000))
    if isinstance(payload.get("latency_ms"), int | float):
        camera.result_ms.append(float(payload["latency_ms"]))


async def read_sse(http: httpx.AsyncClient, camera: Camera) -> None:
    """Count every detection message of `camera` until cancelled."""
    async with http.stream("GET", camera.sse_path, timeout=httpx.Timeout(10.0, read=None)) as response:
        data: list[str] = []
        async for line in response.aiter_lines():
            if len(line) > MAX_SSE_LINE:
                raise RuntimeError("SSE line too long")
            if line == "":
                if data:
                    on_message(camera, "\n".join(data))
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))


async def stack_stats(http: httpx.AsyncClient) -> dict[str, Any] | None:
    try:
        response = await http.get("/stream/stats")
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _counts(stats: dict[str, Any] | None) -> tuple[dict[str, int], dict[str, int]] | None:
    frames = (stats or {}).get("frames")
    if not isinstance(frames, dict) or not isinstance(frames.get("processed"), dict):
        return None
    processed = {str(k): int(v) for k, v in frames["processed"].items() if isinstance(v, int)}
    drops: dict[str, int] = {}
    for service, reasons in (frames.get("dropped") or {}).items():
        if isinstance(reasons, dict):
            for reason, n in reasons.items():
                if isinstance(n, int):
                    drops[f"{service}.{reason}"] = n
    results = (stats or {}).get("results")
    if isinstance(results, dict) and isinstance(results.get("skipped"), int):
        drops["gateway.skipped"] = results["skipped"]  # a client slower than its results: latest wins
    return processed, drops


async def settled_stats(http: httpx.AsyncClient) -> dict[str, Any] | None:
    """`/stream/stats` once the pipeline's counters stop moving (heartbeats lag the work)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    previous = await stack_stats(http)
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_INTERVAL_S)
        current = await stack_stats(http)
        if current is None or _counts(current) == _counts(previous):
            return current
        previous = current
    return previous


# Reasons that are the workload's design, not lost frames: the ingest sampling a source down to
# the session's fps, and the depth worker skipping frames of sessions without depth.
NOT_LOST = ("ingest.fps", "depth.depth_off")


def counters(before: dict[str, Any] | None, after: dict[str, Any] | None, nominal: int, delivered: int) -> Counters:
    a, b = _counts(before), _counts(after)
    if a is None or b is None or "detector" not in b[0]:
        return Counters(max(nominal, delivered), delivered, {}, "client")
    processed = b[0].get("detector", 0) - a[0].get("detector", 0)
    offered = b[0].get("ingest", 0) - a[0].get("ingest", 0)
    drops = {k: v - a[1].get(k, 0) for k, v in b[1].items() if v - a[1].get(k, 0) > 0 and k not in NOT_LOST}
    return Counters(offered, processed, drops, "stack")
