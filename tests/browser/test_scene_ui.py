"""Zones, lines and events in real Chromium: draw a line on the picture, see it saved in the session
config, then see an event (published to EVENTS as the scene stage does) appear in the list with its
snapshot thumbnail, and the line's count change on the overlay. A screenshot goes to artifacts/.

The scene stage is not part of this test (events are published directly); the end-to-end version
with a clip, the scene workers and detectors is tests/e2e/test_events_clip.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext, api

from shared import subjects
from shared.natsserver import EmbeddedNatsServer
from shared.settings import NatsSettings
from shared.snapshots import ensure_snapshots, snapshot_name
from tests.browser.helpers import wait_for
from tests.support.browser import browser_page
from tests.support.gateway_app import gateway_settings, serving_gateway

pytestmark = pytest.mark.browser


@pytest.fixture
async def base_url(nats_server: EmbeddedNatsServer, js: JetStreamContext) -> AsyncIterator[str]:
    async with serving_gateway(gateway_settings(nats_server.url)) as (url, _app):
        yield url


async def test_draw_a_line_and_see_its_event_with_a_thumbnail(
    base_url: str, js: JetStreamContext, nats_settings: NatsSettings, coco_dir: Path, artifacts_dir: Path
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        session = (await http.post("/stream/sessions", json={})).json()
        sid, token = session["client_id"], session["token"]
        async with browser_page(base_url) as page:
            await page.set_viewport_size({"width": 1280, "height": 1600})  # the whole stage in view
            await page.goto(f"/?session={sid}&token={token}")
            await wait_for(page, "window.sightwire.scene && !document.getElementById('draw-line').disabled", 30, "UI")
            await page.fill("#shape-name", "gate")
            await page.click("#draw-line")
            box = await page.locator("#stage").bounding_box()
            assert box is not None
            await page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.1)
            await page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.9)
            await wait_for(page, "window.sightwire.scene.lines.length === 1", 20, "the line saved")
            stats = (await http.get(f"/stream/sessions/{sid}/stats", params={"token": token})).json()
            line = stats["config"]["lines"][0]
            assert line["name"] == "gate" and abs(line["a"][0] - 0.5) < 0.02 and abs(line["b"][1] - 0.9) < 0.02

            ev_id = "ev_ui_test_1"
            store = await ensure_snapshots(js, nats_settings, 16 * 1024 * 1024)
            jpeg = (coco_dir / "000000000724.jpg").read_bytes()
            await store.put(snapshot_name(ev_id), jpeg, meta=api.ObjectMeta(name=snapshot_name(ev_id), description=sid))
            event = {
                "id": ev_id, "kind": "line_cross", "sid": sid, "timestamp": 1_700_000_000.0, "line": "gate",
                "direction": "in", "track_id": 4, "label": "person",
                "counts": {"zones": {}, "lines": {"gate": {"in": 1, "out": 0}}},
                "snapshot": f"/stream/sessions/{sid}/events/{ev_id}/snapshot.jpg",
            }  # fmt: skip
            body = json.dumps({"type": "event", "event": event}).encode()
            await js.publish(subjects.events(sid, "line_cross"), body, headers={"Nats-Msg-Id": ev_id})

            await wait_for(page, "window.sightwire.scene.events.length === 1", 30, "the event listed")
            await wait_for(
                page, "document.querySelector('#event-list li[data-thumbnail=loaded] img') !== null", 30, "thumbnail"
            )
            await wait_for(page, "document.getElementById('shapes').textContent.includes('in 1')", 30, "the count")
            text = await page.text_content("#event-list")
            assert text is not None and "line_cross gate in" in text
            await page.screenshot(path=str(artifacts_dir / "scene-ui.png"))
            assert not [e for e in page.console_errors if "scene.js" in e]  # type: ignore[attr-defined]
