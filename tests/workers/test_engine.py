"""The OpenVINO engine: warmed up on one thread, then safe and exact under concurrent use."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workers.engine import Engine, EngineError
from workers.models.registry import spec_of

# In a fresh interpreter: load the engine, then 2 x requests threads make their first inference at
# the same instant: the path on which a worker once hung for good (OpenVINO 2026.4's bindings
# deadlock when two threads first reach `Type.to_dtype()` together). Rare without the warm-up,
# so this is a smoke check; the deterministic check is the warm-up test below.
FIRST_CONCURRENT_INFERENCE = """
import sys, threading
import numpy as np
from pathlib import Path
from workers.engine import Engine
from workers.models.registry import spec_of

spec = spec_of("yolox_nano")
engine = Engine.load(Path(sys.argv[1]) / spec.filename, spec.input, hint="THROUGHPUT", requests=2)
barrier = threading.Barrier(4)
tensor = np.zeros((1, 3, 416, 416), np.float32)

def first_inference():
    barrier.wait()
    engine.infer_sync(tensor.copy())

threads = [threading.Thread(target=first_inference) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
"""


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> Engine:
    spec = spec_of("yolox_nano")
    return Engine.load(model_dir / spec.filename, spec.input, hint="THROUGHPUT", requests=2)


def test_every_request_ran_once_before_the_pool_exists(engine: Engine) -> None:
    assert len(engine.warmup_ms) == engine.size == 2
    assert all(ms > 0 for ms in engine.warmup_ms)


def test_first_concurrent_inference_in_a_fresh_process_completes(model_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_CONCURRENT_INFERENCE, str(model_dir)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-2000:]


async def test_concurrent_inference_equals_sequential(engine: Engine) -> None:
    rng = np.random.default_rng(7)
    tensors = [rng.random((1, 3, 416, 416), dtype=np.float32) for _ in range(3 * engine.size)]
    sequential = [engine.infer_sync(t) for t in tensors]
    concurrent = await asyncio.gather(*(engine.infer(t) for t in tensors))
    assert engine.size == 2
    for one, other in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(one, other, rtol=1e-5, atol=1e-5)
    assert not np.allclose(sequential[0], sequential[1]), "different inputs give different outputs"


def test_output_index_out_of_range_is_refused(model_dir: Path) -> None:
    spec = spec_of("yolox_nano")
    with pytest.raises(EngineError, match="out of range"):
        Engine.load(model_dir / spec.filename, spec.input, output_index=3)


def test_model_with_another_input_size_is_refused(model_dir: Path) -> None:
    spec = spec_of("yolov8n")  # 640x640 input; yolox_nano's is a static 416x416
    with pytest.raises(EngineError, match="does not match"):
        Engine.load(model_dir / "yolox_nano.onnx", spec.input)
