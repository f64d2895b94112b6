"""Camera video over WebRTC in real Chromium (DESIGN §9), fed by the GStreamer RTSP test camera.

One stack, one camera, phases in order (the stack is the expensive part, so
they share it; each phase asserts on its own):
1. three wall-display viewers (`/?session=&token=&align=1`) of one RTSP
   session: every video element decodes frames (getStats framesDecoded over
   5 s), boxes are drawn, and the owner's heartbeat shows one encoder for the
   three viewers;
2. alignment: the camera shows a zebra that jumps between the left and the
   right half every second; on sampled animation frames the overlay's box and
   the picture's zebra must be on the same side;
3. kill -9 the ingest that owns the camera: every viewer reconnects to the new
   owner within the lease TTL plus a few seconds;
4. a browser where UDP is blocked (ICE fails) opens the camera URL from the
   form: the page falls back to the MJPEG preview and says so.
Measurements (glass-to-glass, alignment, ingest CPU) are printed, not asserted
against thresholds (the machine is shared).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from playwright.async_api import Browser, Page

from shared.envelopes import Heartbeat
from shared.settings import NatsSettings
from tests.browser.helpers import labels_seen, report_latency, wait_for
from tests.browser.stack import Stack, start_stack
from tests.support.browser import chromium
from tests.support.procs import ComponentRunner
from tests.support.rtsp_server import RtspServer

FPS = 25
SIZE = (320, 240)
ZEBRA = "000000001818.jpg"
# The test's namespace has only `lo`; a page that never opened a camera hides its host candidates behind mDNS
# names, which nothing resolves in an empty namespace (a real network has mDNS, STUN or TURN for that).
LOOPBACK = ("--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns")
# The camera sends 25 fps. That the video runs at the camera's rate rather than the analysis rate is shown
# as a same-run ratio in tests/ingest/video/test_owner.py; here the browser must play it live on a 2-core machine
# that also runs Chromium x3, the detector and the encoder: 19-25 fps measured, bounded low for loaded runs.
MIN_VIDEO_FPS = 12.0
MIN_ALIGNED_FPS = 3.0  # moving, not frozen (see phase_three_viewers)
ANALYSIS_FPS = 12
VIEWERS = 3
# Per animation frame: the side of the stage the drawn zebra box is on, and the side of the picture the zebra is on
# (the half that differs most from the grey background), from the <video> element as displayed.
SAMPLE_SIDES = """async (ms) => {
  const video = document.getElementById("video");
  const overlay = document.getElementById("overlay");
  const probe = document.createElement("canvas");
  probe.width = 32; probe.height = 24;
  const ctx = probe.getContext("2d", { willReadFrequently: true });
  const out = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await new Promise((r) => requestAnimationFrame(r));
    ctx.drawImage(video, 0, 0, 32, 24);
    const px = ctx.getImageData(0, 0, 32, 24).data;
    let left = 0, right = 0;
    for (let i = 0; i < px.length; i += 4) {
      const dev = Math.abs(px[i] - 128) + Math.abs(px[i + 1] - 128) + Math.abs(px[i + 2] - 128);
      if ((i / 4) % 32 < 16) left += dev; else right += dev;
    }
    const zebras = window.sightwire.drawn.boxes.filter((b) => b.label === "zebra");
    const box = zebras.length ? (zebras[0].x + zebras[0].w / 2 < overlay.width / 2 ? "L" : "R") : null;
    out.push({ picture: left > right ? "L" : "R", box, exact: !window.sightwire.drawn.stale });
  }
  return out;
}"""


def write_jumping_zebra(folder: Path, coco_dir: Path) -> str:
    """Two seconds of video: the zebra on the left half for one second, then on the right; grey elsewhere."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = cv2.imread(str(coco_dir / ZEBRA))
    assert photo is not None
    width, height = SIZE
    zebra = cv2.resize(photo, (width // 2, height), interpolation=cv2.INTER_AREA)
    for i in range(2 * FPS):
        frame = np.full((height, width, 3), 128, np.uint8)
        x = 0 if i < FPS else width // 2
        frame[:, x : x + width // 2] = zebra
        assert cv2.imwrite(str(folder / f"frame_{i:04d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return str(folder / "frame_%04d.jpg")


@pytest.fixture
async def stack(components: ComponentRunner, nc: NATS) -> Stack:
    return await start_stack(components, nc, depth=False)


class Heartbeats:
    """The latest heartbeat counters of every ingest instance."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}

    async def on_msg(self, msg: Msg) -> None:
        beat = Heartbeat.from_bytes(msg.data)
        self.latest[beat.instance] = {**beat.counters, "owned": beat.info.get("owned", "")}

    def owner_of(self, sid: str) -> tuple[str, dict[str, Any]] | None:
        for instance, counters in self.latest.items():
            if sid in str(counters["owned"]).split(","):
                return instance, counters
        return None


async def test_camera_video_three_viewers_alignment_failover_and_fallback(
    stack: Stack, nc: NATS, tmp_path: Path, coco_dir: Path, artifacts_dir: Path
) -> None:
    camera = RtspServer(write_jumping_zebra(tmp_path / "frames", coco_dir), fps=FPS, log_path=tmp_path / "rtsp.log")
    camera.start()
    beats = Heartbeats()
    sub = await nc.subscribe("sw.heartbeat.ingest.>", cb=beats.on_msg)
    spare = stack.start_ingest()  # the failover target; claims only after the owner's lease expires
    try:
        session = await create_session(stack, camera.url())
        sid = session["client_id"]
        await stack.wait_ingest_ready(spare)
        owner = await wait_owner(beats, sid, stack)
        cpu = {"no viewer": await cpu_percent(owner)}
        async with chromium(LOOPBACK) as browser:
            pages = [await wall_page(browser, stack, session)]
            await wait_video(pages[0])
            cpu["1 viewer"] = await cpu_percent(owner)
            pages += [await wall_page(browser, stack, session) for _ in range(VIEWERS - 2)]
            pages.append(await wall_page(browser, stack, session, align=False))  # live: no added delay
            await phase_three_viewers(pages, beats, sid)
            cpu[f"{VIEWERS} viewers"] = await cpu_percent(owner)
            report_cpu(cpu)
            await phase_alignment(pages[0], artifacts_dir)
            await report_video_latency(pages[-1], "live (align off)")
            await phase_failover(pages, beats, sid, stack)
        await phase_ice_failure(stack, camera.url(), cpu)
    finally:
        await sub.unsubscribe()
        camera.stop()
        keep_logs(stack, artifacts_dir / "video-logs")


def keep_logs(stack: Stack, folder: Path) -> None:
    """The components' logs, kept with the screenshots (the tmp dir does not outlive the run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for proc in stack.components.procs:
        log = Path(proc.log_path)  # type: ignore[attr-defined]
        (folder / log.name).write_text(log.read_text(errors="replace")[-200_000:])


async def create_session(stack: Stack, url: str) -> dict[str, Any]:
    config = {"fps_limit": FPS, "confidence_threshold": 0.4, "enable_depth": False, "classes": ["zebra"]}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        created = await client.post("/stream/sessions", json={"source": {"type": "rtsp", "url": url}, "config": config})
    assert created.status_code == 201, created.text
    return dict(created.json())


async def wall_page(browser: Browser, stack: Stack, session: dict[str, Any], align: bool = True) -> Page:
    page = await browser.new_page(viewport={"width": 960, "height": 640})
    query = f"session={session['client_id']}&token={session['token']}&align={int(align)}"
    await page.goto(f"{stack.base_url}/?{query}")
    return page


async def frames_decoded(page: Page) -> int:
    return int(await page.evaluate("window.sightwire.videoFramesDecoded()"))


async def video_fps(page: Page, seconds: float = 5.0) -> float:
    first, start = await frames_decoded(page), time.monotonic()
    await asyncio.sleep(seconds)
    return (await frames_decoded(page) - first) / (time.monotonic() - start)


async def wait_owner(beats: Heartbeats, sid: str, stack: Stack) -> subprocess.Popen[bytes]:
    deadline = time.monotonic() + 30
    while (found := beats.owner_of(sid)) is None:
        assert time.monotonic() < deadline, f"no ingest reports owning {sid}: {beats.latest}"
        await asyncio.sleep(0.2)
    return next(p for p in stack.ingests if p.poll() is None and found[0].endswith(f"-{p.pid}"))


async def cpu_percent(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> float:
    """CPU time of `proc` over a window, in % of one core (utime + stime from /proc)."""

    def ticks() -> int:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    first, start = ticks(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (ticks() - first) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start)


def report_cpu(cpu: dict[str, float]) -> None:
    """Printed for the closing note (one run on a loaded shared machine), not asserted."""
    encode = cpu["1 viewer"] - cpu["no viewer"]
    per_viewer = (cpu[f"{VIEWERS} viewers"] - cpu["1 viewer"]) / (VIEWERS - 1)
    shown = ", ".join(f"{k} {v:.0f}%" for k, v in cpu.items())
    print(
        f"owner ingest CPU (% of a core): {shown}; "
        f"session encode ~{encode:.0f}%, each further viewer ~{per_viewer:.0f}%"
    )


async def wait_video(page: Page) -> None:
    await wait_for(page, "window.sightwire.view === 'video' && window.sightwire.video?.fps > 5", 60, "video")
    await wait_for(page, labels_seen(["zebra"], times=3), 60, "zebra boxes over the video")


async def phase_three_viewers(pages: list[Page], beats: Heartbeats, sid: str) -> None:
    for page in pages:
        await wait_video(page)
    for page in pages:  # an aligned page's jitter buffer grows at first (decoding slows while it fills)
        await wait_settled(page)
    rates = await asyncio.gather(*(video_fps(page) for page in pages))
    print(f"\nvideo fps per viewer (getStats framesDecoded over 5 s, camera {FPS} fps): {[f'{r:.1f}' for r in rates]}")
    # The live viewer (the last) shows the camera at its own rate. The aligned ones hold each picture in the
    # jitter buffer until its results are in; while that buffer grows (results up to ~0.5 s behind on a slow
    # 2-core box), decoding pauses in steps, so over a given 5 s they may decode fewer frames: they must
    # still move, not freeze (their alignment is asserted in phase_alignment).
    *aligned, live = rates
    assert live >= MIN_VIDEO_FPS, rates
    assert all(rate >= MIN_ALIGNED_FPS for rate in aligned), rates
    await asyncio.sleep(2.5)  # one heartbeat after the rates were measured
    found = beats.owner_of(sid)
    assert found is not None, beats.latest
    instance, counters = found
    print(f"owner {instance}: { ({k: v for k, v in counters.items() if k.startswith('video')}) }")
    assert counters["video_encoders"] == 1 and counters["video_viewers"] == VIEWERS, counters
    assert counters["video_encoders_started"] == 1, counters
    instances = {await page.evaluate("window.sightwire.video.instance") for page in pages}
    assert instances == {instance}, instances


SETTLE_WINDOW_S = 3.0  # align mode's added delay has not grown for this long: decoding no longer pauses to fill it
SETTLE_GROWTH_MS = 60.0
SETTLE_TIMEOUT_S = 30.0


async def wait_settled(page: Page) -> None:
    """Align mode first learns how late results come: its jitter buffer grows until frames wait for them,
    and decoding pauses while it fills. Settled: the picture waits for its results and the buffer has
    stopped growing (or SETTLE_TIMEOUT_S passed; what is then measured says how it went)."""
    if not await page.evaluate("window.sightwire.view === 'video' && document.getElementById('align').checked"):
        return
    await wait_for(page, "window.sightwire.video.knownShare >= 0.9", 40, "the picture waiting for its results")
    delays: list[tuple[float, float]] = []
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        delay = await page.evaluate("window.sightwire.video.delayMs")
        if delay is None:
            return  # the browser has no jitterBufferTarget: nothing grows
        now = time.monotonic()
        delays = [(t, d) for t, d in delays if now - t <= SETTLE_WINDOW_S] + [(now, float(delay))]
        if (
            now - delays[0][0] >= SETTLE_WINDOW_S - 0.5
            and delays[-1][1] - min(d for _, d in delays) <= SETTLE_GROWTH_MS
        ):
            return
        await asyncio.sleep(0.5)


async def phase_alignment(page: Page, artifacts_dir: Path) -> None:
    await wait_settled(page)
    samples: list[dict[str, Any]] = await page.evaluate(SAMPLE_SIDES, 8000)
    with_box = [s for s in samples if s["box"] is not None]
    agree = sum(s["box"] == s["picture"] for s in with_box)
    rate = agree / max(1, len(with_box))
    exact = sum(s["exact"] for s in with_box)
    print(
        f"alignment: {agree}/{len(with_box)} animation frames agree ({rate:.1%}); {len(samples)} sampled, "
        f"{len(with_box)} with a zebra box, {exact} drawn with the frame's own result"
    )
    await page.screenshot(path=str(artifacts_dir / "camera-video-overlay.png"))
    await report_video_latency(page, "aligned (picture held for its results)")
    assert len(with_box) >= 0.8 * len(samples), (len(with_box), len(samples))
    # Frames drawn with their own result must agree with the picture: that is the RTP-to-capture-time mapping.
    # How many frames get their own result depends on the CPU (the detector keeping up with a 25 fps camera
    # while the jitter buffer settles); the overall rate is printed (98.1 % on a fast CPU, 83-97 % on a slow one).
    own = [s for s in with_box if s["exact"]]
    assert len(own) >= 0.15 * len(with_box), (len(own), len(with_box))
    assert sum(s["box"] == s["picture"] for s in own) >= 0.95 * len(own), own


async def report_video_latency(page: Page, mode: str) -> None:
    video = await page.evaluate("window.sightwire.video")
    delays = video["delays"][-500:]
    if len(delays) > 10:
        p50, p95 = statistics.median(delays), statistics.quantiles(delays, n=20)[-1]
        print(f"glass-to-glass video, {mode}, {len(delays)} frames: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    lag = await page.evaluate("window.sightwire.stats.lagMs")
    print(f"{mode}: exact draws {video['exact']}, predicted/interpolated {video['predicted']}, boxes behind {lag} ms")
    report_latency(f"camera video, {mode}", await page.evaluate("window.sightwire.latencies"))


async def phase_failover(pages: list[Page], beats: Heartbeats, sid: str, stack: Stack) -> None:
    found = beats.owner_of(sid)
    assert found is not None
    old = found[0]
    owner = next(p for p in stack.ingests if p.poll() is None and old.endswith(f"-{p.pid}"))
    killed_at = time.monotonic()
    stack.components.kill(owner)
    ttl = NatsSettings().lease_ttl_s
    for page in pages:
        remaining = ttl + 15 - (time.monotonic() - killed_at)
        expression = f"window.sightwire.video.instance && window.sightwire.video.instance !== {old!r}"
        await wait_for(page, expression, remaining, "viewer reconnected to the new owner")
    for page in pages:
        await wait_for(page, "window.sightwire.video.fps > 5", ttl + 15, "video again")
    took = time.monotonic() - killed_at
    print(f"failover: all {len(pages)} viewers play from the new owner {took:.1f} s after kill -9 (lease TTL {ttl} s)")
    assert took <= ttl + 15


async def phase_ice_failure(stack: Stack, url: str, cpu: dict[str, float]) -> None:
    """Without the loopback flags this Chromium has no address to reach ingest from: ICE cannot succeed."""
    gateway = next(p for p in stack.components.procs if "gateway" in str(p.args) and p.poll() is None)
    before = await cpu_percent(gateway)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 960, "height": 640})
        await page.goto(f"{stack.base_url}/?source=url&autostart=1&url={url}")
        await wait_for(page, "window.sightwire.video?.fallback", 40, "fallback after ICE failure")
        await wait_for(page, "window.sightwire.view === 'aligned' && window.sightwire.drawn.count >= 2", 40, "MJPEG")
        message = await page.locator("#message").inner_text()
        assert await page.locator("#message").is_visible()
        assert "MJPEG" in message, message
        print(f"fallback note: {message}")
        during = await cpu_percent(gateway)
        report_latency(
            "MJPEG preview fallback (picture delay, boxes exact)", await page.evaluate("window.sightwire.latencies")
        )
        fps = await page.evaluate("window.sightwire.stats.fps")
        print(f"MJPEG preview: {fps:.1f} pictures/s; gateway CPU {before:.0f}% -> {during:.0f}% with one MJPEG viewer")
        del cpu
