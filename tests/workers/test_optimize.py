"""`sightwire models optimize --int8`: NNCF quantizes yolox_nano on 20 photos; the IR loads and
finds what the FP model finds on the other 40."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.cli import main
from shared.envelopes import Box
from workers.engine import Engine
from workers.models.registry import spec_of
from workers.optimize import matches, optimize
from workers.settings import WorkerSettings

CALIBRATION = 20
# The target is >= 95 % (measured: 95 % of FP boxes found at the 0.25 publish threshold); a
# quantization that really broke the model lands far below this bound (57 % when NNCF was given
# the unfolded ONNX graph).
AGREEMENT_FLOOR = 0.85


@pytest.fixture
def photo_split(coco_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    calibration, evaluation = tmp_path / "calibration", tmp_path / "eval"
    calibration.mkdir()
    evaluation.mkdir()
    for i, photo in enumerate(sorted(coco_dir.glob("*.jpg"))):
        shutil.copy(photo, calibration if i < CALIBRATION else evaluation)
    return calibration, evaluation


def test_int8_ir_is_written_loads_and_agrees_with_fp(
    model_dir: Path, photo_split: tuple[Path, Path], tmp_path: Path
) -> None:
    calibration, evaluation = photo_split
    settings = WorkerSettings(model_dir=model_dir)
    report = optimize("yolox_nano", settings, calibration, evaluation, tmp_path / "out", bench_frames=40)
    ir = Path(report.int8_path)
    assert ir == tmp_path / "out" / "yolox_nano_int8.xml" and ir.with_suffix(".bin").stat().st_size > 100_000
    assert (report.calibration_images, report.eval_images) == (20, 40)
    assert report.fp_boxes > 40 and report.matched <= min(report.fp_boxes, report.int8_boxes)
    assert report.agreement >= AGREEMENT_FLOOR, report
    assert report.int8_matched_share >= AGREEMENT_FLOOR, report
    assert report.fp_fps > 0 and report.int8_fps > 0 and report.speedup > 0
    engine = Engine.load(ir, spec_of("yolox_nano").input, requests=1, fused=True)
    engine.close()


def test_cli_refuses_incomplete_requests(
    model_dir: Path, photo_split: tuple[Path, Path], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGHTWIRE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SIGHTWIRE_MODEL_DOWNLOAD", "false")
    calibration, _ = photo_split
    assert main(["models", "optimize", "yolox_nano", "--calibration", str(calibration)]) == 2
    assert "--int8" in capfd.readouterr().out
    assert main(["models", "optimize", "--int8", "--calibration", str(calibration)]) == 2
    assert main(["models", "optimize", "pydnet", "--int8", "--calibration", str(calibration)]) == 1
    assert "depth model" in capfd.readouterr().out
    empty = calibration.parent / "empty"
    empty.mkdir()
    assert main(["models", "optimize", "yolox_nano", "--int8", "--calibration", str(empty)]) == 1
    assert "no .jpg images" in capfd.readouterr().out


def test_matching_is_one_to_one_by_class_and_iou() -> None:
    a = Box(0.1, 0.1, 0.5, 0.5, 0.9, 0, "person")
    shifted = Box(0.12, 0.1, 0.52, 0.5, 0.8, 0, "person")
    other_class = Box(0.1, 0.1, 0.5, 0.5, 0.8, 2, "car")
    assert matches([a], [shifted]) == 1
    assert matches([a, a], [shifted]) == 1  # one INT8 box answers one FP box
    assert matches([a], [other_class]) == 0
    assert matches([a], [Box(0.4, 0.4, 0.9, 0.9, 0.9, 0, "person")]) == 0
