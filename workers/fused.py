"""Preprocessing compiled into the model (OpenVINO `PrePostProcessor`).

The worker hands OpenVINO the letterboxed (or stretched) uint8 image exactly as
OpenCV produced it, HWC in BGR order, batch of one; the compiled model itself
converts it to float, swaps BGR to RGB when the family wants RGB, scales,
subtracts the mean, divides by the std and transposes to the model's layout.
Those steps run inside OpenVINO's graph (fused with the first layers, on its own
threads, no GIL), instead of as four full-size numpy passes in Python, and the
input tensor is a view of OpenCV's output: no float copy of the frame exists.

Resizing stays in OpenCV on uint8 (a letterbox needs a grey canvas anyway, and
`PrePostProcessor.resize` would need a dynamic spatial input: one input shape
per camera size, which keeps the compiled model from being static).
`preprocess.to_tensor` is the reference NumPy path with the same semantics; the
tests compare both on real photos for every model family.
"""

from __future__ import annotations

import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor

from workers.models.registry import InputSpec

FUSED_LAYOUT = "NHWC"


def fused_input_shape(spec: InputSpec) -> list[int]:
    """The shape of the tensor a fused model takes: one uint8 BGR image, HWC."""
    return [1, spec.height, spec.width, 3]


def fuse_preprocessing(model: ov.Model, spec: InputSpec) -> ov.Model:
    """`model` (input already fixed to the spec's static shape) with `spec`'s preprocessing built in."""
    ppp = PrePostProcessor(model)
    port = ppp.input(0)
    port.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout(FUSED_LAYOUT)).set_color_format(ColorFormat.BGR)
    port.model().set_layout(ov.Layout(spec.layout))
    steps = port.preprocess()
    steps.convert_element_type(ov.Type.f32)
    if spec.colour == "RGB":
        steps.convert_color(ColorFormat.RGB)
    if spec.scale != 1.0:
        steps.scale(1.0 / spec.scale)
    if spec.mean is not None:
        steps.mean(list(spec.mean))
    if spec.std is not None:
        steps.scale(list(spec.std))
    return ppp.build()
