"""The event clip through the real detector and the event evaluator: the clip's ground truth holds.

This checks the clip builder (the person is found in every frame where it is fully in view) and
the evaluator on real detector jitter. One person, so the track id is given here; the scene
stage's tracker is exercised by the end-to-end test (tests/e2e/test_events_clip.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shared.sessions import SessionConfig
from tests.support import event_clip
from workers.engine import Engine
from workers.events.evaluator import EventAnalyser
from workers.models.registry import resolve, spec_of
from workers.settings import WorkerSettings
from workers.tasks import DetectorTask


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> tuple[DetectorTask, Engine]:
    settings = WorkerSettings(model_dir=model_dir)
    spec = spec_of(settings.detector_model, "detector")
    engine = Engine.load(resolve(spec, settings), spec.input, device="CPU", hint=settings.hint("detector"),
                         requests=1, output_index=spec.output_index, cache_dir=None)  # fmt: skip
    return DetectorTask(spec, settings), engine


def messages(clip: event_clip.EventClip, detector: tuple[DetectorTask, Engine]) -> list[dict[str, Any]]:
    task, engine = detector
    out = []
    for seq, jpeg in enumerate(clip.jpegs(), start=1):
        prepared = task.prepare(jpeg)
        boxes = task.finish(engine.infer_sync(prepared.tensor), prepared.geometry)
        w, h = prepared.geometry.width, prepared.geometry.height
        people = [b for b in boxes if b.label == "person" and b.score >= 0.5]
        detections = [
            {
                "label": b.label,
                "class_id": b.class_id,
                "confidence": b.score,
                "track_id": 1,
                "bbox": list(b.to_pixels(w, h)),
            }
            for b in people[:1]
        ]
        data = {"seq": seq, "timestamp": 1000 + seq / clip.fps, "width": w, "height": h, "detections": detections}
        out.append({"type": "detection_result", "data": data})
    return out


@pytest.mark.parametrize("which", [0, 1])
def test_the_clip_gives_its_ground_truth_through_the_real_detector(coco_dir: Path, detector, which: int) -> None:
    clip = event_clip.build(coco_dir, which=which)
    msgs = messages(clip, detector)
    inner = [m for m, x in zip(msgs, clip.feet_x, strict=True) if 0.15 < x < 0.9]
    assert all(m["data"]["detections"] for m in inner), "the person is found whenever fully in view"

    config = SessionConfig.model_validate(clip.config())
    analyser = EventAnalyser("clip", config)
    started = time.perf_counter()
    events = [e for i, m in enumerate(msgs) for e in analyser.observe(m, i)]
    per_frame_us = (time.perf_counter() - started) / len(msgs) * 1e6
    assert [(e["kind"], e.get("direction")) for e in events] == event_clip.EXPECTED
    dwell = next(e for e in events if e["kind"] == "dwell")
    assert clip.dwell_s <= dwell["dwell_s"] < clip.dwell_s + 0.5
    print(f"\nevaluator: {per_frame_us:.0f} us per frame (1 zone, 1 line, 1 track), {len(msgs)} frames")
