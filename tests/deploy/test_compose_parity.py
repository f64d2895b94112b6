"""Compose parity: compose.yaml's stack, run as local processes, carries frames end to end.

Everything comes from the resolved compose model: which services run, how many
replicas, their `sightwire` commands and their environment (credentials, API
key, stream replicas, log settings). NATS is a real nats-server started from
compose's own deploy/nats/nats.conf (auth on). Only what cannot be the same on
a test machine is replaced, and the test asserts that list:
- addresses: NATS URL -> the local server, gateway host -> 127.0.0.1, ports ->
  free loopback ports (several processes share one host here);
- paths: SIGHTWIRE_MODEL_DIR -> the reference models, the model pull cache and
  XDG_CACHE_HOME (the image's /var/cache) -> the test's tmp dir.
Then, through the gateway's public API with compose's API key:
- an uploaded JPEG comes back through the scene stage as a detection_result
  over SSE ("stop sign", with the scene stage's track and distance fields) and
  as detections and a depth map on RESULTS;
- a file camera session is picked up by ingest and its frames come back over SSE;
- a camera that cannot be opened, and a stale frame, are counted;
- every sightwire_* metric the Grafana dashboard queries is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared import subjects
from shared.envelopes import DepthMap, Detections, Frame, now_ns
from shared.natsconn import connect, drain_quietly
from shared.settings import NatsSettings
from tests.deploy.manifests import REPO
from tests.deploy.natsproc import RunningNats, compose_nats
from tests.support.clips import coco_photos, write_clip
from tests.support.net import free_port
from tests.support.procs import ComponentRunner

SERVICES = ("gateway", "ingest", "detector", "depth", "scene", "notifier")
LOCAL_ONLY = {  # the SIGHTWIRE_* variables this test may change, and why (see the module docstring)
    "SIGHTWIRE_NATS_URL",
    "SIGHTWIRE_HOST",
    "SIGHTWIRE_PORT",
    "SIGHTWIRE_METRICS_PORT",
    "SIGHTWIRE_MODEL_DIR",
    "SIGHTWIRE_MODEL_CACHE_DIR",
}
STOP_SIGN = "000000000724.jpg"  # MODELS.md / issue 2: comes back as "stop sign"
CLIP = "clip.mp4"
CLIP_SIZE = (320, 240)
STARTUP_S = 90.0
RESULT_S = 30.0

Guard = Callable[[], None]


def local_env(service: dict[str, Any], server: RunningNats, model_dir: Path, cache: Path) -> dict[str, str]:
    compose_env = dict(service.get("environment") or {})
    env = dict(compose_env)
    env["SIGHTWIRE_NATS_URL"] = server.url
    if "SIGHTWIRE_HOST" in env:
        env["SIGHTWIRE_HOST"] = "127.0.0.1"
    for key in ("SIGHTWIRE_PORT", "SIGHTWIRE_METRICS_PORT"):
        if key in env:
            env[key] = str(free_port())
    if "SIGHTWIRE_MODEL_DIR" in env:
        env["SIGHTWIRE_MODEL_DIR"] = str(model_dir)
    if "SIGHTWIRE_MODEL_CACHE_DIR" in env:
        env["SIGHTWIRE_MODEL_CACHE_DIR"] = str(cache)
    changed = {k for k, v in env.items() if v != compose_env.get(k)}
    assert changed <= LOCAL_ONLY, f"parity broken: {changed - LOCAL_ONLY}"
    return env


def all_running(runner: ComponentRunner) -> Guard:
    """A guard that fails at once, with the log, when any component process has exited."""

    def guard() -> None:
        for proc in runner.procs:
            assert proc.poll() is None, f"{proc.args!r} exited with {proc.returncode}:\n{runner.log_of(proc)[-3000:]}"

    return guard


def stop_together(runner: ComponentRunner, timeout_s: float = 15.0) -> dict[str, int]:
    """One SIGTERM to every component at once (as `docker compose stop`), then wait; SIGKILL after `timeout_s`."""
    for proc in runner.procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    exits = {}
    for proc in runner.procs:
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            runner.kill(proc)
            code = proc.wait()
        exits[f"{proc.args!r} (pid {proc.pid})"] = code
    return exits


async def until(check: Callable[[], Awaitable[Any]], deadline_s: float, what: str, guard: Guard) -> Any:
    """Poll `check` until it returns something truthy; fail after `deadline_s` or as soon as `guard` does."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        guard()
        try:
            last = await check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def sse_events(client: httpx.AsyncClient, url: str) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs from a text/event-stream response."""
    async with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200, await response.aread()
        event, data = "message", list[str]()
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())


async def read_results(client: httpx.AsyncClient, url: str, out: asyncio.Queue[dict[str, Any]]) -> None:
    """Keep an SSE client attached (so the gateway has client series) and queue its results."""
    async for event, data in sse_events(client, url):
        # The result type is in the JSON; the SSE event name may be unset (EventSource.onmessage).
        body = json.loads(data) if data.startswith("{") else {}
        if event == "detection_result" or body.get("type") == "detection_result":
            await out.put(body)


def sample_names(exposition: str) -> set[str]:
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in exposition.splitlines() if line and line[0] != "#"}


def dashboard_metrics() -> set[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "sightwire.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return {m for e in exprs for m in re.findall(r"\bsightwire_[a-z0-9_]+", e)}


@dataclass
class Stack:
    """The running compose stack as its clients see it."""

    http: httpx.AsyncClient
    services: dict[str, Any]
    envs: dict[str, list[dict[str, str]]]
    server: RunningNats
    guard: Guard

    async def wait(self, check: Callable[[], Awaitable[Any]], what: str, deadline_s: float = RESULT_S) -> Any:
        return await until(check, deadline_s, what, self.guard)

    async def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        api_key = self.services["gateway"]["environment"]["SIGHTWIRE_API_KEY"]
        created = await self.http.post("/stream/sessions", json=body, headers={"X-API-Key": api_key})
        assert created.status_code == 201, created.text
        return created.json()

    async def nats(self) -> NATS:
        """A client with the credentials compose gives the services."""
        env = self.envs["detector"][0]
        settings = NatsSettings(
            nats_url=self.server.url,
            nats_user=env["SIGHTWIRE_NATS_USER"],
            nats_password=env["SIGHTWIRE_NATS_PASSWORD"],
        )
        return await connect(settings, "parity-test")

    async def component_metrics(self, *needles: str) -> str:
        """Ingest and worker metrics concatenated, once every needle appears in them."""
        text = ""
        async with httpx.AsyncClient(timeout=5) as client:
            for name in ("ingest", "detector", "depth", "scene", "notifier"):
                for env in self.envs[name]:
                    text += (await client.get(f"http://127.0.0.1:{env['SIGHTWIRE_METRICS_PORT']}/metrics")).text
        return text if all(n in text for n in needles) else ""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ComponentRunner]:
    """Processes get compose's environment only: no SIGHTWIRE_* leaks in from the test's own."""
    for key in [k for k in os.environ if k.startswith("SIGHTWIRE_")]:
        monkeypatch.delenv(key)
    processes = ComponentRunner(base_env={"XDG_CACHE_HOME": str(tmp_path / "xdg")}, log_dir=tmp_path / "logs")
    yield processes
    processes.stop_all()


async def test_compose_stack_carries_frames_end_to_end(
    compose: dict[str, Any], runner: ComponentRunner, tmp_path: Path, model_dir: Path, coco_dir: Path
) -> None:
    services = compose["services"]
    media = tmp_path / "xdg" / "sightwire" / "media"  # ingest's default file-source root under XDG_CACHE_HOME
    media.mkdir(parents=True)
    assert write_clip(media / CLIP, coco_photos(coco_dir), size=CLIP_SIZE, frames_per_photo=5) > 0
    async with compose_nats(tmp_path / "nats", services["nats"]["environment"]) as server:
        envs: dict[str, list[dict[str, str]]] = {}
        for name in SERVICES:
            replicas = int((services[name].get("deploy") or {}).get("replicas") or 1)
            envs[name] = [local_env(services[name], server, model_dir, tmp_path / "models") for _ in range(replicas)]
            for i, env in enumerate(envs[name]):
                runner.start(*services[name]["command"], env=env, name=f"{name}-{i}")
        base = f"http://127.0.0.1:{envs['gateway'][0]['SIGHTWIRE_PORT']}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                stack = Stack(http, services, envs, server, all_running(runner))
                await wait_until_up(stack)
                gateway_metrics = await check_upload_path(stack, coco_dir)
                await check_camera_path(stack)
                component_metrics = await check_drops_are_counted(stack, coco_dir)
            all_running(runner)()
        except BaseException:
            for proc in runner.procs:
                print(f"---- {proc.args!r} (exit {proc.poll()})\n{runner.log_of(proc)[-3000:]}")
            raise
        finally:
            # Components stop before their broker (compose stops dependents first), all at once.
            exits = await asyncio.to_thread(stop_together, runner)
        # SIGTERM (docker stop) is a clean, ordered shutdown for every component.
        assert all(code == 0 for code in exits.values()), exits
    # Every sightwire_* series the Grafana dashboard queries is really served.
    missing = sorted(dashboard_metrics() - sample_names(gateway_metrics) - sample_names(component_metrics))
    assert not missing, f"dashboard queries metrics nobody serves: {missing}"


async def wait_until_up(stack: Stack) -> None:
    """Readiness (the k8s readinessProbe path) and a heartbeat from every process compose runs."""

    async def ready() -> bool:
        return (await stack.http.get("/stream/ready")).status_code == 200

    await stack.wait(ready, "GET /stream/ready", STARTUP_S)
    assert (await stack.http.get("/stream/health")).status_code == 200

    async def everyone() -> bool:
        alive = (await stack.http.get("/stream/stats")).json()["workers"]
        return all(alive.get(name) == len(stack.envs[name]) for name in ("ingest", "detector", "depth", "scene"))

    await stack.wait(everyone, "heartbeats from ingest, both detector and scene replicas and depth", STARTUP_S)
    # compose's API key guards session creation.
    assert (await stack.http.post("/stream/sessions", json={})).status_code == 401


async def check_upload_path(stack: Stack, coco_dir: Path) -> str:
    """Upload -> FRAMES -> detector + depth -> RESULTS -> SSE. Returns /metrics taken with a client attached."""
    session = await stack.create_session({})
    sid, token = session["client_id"], session["token"]
    nc = await stack.nats()
    sse_results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sse = asyncio.create_task(read_results(stack.http, session["sse_endpoint"], sse_results))
    try:
        results: asyncio.Queue[Msg] = asyncio.Queue()
        await nc.subscribe(subjects.session_results(sid), cb=results.put)
        jpeg = (coco_dir / STOP_SIGN).read_bytes()
        result: dict[str, Any] | None = None
        async with asyncio.timeout(RESULT_S):
            while result is None:  # upload until the SSE client sees a result: no guessing when it is live
                assert not sse.done(), sse
                upload = await stack.http.post(
                    session["upload_endpoint"],
                    content=jpeg,
                    headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}"},
                )
                assert upload.status_code == 202, upload.text
                with contextlib.suppress(TimeoutError):
                    result = await asyncio.wait_for(sse_results.get(), 1.0)
        assert "stop sign" in {d["label"] for d in result["data"]["detections"]}, result
        assert all({"track_id", "distance_m", "distance_source"} <= set(d) for d in result["data"]["detections"])
        kinds = await collect_results(results, {"det", "depth"})
        assert Detections.from_bytes(kinds["det"].data).boxes
        depth = DepthMap.from_bytes(kinds["depth"].data)
        assert depth.grid_w > 0 and depth.grid_h > 0
        return (await stack.http.get("/metrics")).text
    finally:
        sse.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sse
        await drain_quietly(nc, 5)


async def check_camera_path(stack: Stack) -> None:
    """A file camera: ingest claims it and its frames come back over SSE; a missing file is a source failure."""
    session = await stack.create_session({"source": {"type": "file", "url": CLIP, "loop": True}})
    sse_results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sse = asyncio.create_task(read_results(stack.http, session["sse_endpoint"], sse_results))
    try:

        async def result() -> dict[str, Any] | None:
            assert not sse.done(), sse
            return None if sse_results.empty() else sse_results.get_nowait()

        first = await stack.wait(result, "a detection_result from the file camera")
        assert (first["data"]["width"], first["data"]["height"]) == CLIP_SIZE
    finally:
        sse.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sse
    await stack.create_session({"source": {"type": "file", "url": "missing.mp4"}})


async def check_drops_are_counted(stack: Stack, coco_dir: Path) -> str:
    """A stale frame is acked and counted, not processed. Returns the components' metrics."""
    sid = "parity-stale"
    stale = Frame(
        sid=sid, seq=1, captured_at_ns=now_ns() - 60 * 10**9, ingested_at_ns=now_ns(),
        width=8, height=8, source="test", jpeg=(coco_dir / STOP_SIGN).read_bytes(), max_age_ms=1000,
    )  # fmt: skip
    nc = await stack.nats()
    try:
        await nc.jetstream().publish(subjects.frames(sid), stale.to_bytes())
    finally:
        await drain_quietly(nc, 5)
    needles = ('reason="stale"', 'event="source_failure"', "sightwire_ingest_frames_published_total")

    async def scraped() -> str:
        return await stack.component_metrics(*needles)

    return await stack.wait(scraped, f"{needles} in the ingest and worker metrics")


async def collect_results(queue: asyncio.Queue[Msg], wanted: set[str]) -> dict[str, Msg]:
    found: dict[str, Msg] = {}
    async with asyncio.timeout(RESULT_S):
        while not wanted <= set(found):
            msg = await queue.get()
            found.setdefault(msg.subject.rsplit(".", 1)[-1], msg)
    return found
