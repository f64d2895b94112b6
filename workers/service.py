"""`sightwire worker detector|depth`: the composition root of one worker process.

Start-up: resolve the model file (model_dir, cache, verified pull), compile it,
connect, provision, and bind the shared durable (`detector` or `depth`) on
FRAMES. Every replica binds the same durable, so the replicas of a kind form a
competing-consumer group: each frame goes to one of them, and the frames a
dead replica held are redelivered to the others after `ack_wait`.

The fetch loop pulls at most as many frames as there are free in-flight slots
(2 x infer requests, OpenVINO's OPTIMAL_NUMBER_OF_INFER_REQUESTS unless set:
enough to keep OpenVINO busy while others decode, small enough that frames
wait in JetStream, not here). A frame with its result leaves that window; its
publish and ack run in a second bounded set (`publishing`), so a PubAck round
trip never holds an inference slot. The model is compiled with its
preprocessing fused in (workers/fused.py).

Shutdown when `stop` is set: stop fetching -> wait (bounded by
drain_timeout_s) for in-flight frames to publish and ack -> unsubscribe the
pull subscription -> final heartbeat -> drain NATS -> close the engine.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext

from shared import subjects
from shared.heartbeat import beat_every, publish_heartbeat
from shared.jetstream import provision
from shared.metrics import serve_metrics
from shared.natsconn import connect, drain_quietly
from workers.consumer import FrameHandler
from workers.engine import Engine, EngineError
from workers.inflight import InFlight
from workers.models.registry import ModelError, ModelSpec, resolve, spec_of
from workers.priority import lower_priority
from workers.runner import Runner
from workers.settings import WorkerKind, WorkerSettings
from workers.stats import WorkerStats
from workers.tasks import TASKS
from workers.threads import prestarted_pool

log = logging.getLogger(__name__)

PUBLISHING_PER_SLOT = 4  # results awaiting their PubAck, per inference slot: bounds unacked frames
DURABLES: dict[str, str] = {"detector": subjects.DETECTOR_DURABLE, "depth": subjects.DEPTH_DURABLE}


async def load_engine(kind: WorkerKind, spec: ModelSpec, settings: WorkerSettings) -> Engine:
    """Find (or pull) and compile the model, off the event loop."""
    path = await asyncio.to_thread(resolve, spec, settings)
    return await asyncio.to_thread(
        Engine.load,
        path,
        spec.input,
        device=settings.device_for(kind),
        hint=settings.hint(kind),
        requests=settings.infer_requests,
        output_index=spec.output_index,
        cache_dir=settings.compiled_cache_dir(),
        precision=settings.precision_hint,
        fused=True,
    )


async def run(kind: WorkerKind, settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Serve frames of `kind` until `stop` is set, then shut down in order."""
    if kind == "scene":  # the scene stage reads RESULTS, not FRAMES: its own service (settings: SceneSettings)
        from workers.scene import service as scene

        await scene.run(settings, stop)  # type: ignore[arg-type,unused-ignore]
        return
    if kind == "notifier":  # events -> webhooks and snapshots; its settings class is the CLI's choice
        from workers.notifier.service import run as run_notifier

        await run_notifier(settings, stop)  # type: ignore[arg-type,unused-ignore]
        return
    if kind not in DURABLES:
        raise ValueError(f"unknown worker kind {kind!r}")
    lower_priority(settings.nice(kind))  # before OpenVINO's threads exist: they inherit it
    try:
        spec = spec_of(settings.model_name(kind), kind, settings)
        engine = await load_engine(kind, spec, settings)
    except (ModelError, EngineError) as exc:  # configuration, not a crash: say why and exit non-zero
        log.error("model unavailable", extra={"kind": kind, "error": str(exc)})
        raise SystemExit(2) from exc
    try:
        await serve(kind, spec, engine, settings, stop)
    finally:
        engine.close()


async def serve(
    kind: WorkerKind, spec: ModelSpec, engine: Engine, settings: WorkerSettings, stop: asyncio.Event
) -> None:
    """Connect, bind the durable and run the fetch loop; the engine is the caller's."""
    nc = await connect(settings, f"worker-{kind}-{settings.instance_id}")
    try:
        js = nc.jetstream()
        await provision(js, settings)
        sub = await js.pull_subscribe_bind(DURABLES[kind], stream=subjects.FRAMES_STREAM)
        stats = WorkerStats(kind, settings.instance_id, spec.name, spec.labels)
        inflight = InFlight(2 * engine.size)
        publishing = InFlight(PUBLISHING_PER_SLOT * inflight.limit)
        cpu_pool = await asyncio.to_thread(prestarted_pool, inflight.limit, "cpu")
        runner = Runner(TASKS[kind](spec, settings, fused=engine.fused), engine, cpu_pool)
        handler = FrameHandler(kind, js, runner, stats, settings, publishing)
        await handler.evictions.prime_from(js, subjects.FRAMES_STREAM, DURABLES[kind])
        serve_metrics(settings.metrics_port)
        log.info("worker ready", extra={"kind": kind, "model": spec.name, "in_flight_limit": inflight.limit})
        async with asyncio.TaskGroup() as tg:
            tg.create_task(beat_every(nc, stats.heartbeat, settings.heartbeat_interval_s, stop), name="heartbeat")
            await fetch_loop(sub, handler, inflight, settings, stop, publishing)
            cancelled = await inflight.finish(settings.drain_timeout_s)
            cancelled += await publishing.finish(settings.drain_timeout_s)
        if cancelled:
            log.warning("in-flight frames abandoned at shutdown (will be redelivered)", extra={"count": cancelled})
        await _unsubscribe(sub)
        await publish_heartbeat(nc, stats.heartbeat())
        cpu_pool.shutdown(wait=False, cancel_futures=True)
    finally:
        await drain_quietly(nc, settings.drain_timeout_s)
    log.info("worker stopped", extra={"kind": kind})


async def fetch_loop(
    sub: JetStreamContext.PullSubscription,
    handler: FrameHandler,
    inflight: InFlight,
    settings: WorkerSettings,
    stop: asyncio.Event,
    publishing: InFlight | None = None,
) -> None:
    """Pull frames into free in-flight slots until `stop` is set (and while results still being
    published stay within their own bound)."""
    while not stop.is_set():
        if publishing is not None and publishing.free <= 0:
            await publishing.wait_for_slot(settings.fetch_timeout_s)
            continue
        if inflight.free <= 0:
            await inflight.wait_for_slot(settings.fetch_timeout_s)
            continue
        try:
            msgs = await sub.fetch(min(settings.fetch_batch, inflight.free), timeout=settings.fetch_timeout_s)
        except TimeoutError:  # nats' TimeoutError derives from it: no frames right now
            continue
        except Exception as exc:  # reconnecting, consumer being recreated: retry after a pause
            log.warning("fetch failed", extra={"error": repr(exc)})
            await _pause(stop, settings.fetch_timeout_s)
            continue
        for msg in msgs:
            inflight.spawn(handler.handle(msg))


async def _unsubscribe(sub: JetStreamContext.PullSubscription) -> None:
    """Drop the pull subscription before draining: nats-py's drain would otherwise wait on its
    internal queue (which `fetch` never marks done) until the drain timeout. Unacked frames
    simply stay with the durable for the other replicas."""
    try:
        await sub.unsubscribe()
    except Exception as exc:  # already closed or reconnecting: nothing left to release
        log.debug("pull subscription not unsubscribed", extra={"error": repr(exc)})


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return
