"""Worker settings come from SIGHTWIRE_* variables and pick hint and model per worker kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import user_cache_dir
from workers.settings import WorkerSettings


def test_defaults_pick_a_hint_and_model_per_kind() -> None:
    s = WorkerSettings()
    assert (s.model_name("detector"), s.hint("detector")) == ("yolox_nano", "THROUGHPUT")
    assert (s.model_name("depth"), s.hint("depth")) == ("pydnet", "LATENCY")
    assert s.model_cache_dir == user_cache_dir() / "models"
    assert s.score_threshold <= 0.3 and (s.depth_grid_w, s.depth_grid_h) == (80, 56)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIGHTWIRE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("SIGHTWIRE_DEPTH_MODEL", "midas_small")
    monkeypatch.setenv("SIGHTWIRE_DETECTOR_HINT", "LATENCY")
    monkeypatch.setenv("SIGHTWIRE_CONSUMER_ACK_WAIT_S", "2")
    s = WorkerSettings()
    assert s.model_dir == tmp_path and s.model_name("depth") == "midas_small"
    assert s.hint("detector") == "LATENCY" and s.consumer_ack_wait_s == 2


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTWIRE_DETECTOR_HINT", "FAST")
    with pytest.raises(ValidationError):
        WorkerSettings()
