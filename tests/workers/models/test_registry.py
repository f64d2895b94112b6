"""Model specs and the resolution order: model_dir, then the user cache, then a pull."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from workers.models.registry import SPECS, ModelError, cli_list, find_local, resolve, spec_of
from workers.settings import WorkerSettings


def test_shipped_specs_are_pinned_to_models_md() -> None:
    assert spec_of("yolox_nano").sha256 == "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
    assert spec_of("pydnet").sha256 == "ba97991edb4a516096557aedf56e61bf4aa4c30e34d6a38f061ef449ecf16bc7"
    assert spec_of("pydnet").larger_is_farther and not spec_of("midas_small").larger_is_farther
    assert {s.family for s in SPECS.values()} == {"yolox", "yolov8", "yolov5", "pydnet", "midas"}


def test_unknown_or_wrong_task_model_is_an_error() -> None:
    with pytest.raises(ModelError, match="unknown model"):
        spec_of("resnet")
    with pytest.raises(ModelError, match="is a depth model"):
        spec_of("pydnet", "detector")


def test_model_dir_wins_over_cache(tmp_path: Path, model_dir: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(model_dir / "pydnet.tflite", cache / "pydnet.tflite")
    settings = WorkerSettings(model_dir=model_dir, model_cache_dir=cache)
    assert resolve(spec_of("pydnet"), settings) == model_dir / "pydnet.tflite"
    only_cache = WorkerSettings(model_dir=tmp_path / "empty", model_cache_dir=cache)
    assert resolve(spec_of("pydnet"), only_cache) == cache / "pydnet.tflite"


def test_missing_unpinned_model_is_never_downloaded(tmp_path: Path) -> None:
    settings = WorkerSettings(model_dir=None, model_cache_dir=tmp_path)
    assert find_local(spec_of("yolov8n"), settings) is None
    with pytest.raises(ModelError, match="no pinned download"):
        resolve(spec_of("yolov8n"), settings)
    with pytest.raises(ModelError, match="downloads are off"):
        resolve(spec_of("yolox_nano"), settings.model_copy(update={"model_download": False, "model_packaged": False}))


def test_packaged_defaults_come_after_model_dir_and_cache(tmp_path: Path, model_dir: Path) -> None:
    """No SIGHTWIRE_MODEL_DIR, an empty cache, downloads off: the package's own verified copies answer."""
    settings = WorkerSettings(model_dir=None, model_cache_dir=tmp_path, model_download=False)
    for name in ("yolox_nano", "pydnet"):
        spec = spec_of(name)
        path = resolve(spec, settings)
        assert path.parent.name == "default" and path.parent.parent.name == "models"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    shutil.copy(model_dir / "pydnet.tflite", tmp_path / "pydnet.tflite")
    assert resolve(spec_of("pydnet"), settings) == tmp_path / "pydnet.tflite"  # the cache comes first


def test_empty_model_dir_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTWIRE_MODEL_DIR", "")
    assert WorkerSettings().model_dir is None


def test_missing_model_message_names_places_and_fix(tmp_path: Path) -> None:
    settings = WorkerSettings(model_dir=tmp_path / "mine", model_cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError) as caught:
        resolve(spec_of("yolov8n"), settings)
    text = str(caught.value)
    assert str(tmp_path / "mine") in text and str(tmp_path / "cache") in text and "package's defaults" in text
    assert "sightwire models add PATH --name yolov8n" in text and "\n" not in text


def test_cli_list_shows_where_each_model_is(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_list(WorkerSettings(model_dir=model_dir, model_cache_dir=tmp_path)) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) == set(SPECS)
    assert str(model_dir / "yolox_nano.onnx") in lines["yolox_nano"] and "detector" in lines["yolox_nano"]
    assert "yes" in lines["pydnet"]
    assert "not found (bring the file)" in lines["yolov8n"]
