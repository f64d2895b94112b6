"""What MODELS.md says the real Ultralytics detectors find on two photos, and a real 2-class model.

The 2-class model is YOLOv8n's real graph with its output sliced to 4 box rows
plus 2 class rows (OpenVINO ops, saved as IR): a genuine `[1, 6, 8400]`
detector, the shape a custom `yolo train` with two classes exports, so that
`models add` and the whole pipeline handle it as they would the user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

STOP_SIGN = "000000000724.jpg"
LIVING_ROOM = "000000000139.jpg"


@dataclass(frozen=True)
class Seen:
    label: str
    score: float
    box: tuple[int, int, int, int] | None = None  # pixels; None where MODELS.md gives none


# MODELS.md, "Seen on the test photos (f32 precision)": the best detection of each listed class.
EXPECTED: dict[str, dict[str, list[Seen]]] = {
    "yolo11n_int8": {
        STOP_SIGN: [Seen("stop sign", 0.92, (121, 70, 255, 226))],
        LIVING_ROOM: [
            Seen("tv", 0.90, (6, 167, 155, 262)),
            Seen("chair", 0.82, (292, 218, 353, 316)),
            Seen("person", 0.66, (418, 157, 465, 297)),
        ],
    },
    "yolov8n_int8": {
        STOP_SIGN: [Seen("stop sign", 0.97, (120, 71, 255, 226))],
        LIVING_ROOM: [
            Seen("tv", 0.93),
            Seen("chair", 0.85),
            Seen("person", 0.73, (412, 157, 466, 299)),
            Seen("refrigerator", 0.43),
        ],
    },
    "yolov5n": {
        STOP_SIGN: [Seen("stop sign", 0.85, (120, 71, 253, 226))],
        LIVING_ROOM: [
            Seen("tv", 0.88, (2, 164, 156, 270)),
            Seen("chair", 0.85),
            Seen("person", 0.68, (411, 159, 470, 300)),
        ],
    },
}

SOURCES = {"yolo11n_int8": "yolo11n_int8", "yolov8n_int8": "yolov8n_int8", "yolov5n": "yolov5n.onnx"}
SCORE_TOLERANCE = 0.05
BOX_TOLERANCE_PX = 8


def mismatches(expected: list[Seen], found: list[tuple[str, float, tuple[int, ...]]]) -> list[str]:
    """Each expected detection against the best-scoring found one of its class; empty when all match."""
    problems = []
    for want in expected:
        same = sorted((f for f in found if f[0] == want.label), key=lambda f: -f[1])
        if not same:
            problems.append(f"no {want.label}")
            continue
        _, score, box = same[0]
        if abs(score - want.score) > SCORE_TOLERANCE:
            problems.append(f"{want.label} score {score:.2f} vs {want.score:.2f}")
        if want.box and max(abs(a - b) for a, b in zip(box, want.box, strict=True)) > BOX_TOLERANCE_PX:
            problems.append(f"{want.label} box {list(box)} vs {list(want.box)}")
    return problems


def two_class_export(model_dir: Path, dest: Path, names: tuple[str, str] = ("crack", "pothole")) -> Path:
    """An Ultralytics-style export folder of a real 2-class detector: xml, bin and metadata.yaml."""
    core = ov.Core()
    model = core.read_model(str(model_dir / "yolov8n_int8" / "yolov8n.xml"))
    result = model.get_results()[0]
    head = result.input_value(0)  # [1, 84, 8400]
    sliced = ops.slice(head, np.array([0]), np.array([6]), np.array([1]), np.array([1]))
    result.input(0).replace_source_output(sliced.output(0))
    model.validate_nodes_and_infer_types()
    dest.mkdir(parents=True)
    ov.save_model(model, str(dest / "best.xml"), compress_to_fp16=False)
    meta = (model_dir / "yolov8n_int8" / "metadata.yaml").read_text()
    head_text = meta.split("names:")[0]
    (dest / "metadata.yaml").write_text(f"{head_text}names:\n  0: {names[0]}\n  1: {names[1]}\n")
    return dest
