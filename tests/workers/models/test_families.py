"""Each Ultralytics layout, registered with `models add`, through the real detector worker.

YOLO11n and YOLOv8n (`[1, 84, 8400]`, OpenVINO int8 export folders) and YOLOv5n
(`[1, 25200, 85]`, ONNX) must find what MODELS.md lists on two photos: the
class, the score within 0.05 and the box within 8 px, at the f32 precision hint
(the CPU's bf16 default moves boxes by up to ~7 px). A second worker start on
the same cache must import the compiled model from OpenVINO's cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from tests.support.procs import ComponentRunner
from tests.workers.models.support import EXPECTED, LIVING_ROOM, SOURCES, STOP_SIGN, mismatches
from tests.workers.support import Watcher, frame, publish_frame
from workers.models.add import Request, add
from workers.settings import WorkerSettings


def pixels(d: object) -> list[tuple[str, float, tuple[int, ...]]]:
    w, h = d.width, d.height  # type: ignore[attr-defined]
    return [
        (b.label, b.score, (round(b.x1 * w), round(b.y1 * h), round(b.x2 * w), round(b.y2 * h)))
        for b in d.boxes  # type: ignore[attr-defined]
    ]


def log_records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_registered_family_finds_what_models_md_lists(
    name: str,
    components: ComponentRunner,
    nc: NATS,
    js: JetStreamContext,
    model_dir: Path,
    coco_dir: Path,
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    add(Request(model_dir / SOURCES[name], name=name), WorkerSettings(model_store_dir=store))
    watcher = await Watcher(nc).start()
    env = {"SIGHTWIRE_MODEL_STORE_DIR": str(store), "SIGHTWIRE_DETECTOR_MODEL": name,
           "SIGHTWIRE_PRECISION_HINT": "f32", "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3"}  # fmt: skip
    proc = components.start("worker", "detector", env=env, name=name)
    photos = [STOP_SIGN, LIVING_ROOM]
    for seq, photo in enumerate(photos, start=1):
        await publish_frame(js, frame(f"fam-{name}", seq, (coco_dir / photo).read_bytes()))
    try:
        await watcher.until(lambda: len(watcher.detections) >= 2, 240, f"{name}'s two results")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{components.log_with_stacks(proc)}") from None
    by_seq = {d.seq: d for d in watcher.detections}
    report = {}
    for seq, photo in enumerate(photos, start=1):
        found = pixels(by_seq[seq])
        report[photo] = found[:5]
        assert by_seq[seq].model == name
        assert not mismatches(EXPECTED[name][photo], found), (photo, mismatches(EXPECTED[name][photo], found), found)
    print(f"\n{name}: {report}")
    beat = next(b for (svc, _), b in watcher.heartbeats.items() if svc == "detector")
    assert beat.labels[11] == "stop sign" and len(beat.labels) == 80


async def test_second_start_loads_from_the_compiled_model_cache(
    components: ComponentRunner, nc: NATS, js: JetStreamContext, tmp_path: Path
) -> None:
    """Same cache folder, two starts: the first compiles and writes a blob (miss), the second imports it (hit)."""
    env = {"SIGHTWIRE_OV_CACHE_DIR": str(tmp_path / "ov-cache"), "SIGHTWIRE_HEARTBEAT_INTERVAL_S": "0.3"}
    loads = []
    for attempt in ("cold", "warm"):
        watcher = await Watcher(nc).start()
        proc = components.start("worker", "detector", env=env, name=attempt)
        await watcher.until(lambda w=watcher: bool(w.instances("detector")), 180, f"{attempt} worker's heartbeat")
        assert components.stop(proc) == 0, components.log_of(proc)
        records = log_records(components.log_of(proc))
        loads.append(next(r for r in records if r.get("msg") == "model loaded"))
    assert [r["cache"] for r in loads] == ["miss", "hit"], loads
    print(f"\nyolox_nano compile: cold {loads[0]['compile_ms']} ms, warm {loads[1]['compile_ms']} ms")
