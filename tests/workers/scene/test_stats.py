"""The scene stage's heartbeat has the workers' shape: typed processed and drops, plus its own counters."""

from __future__ import annotations

from shared.envelopes import Heartbeat
from shared.telemetry import DropReason
from workers.scene.stats import SERVICE, SceneStats


def test_scene_heartbeat() -> None:
    stats = SceneStats("scene-1")
    stats.message("detection_result")
    stats.message("error")
    stats.drop("late", 2)
    stats.drop(DropReason.DUPLICATE)
    stats.owned(3)
    hb = Heartbeat.from_bytes(stats.heartbeat().to_bytes())
    assert (hb.service, hb.processed) == (SERVICE, 1)
    assert hb.dropped == {DropReason.LATE: 2, DropReason.DUPLICATE: 1}
    assert hb.counters == {"errors": 1, "written": 2, "events": 0, "restored": 0, "sessions": 3}
