"""One camera session owned by this instance: capture thread, reconnects, publishing.

`SourceRunner.run()` is two tasks. The supervisor runs one `Grabber`
connection at a time in a dedicated thread and reads its `Outcome`: a
connection that delivered frames and then dropped is reported once as
SOURCE_LOST and retried at once-ish (backoff reset); one that fails to open is
retried with exponential backoff; `failure_limit` failures within
`failure_window_s` give the session up: an error result SOURCE_UNREACHABLE,
then the session record is marked failed (in that order, so the watcher that
stops us on the status change cannot cut the error result short). The
publisher task takes the latest frame from the one-slot buffer and publishes
it. Config changes land in `update()` and reach the capture thread through
`CaptureControl` on its next frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from nats.js import JetStreamContext

from ingest.capture import Timeouts
from ingest.failures import FailureWindow
from ingest.grabber import CaptureControl, Grabber, GrabOptions, Outcome
from ingest.publisher import PUBLISH_ERRORS, FramePublisher
from ingest.settings import IngestSettings
from ingest.stats import IngestStats
from ingest.targets import CaptureTarget, resolve_target
from shared.errors import ErrorCode, InvalidSourceURL
from shared.latest import LatestSlot
from shared.loops import Backoff
from shared.producer import Picture
from shared.sessions import SessionRecord, SessionStore
from shared.telemetry import DropReason
from shared.urls import redact_url

log = logging.getLogger(__name__)

RunnerState = Literal["starting", "running", "ended", "failed", "stopped"]
SLOT_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class RunnerDeps:
    """What every runner of the process shares."""

    settings: IngestSettings
    js: JetStreamContext
    store: SessionStore
    stats: IngestStats


class SourceRunner:
    def __init__(self, record: SessionRecord, deps: RunnerDeps) -> None:
        self.sid = record.sid
        self.record = record
        self.deps = deps
        self.state: RunnerState = "starting"
        self.control = CaptureControl(analysis_fps=record.config.analysis_fps)
        self.slot: LatestSlot[Picture] = LatestSlot(lambda _replaced: deps.stats.drop(DropReason.INGEST_OVERRUN))
        self.publisher = FramePublisher(
            deps.js, record.sid, record.source.type, deps.settings.publish_timeout_s, deps.stats
        )
        self._stopping = asyncio.Event()
        self._display = redact_url(record.source.url or "")
        self._lost = False  # SOURCE_LOST was reported: the next published frame reports SOURCE_RESTORED

    def update(self, record: SessionRecord) -> None:
        """A new config for the running source (fps applies from the next frame on)."""
        self.record = record
        self.control.analysis_fps = record.config.analysis_fps

    def request_stop(self) -> None:
        self._stopping.set()
        self.control.stop.set()

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._publish_loop(), name=f"publish-{self.sid}")
                try:
                    await self._supervise()
                finally:
                    self.slot.close()
        finally:
            self.control.stop.set()
            if self.state in ("starting", "running"):
                self.state = "stopped"

    async def _supervise(self) -> None:
        try:
            # may resolve DNS (metadata-address check): not on the loop
            target = await asyncio.to_thread(resolve_target, self.record.source, self.deps.settings.source_policy())
        except InvalidSourceURL as exc:
            await self._give_up(ErrorCode.INVALID_SOURCE_URL, f"source refused: {exc.message}")
            return
        self._display = target.display
        self.state = "running"
        log.info("source starting", extra={"sid": self.sid, "source": target.display, "fps": self.control.analysis_fps})
        await self._connect_until_done(target)

    async def _connect_until_done(self, target: CaptureTarget) -> None:
        settings = self.deps.settings
        backoff = Backoff(settings.reconnect_initial_s, settings.reconnect_max_s)
        failures = FailureWindow(settings.failure_limit, settings.failure_window_s)
        while not self._stopping.is_set():
            outcome = await self._connect_once(target)
            if outcome.reason == "stopped" or self._stopping.is_set():
                return
            if outcome.reason == "ended":
                self.state = "ended"
                log.info("source ended", extra={"sid": self.sid, "source": self._display, "frames": outcome.frames})
                return
            if await self._failed(outcome, backoff, failures):
                return
            await self._pause(backoff.next())

    async def _failed(self, outcome: Outcome, backoff: Backoff, failures: FailureWindow) -> bool:
        """Account for a failed connection; True when the session is given up."""
        self.deps.stats.event("source_failure")
        if outcome.frames > 0:
            backoff.reset()
            self.deps.stats.event("source_lost")
            await self.publisher.error(ErrorCode.SOURCE_LOST, "camera stream lost; reconnecting")
            self._lost = True
        given_up = failures.add(time.monotonic())
        log.warning(
            "source failed",
            extra={"sid": self.sid, "source": self._display, "reason": outcome.reason, "failures": len(failures)},
        )
        if given_up:
            settings = self.deps.settings
            message = (
                f"source unreachable: {settings.failure_limit} failures within {settings.failure_window_s:g} s "
                f"(last: {outcome.reason.replace('_', ' ')})"
            )
            await self._give_up(ErrorCode.SOURCE_UNREACHABLE, message)
        return given_up

    async def _connect_once(self, target: CaptureTarget) -> Outcome:
        """Run one Grabber connection in a new thread and wait for its outcome."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Outcome] = loop.create_future()
        grabber = Grabber(target, self._grab_options(), self.control, self._emitter(loop), self._admit)

        def body() -> None:
            try:
                outcome = grabber.run()
            except Exception:  # a bug in capture code must not kill the camera supervisor
                log.exception("capture thread crashed", extra={"sid": self.sid, "source": self._display})
                outcome = Outcome("read_failed", grabber.frames)
            with contextlib.suppress(RuntimeError):  # loop already closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve, done, outcome)

        threading.Thread(target=body, name=f"capture-{self.sid}", daemon=True).start()
        stopping: asyncio.Future[bool] = asyncio.ensure_future(self._stopping.wait())
        waiting: set[asyncio.Future[Any]] = {done, stopping}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not done.done():  # stopped or cancelled: the thread notices on its next frame or timeout
                self.control.stop.set()
        # a thread still stuck in an open or read ends by its own timeout; nobody needs to wait for it
        return done.result() if done.done() else Outcome("stopped", grabber.frames)

    def _grab_options(self) -> GrabOptions:
        s = self.deps.settings
        return GrabOptions(Timeouts(s.open_timeout_s, s.read_timeout_s), s.jpeg_quality, s.max_frame_side)

    def _emitter(self, loop: asyncio.AbstractEventLoop) -> _Emit:
        return _Emit(loop, self.slot, self.control.stop)

    def _admit(self, captured_at_ns: int) -> bool:
        """Called by the capture thread for every grabbed frame: sampled to the session's fps."""
        keep = self.publisher.producer.admit(captured_at_ns, self.control.analysis_fps)
        if not keep:
            self.deps.stats.drop(DropReason.FPS)
        return keep

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _publish_loop(self) -> None:
        while True:
            captured = await self.slot.get(SLOT_POLL_S)
            if captured is None:
                if self.slot.closed:
                    return
                continue
            if await self.publisher.publish(captured, self.record.config) and self._lost:
                self._lost = False
                await self.publisher.error(ErrorCode.SOURCE_RESTORED, "camera stream restored")

    async def _give_up(self, code: ErrorCode, message: str) -> None:
        """Error result first, then the record: the status change makes the manager stop us."""
        self.state = "failed"
        self.deps.stats.event("session_failed")
        log.error("source given up", extra={"sid": self.sid, "source": self._display, "code": code.value})
        await self.publisher.error(code, message)
        await self._mark_failed(code, message)

    async def _mark_failed(self, code: ErrorCode, message: str) -> None:
        def change(record: SessionRecord) -> SessionRecord:
            if record.status != "active":
                return record
            return record.model_copy(update={"status": "failed", "error_code": code.value, "error_message": message})

        try:
            async with asyncio.timeout(self.deps.settings.publish_timeout_s * 3):
                await self.deps.store.update(self.sid, change)
        except (*PUBLISH_ERRORS, RuntimeError) as exc:
            log.warning("could not mark session failed", extra={"sid": self.sid, "error": repr(exc)})


class _Emit:
    """The capture thread's way to hand a frame to the loop; False tells it to stop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slot: LatestSlot[Picture], stop: threading.Event) -> None:
        self.loop = loop
        self.slot = slot
        self.stop = stop

    def __call__(self, captured: Picture) -> bool:
        if self.stop.is_set():
            return False
        try:
            self.loop.call_soon_threadsafe(self.slot.put, captured)
        except RuntimeError:  # the loop is closed: the process is going down
            return False
        return True


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
