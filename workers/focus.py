"""YOLOX's "Focus" stem rewritten as one strided convolution: the same numbers, a fraction of the time.

YOLOX (and YOLOv5 before v6) starts with a space-to-depth written as four
strided slices of the image, `x[..., ::2, ::2]`, `x[..., 1::2, ::2]`,
`x[..., ::2, 1::2]`, `x[..., 1::2, 1::2]`, concatenated on channels and fed to
a convolution. OpenVINO's CPU plugin runs those slices as reference (`ref_f32`)
copies: about 2.5 ms of yolox_nano's 29 ms on one thread of this AVX2 CPU.

A k x k convolution over the space-to-depth image is a 2k x 2k convolution
with twice the stride and twice the padding over the image itself (phase
(row, col) of tap (i, j) is pixel (2i + row, 2j + col) of the larger kernel;
YOLOv5 v6 made the same change in training). So where the concat feeds only a
convolution with constant weights, the slices, the concat and that convolution
become one convolution with rearranged weights: no data is moved at all, the
multiply-adds are the same ones, and outputs agree to float rounding.
Otherwise the concat becomes `SpaceToDepth` (an optimized kernel), with a
Gather restoring the concat's channel order where it differs. The pattern is
found structurally (Slice or StridedSlice, any phase order, any channel count)
and a model without it is returned untouched.

Applied where models are read (workers/engine.py) and before NNCF quantizes
(workers/optimize.py), so the INT8 IR is built from the rewritten graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

log = logging.getLogger(__name__)

BLOCK = 2
SPATIAL_AXES = (2, 3)  # NCHW
INT64_MAX = np.iinfo(np.int64).max
EXPLICIT_PADS = ("explicit", "notset", "valid")  # the fold doubles pads; an auto "same" pad it cannot


@dataclass(frozen=True)
class Phase:
    """One branch of the Focus concat: `source[..., row::2, col::2]`."""

    source: ov.Output
    row: int
    col: int


AXIS_MASKS = ("new_axis_mask", "shrink_axis_mask", "ellipsis_mask")


@dataclass(frozen=True)
class SliceBounds:
    """A Slice or StridedSlice with constant bounds, as per-axis lists (masks only from StridedSlice)."""

    axes: list[int]
    starts: list[int]
    stops: list[int]
    steps: list[int]
    begin_mask: list[int]
    end_mask: list[int]

    def step_of(self, i: int, shape: ov.PartialShape) -> tuple[int, int, int] | None:
        """(axis, start, step) of the i-th sliced axis if it runs to the end of that axis, else None."""
        axis = self.axes[i] % shape.rank.get_length()
        start = 0 if i < len(self.begin_mask) and self.begin_mask[i] else self.starts[i]
        stop, dim = self.stops[i], shape[axis]
        to_end = bool(i < len(self.end_mask) and self.end_mask[i]) or stop >= INT64_MAX // 2
        to_end = to_end or (dim.is_static and stop >= dim.get_length())
        return (axis, start, self.steps[i]) if to_end and start >= 0 and self.steps[i] >= 1 else None


def constant_values(value: ov.Output) -> list[int] | None:
    node = value.get_node()
    if node.get_type_name() != "Constant":
        return None
    return [int(v) for v in np.asarray(node.get_data()).reshape(-1)]


def slice_bounds(node: ov.Node) -> SliceBounds | None:
    """The bounds of a Slice (opset8) or a StridedSlice without axis-changing masks; None otherwise."""
    kind = node.get_type_name()
    inputs = {"Slice": 4, "StridedSlice": 3}.get(kind)
    if inputs is None:
        return None
    values = [constant_values(node.input_value(i)) for i in range(1, inputs + 1)]
    if any(v is None for v in values):
        return None
    starts, stops, steps, *rest = (v or [] for v in values)
    if kind == "Slice":
        return SliceBounds(rest[0], starts, stops, steps, [], [])
    attrs = node.get_attributes()
    if any(any(attrs[mask]) for mask in AXIS_MASKS):
        return None
    return SliceBounds(list(range(len(starts))), starts, stops, steps, attrs["begin_mask"], attrs["end_mask"])


def slice_steps(node: ov.Node) -> dict[int, tuple[int, int]] | None:
    """{axis: (start, step)} of each axis a slicing op actually slices, each running to the axis' end;
    None if it is anything else (a bounded stop, a negative index, non-constant bounds...)."""
    bounds = slice_bounds(node)
    if bounds is None:
        return None
    shape = node.input_value(0).get_partial_shape()
    steps = [bounds.step_of(i, shape) for i in range(len(bounds.axes))]
    if any(s is None for s in steps):
        return None
    return {axis: (start, step) for axis, start, step in filter(None, steps) if (start, step) != (0, 1)}


def phase_of(value: ov.Output) -> Phase | None:
    """The phase a chain of slicing ops takes from its source, if it is a 2x2 space-to-depth phase."""
    rank = value.get_partial_shape().rank
    if rank.is_dynamic or rank.get_length() != 4:
        return None
    taken: dict[int, tuple[int, int]] = {}
    while value.get_node().get_type_name() in ("Slice", "StridedSlice"):
        steps = slice_steps(value.get_node())
        if steps is None or taken.keys() & steps.keys():
            return None
        taken |= steps
        value = value.get_node().input_value(0)
    if set(taken) != set(SPATIAL_AXES) or any(step != BLOCK or start >= BLOCK for start, step in taken.values()):
        return None
    return Phase(value, taken[SPATIAL_AXES[0]][0], taken[SPATIAL_AXES[1]][0])


def focus_phases(concat: ov.Node) -> list[Phase] | None:
    """The concat's four inputs as the four phases of one even-sized NCHW source, in concat order."""
    if concat.get_type_name() != "Concat" or concat.get_input_size() != BLOCK * BLOCK:
        return None
    if concat.get_attributes()["axis"] not in (1, -3):
        return None
    phases = [phase_of(concat.input_value(i)) for i in range(concat.get_input_size())]
    if any(p is None for p in phases):
        return None
    found = [p for p in phases if p is not None]
    if len({p.source for p in found}) != 1 or {(p.row, p.col) for p in found} != {(0, 0), (0, 1), (1, 0), (1, 1)}:
        return None
    shape = found[0].source.get_partial_shape()
    if shape.is_dynamic or any(shape[a].get_length() % BLOCK for a in SPATIAL_AXES):
        return None
    return found


def channel_map(phases: list[Phase], channels: int) -> list[int]:
    """For each concat channel, the SpaceToDepth(BLOCKS_FIRST) channel holding the same values."""
    return [(p.row * BLOCK + p.col) * channels + c for p in phases for c in range(channels)]


def constant_weights(value: ov.Output) -> np.ndarray | None:
    """A convolution's weights if they are a constant (or a constant behind a Convert, as in f16 IRs)."""
    node = value.get_node()
    if node.get_type_name() == "Convert" and node.input_value(0).get_node().get_type_name() == "Constant":
        return np.asarray(node.input_value(0).get_node().get_data()).astype(node.get_output_element_type(0).to_dtype())
    if node.get_type_name() == "Constant":
        return np.asarray(node.get_data())
    return None


def foldable_conv(concat: ov.Node) -> tuple[ov.Node, np.ndarray] | None:
    """The concat's only consumer and its weights, if it is a plain convolution we can fold the stem into."""
    consumers = list(concat.output(0).get_target_inputs())
    if len(consumers) != 1 or consumers[0].get_index() != 0:
        return None
    conv = consumers[0].get_node()
    if conv.get_type_name() != "Convolution":
        return None
    attrs = conv.get_attributes()
    weights = constant_weights(conv.input_value(1))
    if weights is None or any(d != 1 for d in attrs["dilations"]) or attrs["auto_pad"] not in EXPLICIT_PADS:
        return None
    return conv, weights


def full_resolution_weights(weights: np.ndarray, phases: list[Phase]) -> np.ndarray:
    """Weights [O, 4C, kh, kw] over the phases -> weights [O, C, 2kh, 2kw] over the full image: phase
    (row, col) of tap (i, j) is pixel (2i + row, 2j + col) of the larger kernel."""
    out, depth, kh, kw = weights.shape
    channels = depth // len(phases)
    full = np.zeros((out, channels, BLOCK * kh, BLOCK * kw), weights.dtype)
    for index, phase in enumerate(phases):
        full[:, :, phase.row :: BLOCK, phase.col :: BLOCK] = weights[:, index * channels : (index + 1) * channels]
    return full


def fold_into_conv(conv: ov.Node, weights: np.ndarray, phases: list[Phase]) -> None:
    """Replace slices + concat + conv by one convolution on the full image: stride, kernel and padding
    doubled. A conv over the space-to-depth image reads exactly these pixels, and padding by p half-size
    pixels is padding by 2p full-size ones."""
    attrs = conv.get_attributes()
    folded = ops.convolution(
        phases[0].source,
        ops.constant(full_resolution_weights(weights, phases)),
        strides=[BLOCK * s for s in attrs["strides"]],
        pads_begin=[BLOCK * p for p in attrs["pads_begin"]],
        pads_end=[BLOCK * p for p in attrs["pads_end"]],
        dilations=[1, 1],
        auto_pad="explicit" if attrs["auto_pad"] == "notset" else attrs["auto_pad"],
    )
    folded.set_friendly_name(f"{conv.get_friendly_name()}/focus_folded")
    conv.output(0).replace(folded.output(0))


def space_to_depth(concat: ov.Node, phases: list[Phase]) -> str:
    """Replace the concat by SpaceToDepth, a Gather restoring the channel order where it differs."""
    source = phases[0].source
    mapping = channel_map(phases, source.get_partial_shape()[1].get_length())
    replacement: ov.Node = ops.space_to_depth(source, "blocks_first", BLOCK)
    replacement.set_friendly_name(f"{concat.get_friendly_name()}/space_to_depth")
    if mapping != sorted(mapping):
        replacement = ops.gather(replacement, ops.constant(np.array(mapping, np.int64)), ops.constant(np.int64(1)))
    concat.output(0).replace(replacement.output(0))
    return "space_to_depth" if mapping == sorted(mapping) else "space_to_depth+gather"


def replace_stem(concat: ov.Node, phases: list[Phase]) -> str:
    """Rewrite one Focus stem; returns which form replaced it."""
    conv = foldable_conv(concat)
    if conv is None:
        return space_to_depth(concat, phases)
    fold_into_conv(*conv, phases)
    return "strided_conv"


def rewrite_focus(model: ov.Model, name: str = "") -> ov.Model:
    """`model` with every Focus slicing stem replaced (in place; returned for chaining). Logs whether the
    pattern was found, and how it was replaced."""
    rewritten = []
    for node in model.get_ordered_ops():
        phases = focus_phases(node)
        if phases is not None:
            rewritten.append(f"{node.get_friendly_name()}: {replace_stem(node, phases)}")
    if rewritten:
        model.validate_nodes_and_infer_types()
    log.info("focus stem", extra={"model": name, "applied": bool(rewritten), "rewritten": rewritten})
    return model
