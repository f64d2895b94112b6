"""`sightwire models add`: real export folders and files in, a store entry a worker can run out."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workers.models.support import two_class_export
from workers.models.add import Request, add, infer_family
from workers.models.labels import COCO80
from workers.models.registry import ModelError, resolve, spec_of
from workers.settings import WorkerSettings


@pytest.fixture
def settings(tmp_path: Path) -> WorkerSettings:
    return WorkerSettings(model_dir=None, model_cache_dir=tmp_path / "cache", model_store_dir=tmp_path / "store")


@pytest.mark.parametrize(
    ("source", "family", "file"),
    [("yolo11n_int8", "yolov8", "yolo11n.xml"), ("yolov8n_int8", "yolov8", "yolov8n.xml"),
     ("yolov5n.onnx", "yolov5", "yolov5n.onnx"), ("yolox_nano.onnx", "yolox", "yolox_nano.onnx")],
)  # fmt: skip
def test_family_and_labels_follow_from_the_files(
    settings: WorkerSettings, model_dir: Path, source: str, family: str, file: str
) -> None:
    manifest, folder = add(Request(model_dir / source, name="m"), settings)
    assert (manifest.family, manifest.file, manifest.labels) == (family, file, list(COCO80))
    spec = spec_of("m", "detector", settings)
    assert spec.family == family and spec.labels == COCO80 and resolve(spec, settings) == folder / file
    size = 416 if family == "yolox" else 640
    assert (spec.input.width, spec.input.height) == (size, size)
    assert spec.input.colour == ("BGR" if family == "yolox" else "RGB")
    if file.endswith(".xml"):
        assert (folder / file.replace(".xml", ".bin")).is_file() and (folder / "metadata.yaml").is_file()


def test_output_shapes_decide_the_family() -> None:
    assert infer_family([1, 84, 8400], 640, 640) == ("yolov8", 80)
    assert infer_family([1, 6, 8400], 640, 640) == ("yolov8", 2)
    assert infer_family([1, 25200, 85], 640, 640) == ("yolov5", 80)
    assert infer_family([1, 3549, 85], 416, 416) == ("yolox", 80)
    with pytest.raises(ModelError, match="no known family"):
        infer_family([1, 1000, 85], 640, 640)
    with pytest.raises(ModelError, match="not a YOLO detection head"):
        infer_family([1, 1000], 640, 640)


def test_two_class_export_keeps_its_names(settings: WorkerSettings, model_dir: Path, tmp_path: Path) -> None:
    folder = two_class_export(model_dir, tmp_path / "runs" / "weights" / "best_openvino_model")
    manifest, _ = add(Request(folder, name="roads"), settings)
    assert manifest.labels == ["crack", "pothole"] and manifest.family == "yolov8"
    assert spec_of("roads", "detector", settings).labels == ("crack", "pothole")


def test_refusals_say_why(settings: WorkerSettings, model_dir: Path, tmp_path: Path) -> None:
    seg = tmp_path / "seg"
    shutil.copytree(model_dir / "yolov8n_int8", seg)
    (seg / "metadata.yaml").write_text((seg / "metadata.yaml").read_text().replace("task: detect", "task: segment"))
    with pytest.raises(ModelError, match="only detection models"):
        add(Request(seg), settings)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("crack\npothole\n")
    with pytest.raises(ModelError, match="2 class names given, but the model outputs 80"):
        add(Request(model_dir / "yolov5n.onnx", labels_file=wrong), settings)
    no_bin = tmp_path / "no_bin"
    no_bin.mkdir()
    shutil.copy(model_dir / "yolov8n_int8" / "yolov8n.xml", no_bin)
    with pytest.raises(ModelError, match=r"weights yolov8n\.bin are missing"):
        add(Request(no_bin), settings)
    with pytest.raises(ModelError, match="no such file"):
        add(Request(tmp_path / "nothing"), settings)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_labels_file_overrides_and_names_the_classes(settings: WorkerSettings, model_dir: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"thing{i}" for i in range(80)) + "\n")
    manifest, _ = add(Request(model_dir / "yolov5n.onnx", labels_file=labels), settings)
    assert manifest.name == "yolov5n" and manifest.labels[0] == "thing0" and len(manifest.labels) == 80
    assert spec_of("yolov5n", "detector", settings).location is not None  # the registered one shadows the built-in


def test_cli_add_prints_how_to_run_it(tmp_path: Path, model_dir: Path) -> None:
    env = {"SIGHTWIRE_MODEL_STORE_DIR": str(tmp_path / "store"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "models", "add", str(model_dir / "yolo11n_int8")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "added yolo11n_int8: yolov8 detector, 80 classes, 640x640" in done.stdout
    assert "SIGHTWIRE_DETECTOR_MODEL=yolo11n_int8 sightwire up" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "shared.cli", "models", "add", str(tmp_path / "missing")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "no such file" in bad.stdout and "Traceback" not in bad.stderr
