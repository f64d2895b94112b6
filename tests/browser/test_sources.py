"""The other two sources in real Chromium: a camera URL (MJPEG over HTTP) and an uploaded image.

For a camera opened with `?view=mjpeg` (the live WebRTC video is test_video's)
the page shows the MJPEG preview of the very frames the models saw and paints
each frame with the boxes of the same `seq`: the test samples what is on
screen and checks that every frame shown with fresh boxes carries its own
result. The same session is then watched from a second page through
the wall-display deep link `/?session=<id>&token=<t>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from playwright.async_api import Browser, Page

from tests.browser.helpers import PIXELS_UNDER_BOXES, labels_seen, painted_ok, report_latency, wait_for
from tests.browser.stack import Stack, start_stack
from tests.support.browser import chromium
from tests.support.mjpeg_server import MjpegServer
from tests.support.pipeline import jpeg_of
from tests.support.procs import ComponentRunner

CAMERA = {"000000001818.jpg": "zebra", "000000005477.jpg": "airplane"}


@pytest.fixture
async def stack(components: ComponentRunner, nc: NATS) -> Stack:
    return await start_stack(components, nc, depth=False)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def new_page(browser: Browser) -> Page:
    return await browser.new_page(viewport={"width": 1280, "height": 800})


async def on_screen_samples(page: Page, n: int) -> list[dict[str, Any]]:
    samples = []
    for _ in range(n):
        samples.append(await page.evaluate("({...window.sightwire.drawn, boxes: null})"))
        await asyncio.sleep(0.05)
    return samples


async def assert_aligned(page: Page) -> None:
    """Every frame on screen with fresh boxes shows the result of that very frame."""
    samples = await on_screen_samples(page, 40)
    fresh = [s for s in samples if not s["stale"] and s["seq"] is not None]
    assert len(fresh) >= 20, samples
    assert all(s["frameSeq"] == s["seq"] for s in fresh), fresh


async def test_camera_url_preview_has_aligned_boxes_and_a_wall_display(
    stack: Stack, browser: Browser, coco_dir: Path, artifacts_dir: Path
) -> None:
    labels = sorted(CAMERA.values())
    frames = [jpeg_of(coco_dir / name) for name in CAMERA for _ in range(20)]  # each photo held for 2 s
    with MjpegServer(frames, fps=10) as camera:
        page = await new_page(browser)
        await page.goto(stack.base_url + "/?view=mjpeg")  # the analysed frames, not the live video (test_video)
        await page.check("input[name=source][value=url]")
        await page.fill("#camera-url", camera.url())
        await page.click("#start")
        await wait_for(page, labels_seen(labels), 60, f"boxes for {labels} over the preview")
        assert await page.evaluate("window.sightwire.view") == "aligned"
        await assert_aligned(page)
        assert painted_ok(await page.evaluate(PIXELS_UNDER_BOXES))
        shot = artifacts_dir / "camera-url-overlay.png"
        await page.screenshot(path=str(shot))
        report_latency("camera URL (MJPEG preview, aligned)", await page.evaluate("window.sightwire.latencies"))
        print(f"screenshot: {shot}")

        await use_the_controls(page)

        async with httpx.AsyncClient(base_url=stack.base_url) as client:
            created = await client.post("/stream/sessions", json={"source": {"type": "http", "url": camera.url()}})
            assert created.status_code == 201, created.text
            session = created.json()
        wall = await new_page(browser)
        await wall.goto(f"{stack.base_url}/?session={session['client_id']}&token={session['token']}&view=mjpeg")
        await wait_for(wall, "window.sightwire.drawn.count >= 5", 60, "wall display drawing results")
        assert await wall.evaluate("window.sightwire.mode") == "watch"
        await assert_aligned(wall)


async def use_the_controls(page: Page) -> None:
    """Classes filter and FPS from the panel reach the session (PATCH) and the results."""
    await page.fill("#classes", "airplane")
    await page.press("#classes", "Enter")
    await page.locator("#fps").fill("5")
    await wait_for(page, "window.sightwire.config?.fps_limit === 5", 10, "fps patched")
    assert await page.evaluate("window.sightwire.config.classes") == ["airplane"]
    start = await page.evaluate("window.sightwire.resultsReceived")
    await wait_for(page, f"window.sightwire.resultsReceived >= {start} + 25", 30, "results after the change")
    seen: set[str] = set()
    for _ in range(30):  # 3 s of results, longer than one photo of the camera's loop
        detections = await page.evaluate("window.sightwire.lastResult.detections")
        seen.update(d["label"] for d in detections)
        await asyncio.sleep(0.1)
    assert seen <= {"airplane"}, seen


async def test_image_file_is_uploaded_and_its_boxes_drawn(stack: Stack, browser: Browser, coco_dir: Path) -> None:
    page = await new_page(browser)
    await page.goto(stack.base_url + "/")
    # The classes filter suggests the live detector's own class names (GET /stream/models).
    options = "[...document.querySelectorAll('#class-names option')].map((o) => o.value)"
    suggested = await wait_for(page, f"{options}.length && {options}", 10, "class names suggested")
    assert len(suggested) == 80 and "stop sign" in suggested
    await page.check("input[name=source][value=file]")
    await page.set_input_files("#file", str(coco_dir / "000000000724.jpg"))
    await page.click("#start")
    await wait_for(page, labels_seen(["stop sign"], times=1), 30, "stop sign drawn over the image")
    assert painted_ok(await page.evaluate(PIXELS_UNDER_BOXES))
    frame_seq = await page.evaluate("window.sightwire.drawn.frameSeq")
    assert frame_seq == await page.evaluate("window.sightwire.lastResult.seq")
