"""One frame through one model: decode in a thread, infer on the engine, decode output in a thread.

Three hops instead of one so that OpenVINO's requests are busy only with
inference: while one frame is being JPEG-decoded or NMS-ed, the engine's
threads work on others. Failures become narrow errors with a code: the input's
fault (`InvalidImage`) or ours (`InferenceError`); the consumer publishes both
as error results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from shared.envelopes import Envelope, Frame, now_ns
from shared.errors import ErrorCode, SightwireError
from shared.images import InvalidImage
from workers.engine import Engine
from workers.tasks import Task

T = TypeVar("T")


class InferenceError(SightwireError):
    """The model or its output decoder failed on a valid image."""

    code = ErrorCode.INFERENCE_ERROR


class Runner:
    def __init__(self, task: Task, engine: Engine, cpu_pool: Executor | None = None) -> None:
        if task.fused != engine.fused:
            raise ValueError(f"task fused={task.fused} but engine fused={engine.fused}: the input would not fit")
        self.task = task
        self.engine = engine
        self.cpu_pool = cpu_pool  # JPEG decode, pre- and post-processing; None = the loop's default executor

    async def _cpu(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)

    async def run(self, frame: Frame) -> Envelope:
        """The result envelope of `frame`; raises InvalidImage or InferenceError."""
        started = now_ns()
        try:
            prepared = await self._cpu(self.task.prepare, frame.jpeg)
        except InvalidImage:
            raise
        except Exception as exc:  # OpenCV refusing a header-valid image (cv2.error, odd sizes)
            raise InvalidImage(f"image could not be prepared: {type(exc).__name__}") from exc
        try:
            output = await self.engine.infer(prepared.tensor)
            return await self._cpu(self.task.result, frame, output, prepared.geometry, started)
        except Exception as exc:  # OpenVINO and numpy raise many unrelated types
            raise InferenceError(f"{type(exc).__name__}: {exc}") from exc
