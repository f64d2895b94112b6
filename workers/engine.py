"""OpenVINO inference off the event loop: N infer requests, N threads.

The model file (.onnx, .tflite or IR .xml) is read directly (a YOLOX "Focus"
stem rewritten on the way: workers/focus.py) and compiled with the worker
kind's performance hint; the worker compiles it `fused`, with the
input preprocessing built into the graph (workers/fused.py), so a job hands
over the uint8 image OpenCV produced and OpenVINO does the float conversion. The engine owns as many infer requests as
the hint asks for (OPTIMAL_NUMBER_OF_INFER_REQUESTS, or `infer_requests`) and a
thread pool of exactly that size; each job takes an idle request, runs a
synchronous `infer` (OpenVINO releases the GIL) and copies out the one output
the decoder needs. Because threads == requests a job never waits for a
request, the event loop only awaits a future, and an inference exception
surfaces in that future instead of in a callback thread. (AsyncInferQueue was
the alternative; its `start_async` blocks the caller when all requests are
busy, which is exactly what the loop must never do.)

Every request runs once on the loading thread before the pool exists. Besides
taking first-inference cost out of the first frame, this is what makes the
threads safe: OpenVINO's Python bindings (2026.4) build a function-local
static inside `Type.to_dtype()`, reached from `InferRequest.infer`'s input
dispatch, and two threads making their first call at once deadlock on it (one
holds the GIL waiting for the C++ static guard, the other holds the guard
waiting for the GIL; 14 of 40 fresh processes hung in a direct reproduction,
0 of 40 once one thread had called it first).
"""

from __future__ import annotations

import asyncio
import logging
import queue
from pathlib import Path

import numpy as np
import openvino as ov

from workers import devices
from workers.focus import rewrite_focus
from workers.fused import fuse_preprocessing
from workers.models.registry import InputSpec
from workers.threads import prestarted_pool

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """The model cannot be used with its spec (input shape mismatch, bad output index)."""


def input_shape(spec: InputSpec) -> list[int]:
    if spec.layout == "NCHW":
        return [1, 3, spec.height, spec.width]
    return [1, spec.height, spec.width, 3]


def static_input(model: ov.Model, spec: InputSpec, name: str) -> ov.Model:
    """Fix a dynamic input to the spec's shape, refuse a static mismatch."""
    expected = input_shape(spec)
    shape = model.inputs[0].get_partial_shape()
    if shape.is_dynamic:
        model.reshape({model.inputs[0]: ov.PartialShape(expected)})
    elif list(shape.to_shape()) != expected:
        raise EngineError(f"{name}: input shape {shape} does not match the spec's {expected}")
    return model


def read_model(core: ov.Core, path: Path, spec: InputSpec, *, rewrite_stem: bool = True) -> ov.Model:
    """Read the model with its input fixed to the spec's shape and a YOLOX-style slicing stem rewritten
    as one strided convolution (workers/focus.py: same outputs, faster kernels; `rewrite_stem=False`
    keeps the file's own graph, for benchmarks)."""
    model = static_input(core.read_model(str(path)), spec, path.name)
    return rewrite_focus(model, path.name) if rewrite_stem else model


def compile_model(
    path: Path,
    spec: InputSpec,
    device: str,
    hint: str,
    requests: int,
    cache_dir: Path | None,
    precision: str | None = None,
    *,
    fused: bool = False,
    rewrite_stem: bool = True,
) -> ov.CompiledModel:
    """Compile the model; `fused` builds the spec's preprocessing in (uint8 BGR HWC in: workers/fused.py)."""
    core = ov.Core()
    config = devices.config(hint, requests, precision)  # device check, cache, timing: workers/devices.py
    model = read_model(core, path, spec, rewrite_stem=rewrite_stem)
    model = fuse_preprocessing(model, spec) if fused else model
    return devices.compile_timed(core, model, device, config, cache_dir, path.name)


class Engine:
    """A compiled model served by a fixed pool of infer requests and threads."""

    def __init__(
        self, compiled: ov.CompiledModel, requests: int, output_index: int = 0, *, fused: bool = False
    ) -> None:
        if not 0 <= output_index < len(compiled.outputs):
            raise EngineError(f"output {output_index} out of range: model has {len(compiled.outputs)}")
        self.compiled = compiled
        self.fused = fused  # takes the uint8 BGR HWC image (tasks.Prepared with fused=True)
        self.size = requests or int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.output_index = output_index
        self._idle: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()
        self.warmup_ms: list[float] = []  # each request's first inference, run here
        for _ in range(self.size):
            self._idle.put(self._warmed_up(compiled.create_infer_request()))
        self._pool = prestarted_pool(self.size, "infer")

    def _warmed_up(self, request: ov.InferRequest) -> ov.InferRequest:
        """Run one inference on zeros in this (single) thread; see the module docstring for why."""
        port = self.compiled.inputs[0]
        zeros = np.zeros(list(port.get_shape()), port.get_element_type().to_dtype())
        request.infer({0: zeros})
        request.get_output_tensor(self.output_index)
        self.warmup_ms.append(request.latency)
        return request

    @classmethod
    def load(
        cls,
        path: Path,
        spec: InputSpec,
        *,
        device: str = "CPU",
        hint: str = "LATENCY",
        requests: int = 0,
        output_index: int = 0,
        cache_dir: Path | None = None,
        precision: str | None = None,
        fused: bool = False,
    ) -> Engine:
        """Read and compile (blocking: call it through `asyncio.to_thread`)."""
        compiled = compile_model(path, spec, device, hint, requests, cache_dir, precision, fused=fused)
        engine = cls(compiled, requests, output_index, fused=fused)
        log.info(
            "model compiled",
            extra={
                "model": path.name,
                "device": device,
                "hint": hint,
                "fused_preprocessing": fused,
                "requests": engine.size,
                "warmup_ms": [round(ms, 1) for ms in engine.warmup_ms],
            },
        )
        return engine

    def infer_sync(self, tensor: np.ndarray) -> np.ndarray:
        """Run one inference in the calling thread; returns a copy of the selected output."""
        request = self._idle.get(timeout=60)
        try:
            # share_inputs: OpenVINO reads the array in place (each job owns its array until
            # infer returns) instead of a Python-level copy into the request's tensor.
            request.infer({0: tensor}, share_inputs=True)
            return np.array(request.get_output_tensor(self.output_index).data, copy=True)
        finally:
            self._idle.put(request)

    async def infer(self, tensor: np.ndarray) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.infer_sync, tensor)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
