"""`sightwire ingest`: the composition root of one ingest instance.

`run(settings, stop)` wires the process together and owns its lifetime:
FFmpeg is configured before any capture opens, JetStream is provisioned
(idempotent), and one task group runs the one watch of sw-sessions (which the
camera session manager and WebRTC ingest both follow), the camera session
manager, the heartbeat and WebRTC ingest. Shutdown order when `stop` is set: stop intake
(every camera source stops and its lease is released so a survivor takes over
at once; WebRTC peers close), then drain NATS (pending frame publishes
finish), then close, each step bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import logging

from ingest import video, webrtc
from ingest.ffmpeg import configure_ffmpeg
from ingest.heartbeat import heartbeat_loop
from ingest.manager import SessionManager
from ingest.settings import IngestSettings
from ingest.source import RunnerDeps
from ingest.stats import IngestStats
from shared import subjects
from shared.jetstream import provision
from shared.leases import LeaseStore, bucket_ttl
from shared.metrics import serve_metrics
from shared.natsconn import connect, drain_quietly
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionStore

log = logging.getLogger(__name__)


async def run(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Run one ingest instance until `stop` is set, then shut down in order."""
    configure_ffmpeg(settings.ffmpeg_log_level, settings.ffmpeg_analyze_s)
    serve_metrics(settings.metrics_port)
    nc = await connect(settings, f"ingest-{settings.instance_id}")
    try:
        js = nc.jetstream()
        await provision(js, settings)
        leases_kv = await js.key_value(subjects.LEASES_BUCKET)
        ttl_s = await bucket_ttl(leases_kv, settings.lease_ttl_s)
        stats = IngestStats()
        store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
        watcher = SessionWatcher(store)
        deps = RunnerDeps(settings, js, store, stats)
        hub = video.build_hub(settings, stats)
        leases = LeaseStore(leases_kv, settings.instance_id, settings.publish_timeout_s)
        manager = SessionManager(deps, leases, ttl_s, watcher, hub)
        log.info("ingest ready", extra={"instance": settings.instance_id, "lease_ttl_s": ttl_s})
        async with asyncio.TaskGroup() as tg:
            tg.create_task(watcher.run(stop), name="sessions-watch")
            tg.create_task(manager.run(stop), name="sessions")
            tg.create_task(webrtc.serve(nc, js, settings, stats, stop, watcher), name="webrtc")
            tg.create_task(video.serve(nc, hub, settings, stats, stop), name="video")
            tg.create_task(heartbeat_loop(nc, settings, stats, manager.owned_sids, stop), name="heartbeat")
    finally:
        await drain_quietly(nc, settings.drain_timeout_s)
        log.info("ingest stopped", extra={"instance": settings.instance_id})
