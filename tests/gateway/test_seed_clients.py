"""The three example clients of the seed API document, run as written against the real stack.

The client code is read from `../shared/seeds/004_*.txt` at test time, so what
runs is exactly what the document shows. The only edits: the host:port of
absolute URLs (`localhost:8080` -> the test gateway), and for the Python
client the `import time` the example forgot (it calls `time.time()`). The
JavaScript clients run in real Chromium on a page served by the gateway (their
relative URLs need that origin); the harness around them only supplies what
the examples leave to the reader: `processDetections`, the image to send, and
when to call `sendFrame`. Results reach the gateway through the stand-in scene
stage of this branch (tests/support/scene_stage.py) until workers/scene is merged.
"""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared.natsserver import EmbeddedNatsServer
from tests.support.browser import browser_page
from tests.support.gateway_app import gateway_settings, serving_gateway
from tests.support.pipeline import jpeg_of, start_workers
from tests.support.procs import ComponentRunner
from tests.support.scene_stage import scene_stage

PHOTO = "000000002261.jpg"  # one person
SEED_HOST = "localhost:8080"


def seed_blocks(shared_dir: Path, language: str) -> list[str]:
    (seed,) = sorted((shared_dir / "seeds").glob("004_*.txt"))
    return re.findall(rf"```{language}\n(.*?)```", seed.read_text(), flags=re.DOTALL)


def harness(seed_code: str, ready: str) -> str:
    """Run the seed code, then send the photo until detections arrive (the seed leaves this to the app)."""
    return f"""async (imageData) => {{
        window.__detections = [];
        window.processDetections = (detections) => window.__detections.push(detections);
        {seed_code}
        const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
        while (!({ready})) await pause(20);
        for (let tries = 0; window.__detections.length === 0 && tries < 100; tries++) {{
            await sendFrame(imageData);
            await pause(300);
        }}
        return window.__detections;
    }}"""


async def run_in_browser(base: str, code: str, image_b64: str) -> Any:
    async with browser_page() as page:
        await page.goto(f"{base}/stream/health")  # any page of the gateway: the seed uses relative URLs
        detections = await asyncio.wait_for(page.evaluate(code, image_b64), 60)
        errors = [e for e in page.console_errors if not e.endswith("/favicon.ico")]  # type: ignore[attr-defined]
        assert errors == []
    return detections


@pytest.fixture
def image_b64(coco_dir: Path) -> str:
    return base64.b64encode(jpeg_of(coco_dir / PHOTO)).decode()


def labels(detections: list[list[dict[str, Any]]]) -> set[str]:
    return {d["label"] for batch in detections for d in batch}


@pytest.mark.browser
async def test_seed_websocket_javascript_client(
    nats_server: EmbeddedNatsServer, nc: NATS, components: ComponentRunner, shared_dir: Path, image_b64: str
):
    ws_client, _rest_client = seed_blocks(shared_dir, "javascript")
    await start_workers(components, nc, ("detector", "depth"))
    async with scene_stage(nc), serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        code = ws_client.replace(SEED_HOST, base.removeprefix("http://"))
        detections = await run_in_browser(base, harness(code, "ws.readyState === WebSocket.OPEN"), image_b64)
    assert "person" in labels(detections)


@pytest.mark.browser
async def test_seed_rest_and_sse_javascript_client(
    nats_server: EmbeddedNatsServer, nc: NATS, components: ComponentRunner, shared_dir: Path, image_b64: str
):
    _ws_client, rest_client = seed_blocks(shared_dir, "javascript")
    assert SEED_HOST not in rest_client  # relative URLs only: runs byte for byte
    await start_workers(components, nc, ("detector", "depth"))
    async with scene_stage(nc), serving_gateway(gateway_settings(nats_server.url)) as (base, app):
        code = harness(rest_client, "eventSource.readyState === EventSource.OPEN")
        detections = await run_in_browser(base, code, image_b64)
        sessions = list(app.state.runtime.directory.records.values())
    assert "person" in labels(detections)
    (session,) = sessions
    assert session.config.fps_limit == 15 and session.config.confidence_threshold == 0.6
    assert all(d["confidence"] >= 0.6 for batch in detections for d in batch)


async def test_seed_python_websockets_client(
    nats_server: EmbeddedNatsServer, nc: NATS, components: ComponentRunner, shared_dir: Path, coco_dir: Path, tmp_path
):
    (client,) = seed_blocks(shared_dir, "python")
    assert "time.time()" in client and "import time" not in client  # the example's one bug
    await start_workers(components, nc, ("detector", "depth"))
    (tmp_path / "test_frame.jpg").write_bytes(jpeg_of(coco_dir / PHOTO))
    async with scene_stage(nc), serving_gateway(gateway_settings(nats_server.url)) as (base, _app):
        script = tmp_path / "seed_client.py"
        script.write_text("import time\n" + client.replace(SEED_HOST, base.removeprefix("http://")))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    output = stdout.decode()
    assert output.startswith("Detections: [") and "'label': 'person'" in output
