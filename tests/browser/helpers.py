"""Small helpers shared by the browser tests: polling the page's state, latency reports."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from playwright.async_api import Page


async def wait_for(page: Page, expression: str, timeout_s: float, what: str) -> Any:
    """Poll a page expression until it is truthy (`window.sightwire` is the test's window into the page)."""
    deadline = time.monotonic() + timeout_s
    while not (value := await page.evaluate(expression)):
        if time.monotonic() > deadline:
            state = await page.evaluate("JSON.stringify({...window.sightwire, lastResult: null})")
            raise AssertionError(f"{what}: not within {timeout_s} s; page state {state}")
        await asyncio.sleep(0.1)
    return value


def labels_seen(labels: list[str], times: int = 2) -> str:
    """A page expression: every label was drawn in at least `times` results."""
    return " && ".join(f"(window.sightwire.seenLabels[{label!r}] || 0) >= {times}" for label in labels)


def report_latency(what: str, latencies: list[int], warmup: int = 10) -> None:
    """Print glass-to-overlay p50/p95, overall and without the first results (model warm-up, encoder ramp-up)."""
    for label, values in (("all", latencies), ("steady", latencies[warmup:])):
        if len(values) >= 2:
            p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
            print(f"\nglass-to-overlay, {what}, {label} ({len(values)} results): p50 {p50:.0f} ms, p95 {p95:.0f} ms")


# For each drawn box, the overlay pixel in the middle of its top edge and whether it has the class colour.
PIXELS_UNDER_BOXES = """() => {
  const ctx = document.getElementById("overlay").getContext("2d");
  const probe = document.createElement("canvas").getContext("2d");
  const boxes = window.sightwire.drawn.boxes;
  const pixels = boxes.map((b) => {
    const [r, g, bl, alpha] = ctx.getImageData(Math.round(b.x + b.w / 2), Math.round(b.y), 1, 1).data;
    probe.fillStyle = `hsl(${Math.round((b.class_id * 137.508) % 360)} 85% 58%)`;
    probe.fillRect(0, 0, 1, 1);
    const [er, eg, eb] = probe.getImageData(0, 0, 1, 1).data;
    const matches = Math.abs(r - er) + Math.abs(g - eg) + Math.abs(bl - eb) < 12;
    return { label: b.label, alpha, matches };
  });
  return { boxes: boxes.length, pixels };
}"""


def painted_ok(painted: dict[str, Any]) -> bool:
    return bool(painted["boxes"]) and all(p["alpha"] == 255 and p["matches"] for p in painted["pixels"])
