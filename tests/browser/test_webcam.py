"""The webcam path in real Chromium: fake camera -> WebRTC -> ingest -> models -> SSE -> overlay canvas.

Chromium's fake camera plays COCO photos of a stop sign, a bear, an airplane
and a person. The test checks every hop: frames of the page's session reach
FRAMES from the WebRTC source, results for those objects come back, and the
overlay canvas has the boxes painted in their class colour. It saves a
screenshot under artifacts/browser/ and prints the glass-to-overlay latency
(capture time of a frame to the animation frame that first drew its boxes).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from playwright.async_api import Page

from shared import subjects
from shared.envelopes import Frame
from tests.browser.camera import fake_camera_args, write_y4m
from tests.browser.helpers import PIXELS_UNDER_BOXES, labels_seen, painted_ok, report_latency, wait_for
from tests.browser.stack import Stack, start_gateway_only, start_stack
from tests.support.browser import chromium
from tests.support.procs import ComponentRunner

PHOTOS = {
    "000000000724.jpg": "stop sign",
    "000000000285.jpg": "bear",
    "000000005477.jpg": "airplane",
    "000000007977.jpg": "person",  # a whole person in frame: the size prior gives a distance
}


@pytest.fixture
async def stack(components: ComponentRunner, nc: NATS) -> Stack:
    return await start_stack(components, nc)


@pytest.fixture
async def webcam_page(tmp_path: Path, coco_dir: Path, stack: Stack) -> AsyncIterator[Page]:
    y4m = write_y4m(tmp_path / "camera.y4m", [coco_dir / name for name in PHOTOS])
    async with chromium(fake_camera_args(y4m)) as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        yield page


async def test_webcam_boxes_reach_the_overlay(webcam_page: Page, stack: Stack, nc: NATS, artifacts_dir: Path) -> None:
    page = webcam_page
    await page.goto(f"{stack.base_url}/?source=webcam&autostart=1&confidence=0.4")
    sid = await wait_for(page, "window.sightwire.session?.sid", 20, "session created")
    sources: Counter[str] = Counter()

    async def on_frame(msg: Msg) -> None:
        sources[Frame.from_bytes(msg.data).source] += 1

    sub = await nc.subscribe(subjects.frames(sid), cb=on_frame)
    expected = sorted(set(PHOTOS.values()))
    try:
        await wait_for(page, labels_seen(expected), 60, f"boxes drawn for {expected}")
        await wait_for(page, "window.sightwire.drawn.boxes.length > 0", 10, "boxes on screen")
        painted = await page.evaluate(PIXELS_UNDER_BOXES)
    finally:
        await sub.unsubscribe()
    assert sources["webrtc"] >= 5 and set(sources) == {"webrtc"}, sources
    assert painted_ok(painted), painted
    assert await page.evaluate("window.sightwire.connection") == "live"
    assert await page.evaluate("window.sightwire.distancesDrawn") > 0

    shot = artifacts_dir / "webcam-overlay.png"
    await page.screenshot(path=str(shot))
    report_latency("webcam over WebRTC, live picture", await page.evaluate("window.sightwire.latencies"))
    print(f"screenshot: {shot}")

    # Aligned: the page holds camera frames and paints each with the result of the same capture time.
    await page.goto(f"{stack.base_url}/?source=webcam&autostart=1&confidence=0.4&align=1")
    await wait_for(page, "window.sightwire.view === 'aligned' && window.sightwire.drawn.count >= 10", 60, "aligned")
    report_latency("webcam over WebRTC, aligned picture", await page.evaluate("window.sightwire.latencies"))
    gaps = await page.evaluate("window.sightwire.matchGapsMs")
    print(f"capture clocks, ingest (RTP) vs browser: median gap {statistics.median(gaps):.1f} ms over {len(gaps)}")


async def test_reconnects_to_another_ingest_when_its_ingest_dies(webcam_page: Page, stack: Stack, nc: NATS) -> None:
    page = webcam_page
    await page.goto(f"{stack.base_url}/?source=webcam&autostart=1")
    await wait_for(page, "window.sightwire.drawn.count >= 3", 60, "first results drawn")
    first = stack.ingests[0]
    spare = stack.start_ingest()
    await stack.wait_ingest_ready(spare)
    stack.components.kill(first)  # SIGKILL: no goodbye, the browser only sees ICE go silent
    before = await page.evaluate("window.sightwire.drawn.count")
    await wait_for(page, "window.sightwire.reconnects >= 1", 45, "page rebuilt its peer connection")
    await wait_for(page, f"window.sightwire.drawn.count >= {before + 3}", 45, "results again after reconnect")
    assert await page.evaluate("window.sightwire.connection") == "live"


async def test_denied_camera_and_missing_ingest_are_explained(
    components: ComponentRunner, nc: NATS, tmp_path: Path, coco_dir: Path
) -> None:
    stack = await start_gateway_only(components)  # no ingest: nobody answers WebRTC offers
    denied = ("--use-fake-device-for-media-stream", "--deny-permission-prompts")
    async with chromium(denied) as browser:
        page = await browser.new_page()
        await page.goto(f"{stack.base_url}/?source=webcam&autostart=1")
        errors = await wait_for(page, "window.sightwire.errors.length && window.sightwire.errors", 20, "an error")
        assert "denied" in errors[0]
        assert await page.locator("#message").is_visible()
        assert await page.evaluate("window.sightwire.session") is None  # nothing left behind
        assert await page.evaluate("window.sightwire.connection") == "error"

    y4m = write_y4m(tmp_path / "camera.y4m", [coco_dir / "000000000724.jpg"], frames_per_photo=2)
    async with chromium(fake_camera_args(y4m)) as browser:
        page = await browser.new_page()
        await page.goto(f"{stack.base_url}/?source=webcam&autostart=1")
        errors = await wait_for(page, "window.sightwire.errors.length && window.sightwire.errors", 20, "an error")
        assert "WebRTC" in errors[0] and "retrying" in errors[0], errors
        await wait_for(page, "window.sightwire.connection === 'reconnecting'", 10, "retrying")
