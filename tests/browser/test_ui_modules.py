"""The web UI's modules in real Chromium, without a stack: the page's files are served from
gateway/static by Playwright's router, and the API answers 404 (the page must cope).

Checks the contracts that let a new source be one module and one registry entry: every
registered source has the one interface and can be stopped before it started; the form shows
one radio per registered source and only the chosen source's own inputs, also for a source
the page has never heard of; the one box shape (box.js) moves and maps to canvas pixels; a
camera whose video cannot be offered falls back to its MJPEG preview (a fake of the gateway's
API; the real stack's version, ICE failing, is test_video's last phase).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, Route

from tests.support.browser import browser_page

pytestmark = pytest.mark.browser

STATIC = Path(__file__).parents[2] / "gateway" / "static"
ORIGIN = "http://ui.test"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


async def serve_static(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?")[0]
    file = STATIC / ("index.html" if path == "/" else path.lstrip("/"))
    if path.startswith("/stream/") or not file.is_file():
        await route.fulfill(status=404, json={"error": "not here", "error_code": "NOT_FOUND"})
        return
    await route.fulfill(status=200, body=file.read_bytes(), content_type=TYPES.get(file.suffix, "text/plain"))


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with browser_page() as page:
        await page.route(f"{ORIGIN}/**", serve_static)
        await page.goto(f"{ORIGIN}/")
        await page.wait_for_function("window.sightwire && document.querySelector('input[name=source]')")
        yield page
        errors: list[str] = page.console_errors  # type: ignore[attr-defined]
        assert all(e.startswith("Failed to load resource") for e in errors), errors  # the API's 404s, nothing else


async def test_the_page_is_ready_when_it_has_loaded() -> None:
    """Tests and people act on the load event: the state and the form exist by then."""
    async with browser_page() as page:
        await page.route(f"{ORIGIN}/**", serve_static)
        await page.goto(f"{ORIGIN}/?source=file")
        ready = "[typeof window.sightwire.drawn, document.querySelectorAll('input[name=source]').length]"
        assert await page.evaluate(ready) == ["object", 3]
        assert await page.evaluate("document.querySelector('input[name=source]:checked').value") == "file"


SOURCE_INTERFACE = """async () => {
  const { SOURCES } = await import("/js/sources.js");
  return SOURCES.map((d) => {
    const source = d.create();
    const methods = ["start", "stop", "setFps", "refresh", "stats"].filter((m) => typeof source[m] !== "function");
    source.stop();  // never started: nothing to release, nothing thrown
    return { kind: d.kind, label: d.label, missing: methods, stats: source.stats() };
  });
}"""


async def test_every_source_has_the_one_interface(page: Page) -> None:
    sources = await page.evaluate(SOURCE_INTERFACE)
    assert [s["kind"] for s in sources] == ["webcam", "url", "file"]
    for source in sources:
        assert source["label"] and source["missing"] == [], source
        assert source["stats"]["skipped"] == 0, source


# A source the page has never heard of, registered the way sources.js does: its radio and its own input appear.
NEW_SOURCE = """async () => {
  const { SOURCES } = await import("/js/sources.js");
  const { Page } = await import("/js/page.js");
  const page = new Page(window.sightwire);
  const screen = { kind: "screen", label: "This screen", fields: '<label>Which <input id="which"></label>' };
  page.renderSources([...SOURCES, screen]);
  const hidden = (id) => document.getElementById(id).closest("[hidden]");
  const visible = () => ["camera-url", "file", "which"].filter((id) => !hidden(id));
  const shown = { first: visible() };
  page.choose("screen");
  shown.screen = visible();
  page.choose("url");
  shown.url = visible();
  shown.radios = [...document.querySelectorAll("input[name=source]")].map((r) => r.value);
  shown.kind = document.getElementById("source-form").dataset.kind;
  return shown;
}"""


async def test_the_form_lists_registered_sources_and_their_fields(page: Page) -> None:
    shown = await page.evaluate(NEW_SOURCE)
    assert shown["radios"] == ["webcam", "url", "file", "screen"]
    assert shown["first"] == []  # webcam: no inputs of its own
    assert shown["screen"] == ["which"]
    assert shown["url"] == ["camera-url"] and shown["kind"] == "url"


async def test_a_file_source_without_a_file_says_so_and_leaves_nothing(page: Page) -> None:
    await page.check("input[name=source][value=file]")
    assert await page.is_visible("#file") and not await page.is_visible("#camera-url")
    await page.click("#start")
    await page.wait_for_function("window.sightwire.connection === 'error'")
    assert await page.evaluate("window.sightwire.errors") == ["Choose an image or video file first."]
    assert await page.evaluate("[window.sightwire.session, window.sightwire.mode]") == [None, "file"]
    assert not await page.is_disabled("#start")


BOXES = """async () => {
  const { lerpBox, boxOnCanvas } = await import("/js/box.js");
  const { interpolate, predict } = await import("/js/syncview.js");
  const result = (tMs, bbox) => ({ tMs, result: { detections: [{ track_id: 1, bbox }] } });
  const r0 = result(0, [0, 0, 10, 10]);
  const r1 = result(100, [10, 0, 20, 10]);
  return {
    half: lerpBox([0, 0, 10, 10], [10, 20, 30, 40], 0.5),
    // a 640x480 frame shown in a 320x240 rectangle at (10, 20): half scale, offset, whole pixels
    canvas: boxOnCanvas([100, 50, 301, 151], 640, 480, { x: 10, y: 20, w: 320, h: 240 }),
    between: interpolate(r0, r1, 25).detections[0].bbox,
    ahead: predict(r1, r0, 150)[0].bbox,
  };
}"""


async def test_boxes_keep_the_wire_shape_until_drawn(page: Page) -> None:
    boxes = await page.evaluate(BOXES)
    assert boxes["half"] == [5, 10, 20, 25]
    assert boxes["canvas"] == {"x": 60, "y": 45, "w": 101, "h": 51}
    assert boxes["between"] == [2.5, 0, 12.5, 10]
    assert boxes["ahead"] == [15, 0, 25, 10]


class FakeCameraSession:
    """The gateway's API for one camera session whose video cannot be offered (INVALID_SDP), and its
    MJPEG preview with one frame: what the page needs to fall back from the video to the preview."""

    def __init__(self, jpeg: bytes) -> None:
        self.jpeg = jpeg
        self.video_offers = 0

    async def handle(self, route: Route) -> None:
        url, method = route.request.url, route.request.method
        if url.endswith("/stream/sessions") and method == "POST":
            source = {"type": "rtsp", "url": "rtsp://camera/stream"}
            body = {"client_id": "cam1", "token": "t", "config": {"fps_limit": 10}, "source": source}
            await route.fulfill(status=201, json=body)
        elif url.endswith("/cam1/webrtc"):
            await route.fulfill(json={"ice_servers": []})
        elif url.endswith("/cam1/video"):
            self.video_offers += 1
            await route.fulfill(status=400, json={"error": "bad offer", "error_code": "INVALID_SDP"})
        elif "/cam1/preview.mjpg" in url:
            head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(self.jpeg)}\r\n"
            head += "X-Frame-Seq: 7\r\nX-Captured-At-Ns: 1000000000\r\n\r\n"
            body = head.encode() + self.jpeg + b"\r\n"
            await route.fulfill(body=body, content_type="multipart/x-mixed-replace; boundary=frame")
        else:
            await serve_static(route)


async def test_a_camera_without_video_falls_back_to_the_preview(coco_dir: Path) -> None:
    camera = FakeCameraSession((coco_dir / "000000000285.jpg").read_bytes())
    async with browser_page() as page:
        await page.route(f"{ORIGIN}/**", camera.handle)
        await page.goto(f"{ORIGIN}/?source=url&url=rtsp://camera/stream&autostart=1")
        shown = "window.sightwire.drawn.frameSeq === 7 && window.sightwire.video?.fallback"
        await page.wait_for_function(shown, timeout=20_000)
        video = await page.evaluate("window.sightwire.video")
        assert video["fallback"] == "the camera's video is unavailable (bad offer)", video
        assert camera.video_offers == 1  # INVALID_SDP is not worth another offer
        assert await page.evaluate("[window.sightwire.mode, window.sightwire.view]") == ["url", "aligned"]
        message = await page.locator("#message").inner_text()
        assert message.startswith("Live video unavailable") and "MJPEG preview" in message, message
