"""One owned session: read its RESULTS in order, write SCENE and EVENTS, checkpoint.

Reading: an ordered push consumer (ephemeral, flow-controlled, recreated by the client on a gap)
filtered to `sw.results.<sid>.>`, starting right after the checkpoint's RESULTS seq, or at the
first stored message when there is no checkpoint. One consumer per owned session rather than one
filtered consumer per instance: it starts exactly where this session's checkpoint says, needs no
cleanup after a crash (the server drops it), and ownership changes touch only that session.

Per message: `ScenePipeline.handle` in a worker thread (decode, reorder, track, fuse), then for each
finished message, in order: publish to SCENE with `Nats-Msg-Id = <sid>:<RESULTS seq>` and await
the PubAck, hand it to the analyser, publish its events to EVENTS (`Nats-Msg-Id` = event id).
After a failover the new owner replays what the old one did after its last checkpoint; JetStream's
duplicate window drops those writes, so nothing is written twice and nothing is lost.

Checkpoints (every `scene_checkpoint_interval_s` while the state changes): the step that finds one
due encodes it in the same worker-thread trip, and writes it only after that step's SCENE writes
are acknowledged, as a background task (one at a time), so no message waits for the KV round trip
and a checkpoint never covers a RESULTS seq whose SCENE message is not stored.

Broker restarts (`relink()`, called when the NATS link is back): the ordered consumer would notice
that its server-side consumer is gone only after missed heartbeats and then reset itself (~15 s
after a kill -9 of the broker under `sightwire up`), and viewers would wait that long. So the owner
drops it at once and subscribes anew right after the last RESULTS seq it applied (retrying every
`RELINK_RETRY_S` while JetStream is still coming back, for up to `RELINK_GIVE_UP_S`; after that the
ordered consumer's own recovery is in charge). Whatever the old consumer still held unread is read
again from the new one, so nothing is skipped; repeats are dropped by the pipeline and SCENE's
duplicate window.

Stopping (`stop(why)`): `closed` (session closed or deleted: flush the window, tell the analyser
with a `session_closed` message, publish its events, delete the checkpoint); `release` and
`shutdown` (a final checkpoint, so the next owner starts exactly here); `lost` (someone else owns
it now: touch nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from nats.js import JetStreamContext, api

from shared import subjects
from shared.clock import monotonic_ns, ms_to_ns, ns_to_s, s_to_ns
from shared.sessions import SessionConfig
from workers.scene import checkpoint, drops, messages
from workers.scene.analysers import make_analyser
from workers.scene.analysis import SceneAnalyser
from workers.scene.checkpoint import CheckpointConflict, CheckpointStore, CheckpointTooLarge
from workers.scene.pipeline import Emitted, PipelineLimits, ScenePipeline
from workers.scene.settings import SceneSettings
from workers.scene.stats import SceneStats, messages_counter

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"
PENDING_MSGS = 512
BATCH = 32  # RESULTS messages handled per trip to a worker thread
TICK_S = 0.05
RETRY_S = 0.5
RELINK_RETRY_S = 0.5
RELINK_GIVE_UP_S = 30.0
StopReason = Literal["closed", "release", "shutdown", "lost"]
AnalyserFactory = Callable[[str, SessionConfig], SceneAnalyser]


@dataclass(frozen=True, slots=True)
class Closing:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An encoded checkpoint and how many state changes it includes."""

    data: bytes
    changes: int


@dataclass(frozen=True, slots=True)
class Finished:
    """What one processing step produced: SCENE bodies and events, in order, and maybe a checkpoint."""

    scene: list[tuple[int, str, bytes]]  # (RESULTS seq, message type, body)
    events: list[dict[str, Any]]
    checkpoint: Snapshot | None = None


def limits_of(settings: SceneSettings) -> PipelineLimits:
    return PipelineLimits(
        reorder_window=settings.scene_reorder_window,
        reorder_wait_ns=ms_to_ns(settings.scene_reorder_wait_ms),
        reorder_min_wait_ns=ms_to_ns(settings.scene_reorder_min_wait_ms),
        depth_max_age_ns=ms_to_ns(settings.depth_max_age_ms),
        scale_ema_alpha=settings.scale_ema_alpha,
        scale_max_age_ns=s_to_ns(settings.scale_max_age_s),
        track_lost_ns=s_to_ns(settings.track_lost_s),
        track_min_iou=settings.track_min_iou,
    )


class Abandoned(Exception):
    """Stopping while NATS cannot take our writes: leave the rest to the next owner's replay."""


class SessionOwner:
    def __init__(
        self,
        sid: str,
        config: SessionConfig,
        js: JetStreamContext,
        store: CheckpointStore,
        settings: SceneSettings,
        stats: SceneStats,
        analysers: AnalyserFactory = make_analyser,
    ) -> None:
        self.sid = sid
        self.make_analyser = analysers
        self.js = js
        self.store = store
        self.settings = settings
        self.stats = stats
        self.pipeline = ScenePipeline(sid, config, limits_of(settings))
        self.analyser: SceneAnalyser = analysers(sid, config)
        self.revision: int | None = None
        self.why: StopReason | None = None
        self.closing: Closing | None = None
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()  # stop or relink: interrupts the wait for the next message
        self._relink_until: float | None = None  # monotonic deadline while a relink is wanted
        self._relink_at = 0.0
        self.relinks = 0
        self._sub: Any = None
        self._new_config: SessionConfig | None = None
        self._changes = 0  # processing steps that changed the state
        self._saved_changes = 0  # how many of them the last saved checkpoint includes
        self._saving: asyncio.Task[None] | None = None
        self._saved_at = time.monotonic()
        self._mirrored: dict[str, int] = {}
        self.drops = drops.DropTally(settings.scene_drop_summary_s, time.monotonic())

    # ---- control (from the manager, on the event loop) ----

    def update_config(self, config: SessionConfig) -> None:
        """Applies between two messages, in order with them."""
        if config != self.pipeline.config:
            self._new_config = config

    def stop(self, why: StopReason, closing: Closing | None = None) -> None:
        """Precedence: lost (write nothing more) > closed (final events) > release / shutdown."""
        rank = {"shutdown": 0, "release": 0, "closed": 1, "lost": 2}
        if self.why is None or rank[why] > rank[self.why]:
            self.why = why
            self.closing = closing if closing is not None else self.closing
        self._stopped.set()
        self._wake.set()

    def relink(self) -> None:
        """The NATS link is back: re-create the RESULTS consumer from the last applied seq (soon)."""
        self._relink_until = time.monotonic() + RELINK_GIVE_UP_S
        self._relink_at = 0.0
        self._wake.set()

    # ---- the session task ----

    async def run(self) -> None:
        await self._restore()
        self._sub = await self._subscribe()
        try:
            await self._read()
        except Abandoned:
            log.warning("session abandoned while stopping; next owner replays", extra={"sid": self.sid})
            return
        finally:
            await self._unsubscribe(self._sub)
        with contextlib.suppress(Abandoned):
            await self._finish()

    async def _unsubscribe(self, sub: Any) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.settings.publish_timeout_s):
                await sub.unsubscribe()

    async def _restore(self) -> None:
        data, self.revision = await self.store.load(self.sid)
        if data is None:
            return
        try:
            saved = checkpoint.decode(self.sid, data)
            self.pipeline.restore(saved["pipeline"], monotonic_ns())
            self.analyser.restore(saved["analyser"])
        except Exception as exc:  # an unreadable checkpoint: start fresh rather than never
            log.warning("checkpoint unreadable; starting fresh", extra={"sid": self.sid, "error": repr(exc)})
            self.pipeline = ScenePipeline(self.sid, self.pipeline.config, self.pipeline.limits)
            self.analyser = self.make_analyser(self.sid, self.pipeline.config)
            return
        self.stats.restored += 1
        log.info("session restored", extra={"sid": self.sid, "results_seq": self.pipeline.results_seq})

    async def _subscribe(self) -> Any:
        start = self.pipeline.results_seq + 1 if self.pipeline.results_seq > 0 else None
        config = (
            api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
            if start is not None
            else api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL)
        )
        return await self.js.subscribe(
            subjects.session_results(self.sid),
            stream=subjects.RESULTS_STREAM,
            ordered_consumer=True,
            config=config,
            idle_heartbeat=5.0,
            pending_msgs_limit=PENDING_MSGS,
        )

    async def _read(self) -> None:
        while not self._stopped.is_set():
            await self._maybe_relink()
            self._apply_config()
            sub = self._sub
            first = await self._next(sub, self._wait_s())
            batch = [first] if first is not None else []
            while batch and len(batch) < BATCH and sub.pending_msgs > 0:
                batch.append(await sub.next_msg(timeout=1.0))
            await self._step(batch)
            await self._maybe_summarize()

    async def _next(self, sub: Any, timeout_s: float) -> Any:
        """The next RESULTS message, or None after `timeout_s` or when woken (stop, relink).

        A message taken just as the wake came is dropped with the subscription it came from:
        the relinked consumer starts at the last applied seq + 1, so it is read again."""
        if self._wake.is_set():
            self._wake.clear()
            return None
        getter = asyncio.ensure_future(sub.next_msg(timeout=timeout_s))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
        if not getter.done():
            getter.cancel()
            with contextlib.suppress(BaseException):
                await getter
            self._wake.clear()
            return None
        try:
            return getter.result()
        except TimeoutError:  # nats' TimeoutError derives from it
            return None

    async def _maybe_relink(self) -> None:
        """After the link came back: a new consumer from the last applied seq, retried while JetStream
        is not ready yet; the old one is unsubscribed only once the new one exists."""
        now = time.monotonic()
        if self._relink_until is None or now < self._relink_at:
            return
        if now > self._relink_until:
            self._relink_until = None
            log.warning("results consumer not re-created; its own recovery continues", extra={"sid": self.sid})
            return
        try:
            new = await self._subscribe()
        except Exception as exc:  # JetStream not back yet: try again shortly
            self._relink_at = now + RELINK_RETRY_S
            log.debug("results consumer not re-created yet", extra={"sid": self.sid, "error": repr(exc)})
            return
        old, self._sub = self._sub, new
        self._relink_until = None
        self.relinks += 1
        await self._unsubscribe(old)
        log.info("results consumer re-created", extra={"sid": self.sid, "after_seq": self.pipeline.results_seq})

    def _wait_s(self) -> float:
        if self._relink_until is not None:  # a relink is waiting for JetStream: come back for it
            return RELINK_RETRY_S
        now = time.monotonic()
        wait = max(TICK_S, self.settings.scene_checkpoint_interval_s / 2)
        due_ns = self.pipeline.window.next_due_ns()
        if due_ns is not None:
            wait = min(1.0, max(TICK_S, ns_to_s(due_ns - monotonic_ns())))
        summary = self.drops.due_in_s(self.pipeline.dropped, now)
        return wait if summary is None else max(TICK_S, min(wait, summary))

    async def _maybe_summarize(self) -> None:
        """The session's drops since the last summary, to its viewers on SCENE (workers/scene/drops.py)."""
        summary = self.drops.take(self.pipeline.dropped, self.pipeline.results_seq, time.monotonic())
        if summary is None:
            return
        msg_id = drops.msg_id(self.sid, self.pipeline.results_seq)
        await self._put(subjects.scene(self.sid), messages.encode(summary), msg_id)
        messages_counter().labels(drops.KIND).inc()

    def _apply_config(self) -> None:
        config, self._new_config = self._new_config, None
        if config is None:
            return
        self.pipeline.set_config(config)
        state = self.analyser.state()
        self.analyser = self.make_analyser(self.sid, config)
        self.analyser.restore(state)

    async def _step(self, batch: list[Any]) -> None:
        """Messages already waiting are handled in one trip to a worker thread (one per batch); when a
        checkpoint is due, the same trip encodes it, and it is written once the step's SCENE writes
        are acknowledged, in the background (the next message does not wait for the KV round trip)."""
        snapshot = self._checkpoint_due(force=False)
        if batch:
            items = [(m.subject, m.data, m.metadata.sequence.stream) for m in batch]
            finished = await asyncio.to_thread(self._process, items, snapshot)
        else:
            finished = await asyncio.to_thread(self._tick, snapshot)
        await self._publish(finished)
        if finished.checkpoint is not None:
            self._saved_at = time.monotonic()
            self._saving = asyncio.create_task(self._save(finished.checkpoint), name=f"checkpoint-{self.sid}")

    def _process(self, items: list[tuple[str, bytes, int]], snapshot: bool = False) -> Finished:
        emitted = []
        for subject, data, results_seq in items:
            try:
                emitted += self.pipeline.handle(subject, data, results_seq, monotonic_ns())
            except Exception:  # a bug or an input nobody foresaw: skip it, never crash-loop on it
                log.exception("result not applied", extra={"sid": self.sid, "results_seq": results_seq})
                self.pipeline.dropped["scene_error"] += 1
        self._mirror_drops()
        self._changes += 1
        return self._finish_messages(emitted, snapshot)

    def _tick(self, snapshot: bool = False) -> Finished:
        return self._finish_messages(self.pipeline.tick(monotonic_ns()), snapshot)

    def _flush(self) -> Finished:
        return self._finish_messages(self.pipeline.tick(None))

    def _mirror_drops(self) -> None:
        """The pipeline's drops (late, duplicate, bad_envelope) into the instance counters."""
        for reason, n in self.pipeline.dropped.items():
            seen = self._mirrored.get(reason, 0)
            if n > seen:
                self.stats.drop(reason, n - seen)
                self._mirrored[reason] = n

    def _finish_messages(self, emitted: list[Emitted], snapshot: bool = False) -> Finished:
        scene: list[tuple[int, str, bytes]] = []
        events: list[dict[str, Any]] = []
        for out in emitted:
            scene.append((out.results_seq, str(out.message["type"]), messages.encode(out.message)))
            events.extend(self.analyser.observe(out.message, out.results_seq))
        if emitted:
            self._changes += 1
        return Finished(scene, events, self._snapshot() if snapshot else None)

    async def _publish(self, finished: Finished) -> None:
        for results_seq, kind, body in finished.scene:
            await self._put(subjects.scene(self.sid), body, subjects.scene_msg_id(self.sid, results_seq))
            self.stats.message(kind)
        await self._publish_events(finished.events)

    async def _publish_events(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            body = messages.encode({"type": "event", "event": ev})
            await self._put(subjects.events(self.sid, str(ev["kind"])), body, str(ev["id"]))
            self.stats.events += 1

    async def _put(self, subject: str, body: bytes, msg_id: str) -> None:
        """Publish and await the PubAck; retry until it lands or we lose the session."""
        while True:
            try:
                await self.js.publish(subject, body, timeout=self.settings.publish_timeout_s, headers={MSG_ID: msg_id})
                return
            except Exception as exc:  # NATS away or slow: the message must not be lost
                if self.why is not None:  # the last checkpoint stays: the next owner replays from it
                    raise Abandoned(self.sid) from exc
                log.warning("scene publish failed; retrying", extra={"sid": self.sid, "error": repr(exc)})
                await asyncio.sleep(RETRY_S)

    # ---- checkpoints (workers/scene/checkpoint.py) ----

    def _checkpoint_due(self, *, force: bool) -> bool:
        """Unsaved changes, the interval over (or `force`), and no write in flight."""
        due = force or time.monotonic() - self._saved_at >= self.settings.scene_checkpoint_interval_s
        return due and self._changes != self._saved_changes and self._saving is None

    def _snapshot(self) -> Snapshot | None:
        """The state now, encoded (in the worker thread, between two steps: nothing changes meanwhile)."""
        try:
            data = checkpoint.encode(
                self.sid, self.pipeline.state(), self.analyser.state(), self.settings.scene_checkpoint_max_bytes
            )
        except CheckpointTooLarge as exc:  # the previous checkpoint stays; a failover replays more
            log.warning("checkpoint too large; not saved", extra={"sid": self.sid, "error": str(exc)})
            self._saved_at = time.monotonic()
            return None
        return Snapshot(data, self._changes)

    async def _save(self, snapshot: Snapshot) -> None:
        """Write one checkpoint (compare-and-set); only after the SCENE writes of the state it holds."""
        try:
            self.revision = await self.store.save(self.sid, snapshot.data, self.revision)
        except CheckpointConflict:
            log.warning("checkpoint written by another owner; stopping", extra={"sid": self.sid})
            self.stop("lost")
            return
        except Exception as exc:  # NATS away: the next interval tries again
            log.warning("checkpoint not saved", extra={"sid": self.sid, "error": repr(exc)})
            return
        finally:
            self._saving = None
        self._saved_changes = snapshot.changes

    async def _settle_save(self, *, cancel: bool) -> None:
        """The write in flight: awaited (its outcome counts), or cancelled (nothing more is written)."""
        task = self._saving
        if task is None:
            return
        if cancel:
            task.cancel()
        # asyncio.wait neither raises the write's own failure nor swallows a cancellation of ours
        await asyncio.wait({task}, timeout=self.settings.publish_timeout_s * 2)
        self._saving = None

    async def _final_checkpoint(self) -> None:
        await self._settle_save(cancel=False)
        if self.why == "lost" or not self._checkpoint_due(force=True):
            return
        snapshot = await asyncio.to_thread(self._snapshot)
        if snapshot is not None:
            await self._save(snapshot)

    async def _finish(self) -> None:
        if self.why == "lost":
            await self._settle_save(cancel=True)
            return
        if self.why == "closed":
            await self._settle_save(cancel=True)
            await self._close()
            return
        await self._final_checkpoint()

    async def _close(self) -> None:
        await self._publish(await asyncio.to_thread(self._flush))
        closing = self.closing or Closing("SESSION_CLOSED", "session closed")
        final = {"type": "session_closed", "error_code": closing.code, "timestamp": time.time()}
        events = await asyncio.to_thread(self.analyser.observe, final, self.pipeline.results_seq)
        await self._publish_events(events)
        with contextlib.suppress(Exception):  # it expires anyway (bucket TTL)
            await self.store.delete(self.sid)
