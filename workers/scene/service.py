"""`sightwire worker scene`: the composition root of one scene instance (DESIGN §7).

Start-up: connect, provision the shared streams and buckets, open the scene's own buckets
(sw-scene-leases with the lease TTL, sw-scene for checkpoints, both bounded), start listening for
other scene instances' heartbeats, then run the one watch of sw-sessions, the session manager and
the heartbeat until `stop`. When the NATS link comes back after an outage, every owned session
re-creates its RESULTS consumer at once (`SessionOwner.relink`) instead of waiting for the ordered
consumer to notice.
Shutdown: every owned session writes a final checkpoint and releases its lease (survivors take
over at once), a last heartbeat, then NATS is drained.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import api

from shared import subjects
from shared.heartbeat import beat_every, publish_heartbeat
from shared.jetstream import ensure_bucket, provision
from shared.leases import LeaseStore, bucket_ttl
from shared.metrics import serve_metrics
from shared.natsconn import connect, drain_quietly
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionStore
from workers.scene import checkpoint
from workers.scene.checkpoint import CheckpointStore
from workers.scene.manager import SceneManager
from workers.scene.peers import Peers
from workers.scene.settings import SceneSettings
from workers.scene.stats import SceneStats

log = logging.getLogger(__name__)


def leases_bucket(settings: SceneSettings) -> api.KeyValueConfig:
    return api.KeyValueConfig(
        bucket=subjects.SCENE_LEASES_BUCKET,
        history=1,
        ttl=settings.scene_lease_ttl_s,
        max_value_size=1024,
        max_bytes=64 * 1024 * 1024,
        replicas=settings.stream_replicas,
    )


class Relinker:
    """The NATS link listener: once the link is back, every owned session reads on from where it was."""

    def __init__(self) -> None:
        self.manager: SceneManager | None = None

    def __call__(self, up: bool) -> None:
        if up and self.manager is not None:
            self.manager.relink()


async def run(settings: SceneSettings, stop: asyncio.Event) -> None:
    relinker = Relinker()
    nc = await connect(settings, f"worker-scene-{settings.instance_id}", on_link=relinker)
    try:
        js = nc.jetstream()
        await provision(js, settings)
        sessions = SessionWatcher(SessionStore(await js.key_value(subjects.SESSIONS_BUCKET)))
        leases_kv = await ensure_bucket(js, leases_bucket(settings))
        ttl_s = await bucket_ttl(leases_kv, settings.scene_lease_ttl_s)
        checkpoints_kv = await checkpoint.open_bucket(
            js, settings.scene_checkpoint_max_bytes, settings.scene_checkpoint_bucket_bytes, settings.stream_replicas
        )
        stats = SceneStats(settings.instance_id)
        peers = Peers(nc, settings.instance_id, settings.scene_peer_timeout_s)
        await peers.start()
        manager = SceneManager(
            js,
            sessions,
            LeaseStore(leases_kv, settings.instance_id, settings.publish_timeout_s),
            CheckpointStore(checkpoints_kv, settings.publish_timeout_s),
            peers,
            settings,
            stats,
            ttl_s,
        )
        relinker.manager = manager
        serve_metrics(settings.metrics_port)
        log.info("scene worker ready", extra={"lease_ttl_s": ttl_s})
        async with asyncio.TaskGroup() as tg:
            tg.create_task(beat_every(nc, stats.heartbeat, settings.heartbeat_interval_s, stop), name="heartbeat")
            tg.create_task(sessions.run(stop), name="sessions-watch")
            await manager.run(stop)
        await publish_heartbeat(nc, stats.heartbeat())
        await peers.stop()
    finally:
        await drain_quietly(nc, settings.drain_timeout_s)
    log.info("scene worker stopped")
