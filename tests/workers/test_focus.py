"""The Focus stem rewrite (workers/focus.py) changes how YOLOX's first layer runs, never what it computes.

yolox_nano as read by the engine (stem folded into one strided convolution) against the same file read
plainly, both compiled with the f32 precision hint (this CPU may default to bf16, which would hide
nothing but noise): raw outputs on real COCO photos agree to float rounding and the detections are the
same, on the reference path and on the worker's fused path. Small graphs built here cover the other
forms (SpaceToDepth, with and without a Gather; StridedSlice; other conv strides and pads), where
outputs must be equal. Models without the pattern come back untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from shared.envelopes import Box
from workers.engine import Engine, read_model, static_input
from workers.focus import rewrite_focus
from workers.fused import fuse_preprocessing
from workers.images import decode_jpeg
from workers.models.registry import ModelSpec, spec_of
from workers.preprocess import to_tensor
from workers.settings import WorkerSettings
from workers.tasks import DetectorTask

PHOTOS = 8
F32 = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
# The folded convolution sums the same products in another order: differences are float rounding.
# YOLOX's output holds pixel boxes (hundreds) and sigmoid scores; 1e-3 absolute is far below a pixel.
RAW_ATOL, RAW_RTOL = 1e-3, 1e-5
PHASES = [(0, 0), (1, 0), (0, 1), (1, 1)]  # YOLOX's concat order: x[::2, ::2], x[1::2, ::2], ...


def original(path: Path, spec: ModelSpec) -> ov.Model:
    """The model file as it is, input fixed, no rewrite."""
    return static_input(ov.Core().read_model(str(path)), spec.input, path.name)


def op_types(model: ov.Model) -> list[str]:
    return [node.get_type_name() for node in model.get_ordered_ops()]


def compiled(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", F32)


def infer(model: ov.CompiledModel, tensor: np.ndarray) -> np.ndarray:
    return np.asarray(model.create_infer_request().infer({0: tensor})[model.outputs[0]]).copy()


@pytest.fixture(scope="module")
def jpegs(coco_dir: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(coco_dir.glob("*.jpg"))[:PHOTOS]]


def test_yolox_stem_becomes_one_strided_convolution(model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = spec_of("yolox_nano")
    before = original(model_dir / spec.filename, spec)
    with caplog.at_level(logging.INFO, logger="workers.focus"):
        after = read_model(ov.Core(), model_dir / spec.filename, spec.input)
    assert op_types(before).count("Slice") == 8 and "Slice" not in op_types(after)
    assert op_types(after).count("Convolution") == op_types(before).count("Convolution")
    first = next(n for n in after.get_ordered_ops() if n.get_type_name() == "Convolution")
    assert first.input_value(0).get_node().get_type_name() == "Parameter"
    assert list(first.input_value(1).get_shape()) == [16, 3, 6, 6] and list(first.get_attributes()["strides"]) == [2, 2]
    record = next(r for r in caplog.records if r.getMessage() == "focus stem")
    assert record.applied is True and record.rewritten == ["Concat_40: strided_conv"]  # type: ignore[attr-defined]


def test_yolox_outputs_and_detections_unchanged_on_photos(model_dir: Path, jpegs: list[bytes]) -> None:
    spec = spec_of("yolox_nano")
    path = model_dir / spec.filename
    plain, rewritten = compiled(original(path, spec)), compiled(read_model(ov.Core(), path, spec.input))
    task = DetectorTask(spec, WorkerSettings(model_dir=model_dir))
    boxes = 0
    for jpeg in jpegs:
        tensor, geometry = to_tensor(decode_jpeg(jpeg, 10**8), spec.input)
        want, got = infer(plain, tensor), infer(rewritten, tensor)
        np.testing.assert_allclose(got, want, rtol=RAW_RTOL, atol=RAW_ATOL)
        assert_same_boxes(task.finish(got, geometry), task.finish(want, geometry))
        boxes += len(task.finish(want, geometry))
    assert boxes >= PHOTOS, "the photos hold objects: an empty comparison would prove nothing"


def test_yolox_detections_unchanged_on_the_workers_fused_path(model_dir: Path, jpegs: list[bytes]) -> None:
    spec = spec_of("yolox_nano")
    path = model_dir / spec.filename
    engines = [
        Engine(compiled(fuse_preprocessing(model, spec.input)), 1, spec.output_index, fused=True)
        for model in (original(path, spec), read_model(ov.Core(), path, spec.input))
    ]
    task = DetectorTask(spec, WorkerSettings(model_dir=model_dir), fused=True)
    try:
        for jpeg in jpegs:
            prepared = task.prepare(jpeg)
            want, got = (task.finish(e.infer_sync(prepared.tensor), prepared.geometry) for e in engines)
            assert want
            assert_same_boxes(got, want)
    finally:
        for engine in engines:
            engine.close()


def assert_same_boxes(got: list[Box], want: list[Box]) -> None:
    assert [b.class_id for b in got] == [b.class_id for b in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose([g.x1, g.y1, g.x2, g.y2, g.score], [w.x1, w.y1, w.x2, w.y2, w.score], atol=1e-5)


@pytest.mark.parametrize("name", ["pydnet.tflite", "yolo11n_int8/yolo11n.xml", "yolov5n.onnx"])
def test_models_without_the_stem_are_left_unchanged(
    name: str, model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = ov.Core().read_model(str(model_dir / name))
    before = [(n.get_type_name(), n.get_friendly_name()) for n in model.get_ordered_ops()]
    with caplog.at_level(logging.INFO, logger="workers.focus"):
        rewritten = rewrite_focus(model, name)
    assert [(n.get_type_name(), n.get_friendly_name()) for n in rewritten.get_ordered_ops()] == before
    assert [r.applied for r in caplog.records if r.getMessage() == "focus stem"] == [False]  # type: ignore[attr-defined]


# --- small graphs built here: every form of the rewrite, checked against the unrewritten graph ---

SHAPE = [1, 3, 16, 12]
ONE_BY_ONE = {"strides": [1, 2], "pads_begin": [0, 0], "pads_end": [0, 0], "kernel": [1]}


def phase(source: ov.Node, row: int, col: int, strided: bool) -> ov.Node:
    """`source[..., row::2, col::2]` as two Slices (what the ONNX importer makes) or one StridedSlice."""
    big = np.iinfo(np.int64).max
    if strided:
        begin, end, step = [0, 0, row, col], [0, 0, big, big], [1, 1, 2, 2]
        return ops.strided_slice(source, begin, end, step, begin_mask=[1, 1, 0, 0], end_mask=[1, 1, 0, 0])
    rows = ops.slice(source, np.array([row]), np.array([big]), np.array([2]), np.array([2]))
    return ops.slice(rows, np.array([col]), np.array([big]), np.array([2]), np.array([3]))


def focus_graph(order: list[tuple[int, int]], head: str, strided: bool = False, **conv: list[int]) -> ov.Model:
    image = ops.parameter(SHAPE, np.float32)
    stacked = ops.concat([phase(image, r, c, strided) for r, c in order], axis=1)
    if head == "conv":
        kernel = conv.pop("kernel", [3])[0]
        weights = np.random.default_rng(1).normal(size=(5, 12, kernel, kernel)).astype(np.float32)
        out = ops.convolution(stacked, weights, dilations=[1, 1], **conv)
    else:
        out = ops.relu(stacked)
    return ov.Model([out], [image])


@pytest.mark.parametrize(
    ("order", "head", "strided", "conv", "form"),
    [
        (PHASES, "conv", False, {"strides": [1, 1], "pads_begin": [1, 1], "pads_end": [1, 1]}, "strided_conv"),
        (PHASES, "conv", True, {"strides": [2, 1], "pads_begin": [0, 1], "pads_end": [1, 0]}, "strided_conv"),
        (PHASES, "conv", False, ONE_BY_ONE, "strided_conv"),
        (PHASES, "relu", True, {}, "space_to_depth+gather"),
        ([(0, 0), (0, 1), (1, 0), (1, 1)], "relu", False, {}, "space_to_depth"),
    ],
)
def test_every_form_computes_what_the_slices_compute(
    order: list[tuple[int, int]], head: str, strided: bool, conv: dict[str, list[int]], form: str
) -> None:
    rewritten = rewrite_focus(focus_graph(order, head, strided, **dict(conv)))
    assert not {"Slice", "StridedSlice", "Concat"} & set(op_types(rewritten))
    assert ("Convolution" if form == "strided_conv" else "SpaceToDepth") in op_types(rewritten)
    assert ("Gather" in op_types(rewritten)) == form.endswith("gather")
    image = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)
    want = infer(compiled(focus_graph(order, head, strided, **dict(conv))), image)
    got = infer(compiled(rewritten), image)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 if head == "conv" else 0)


def test_slices_of_two_sources_are_not_a_stem() -> None:
    first, second = ops.parameter(SHAPE, np.float32), ops.parameter(SHAPE, np.float32)
    sources = [first, first, first, second]
    stacked = ops.concat([phase(s, r, c, False) for s, (r, c) in zip(sources, PHASES, strict=True)], axis=1)
    model = ov.Model([ops.relu(stacked)], [first, second])
    before = op_types(model)
    assert op_types(rewrite_focus(model)) == before and "Concat" in before
