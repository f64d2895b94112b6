"""`sightwire worker notifier`: webhooks and snapshots of events (the composition root).

Start-up: connect, provision the streams, create (if absent) the `notifier` and `snapshots`
durables on EVENTS and the `sw-snapshots` bucket, start watching session records for their
webhooks, then run the two fetch loops. Shutdown when `stop` is set: the loops stop fetching,
in-flight deliveries finish within their timeouts (unacked events simply stay with the durable
for the other replicas), the watch ends, NATS is drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared import subjects
from shared.jetstream import ensure_consumer, provision
from shared.metrics import serve_metrics
from shared.natsconn import connect, drain_quietly
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionStore
from shared.snapshots import ensure_snapshots
from workers.notifier.delivery import new_client
from workers.notifier.directory import WebhookDirectory
from workers.notifier.settings import NotifierSettings
from workers.notifier.snapshots import Snapshotter, snapshots_consumer
from workers.notifier.webhooks import Dispatcher, notifier_consumer

log = logging.getLogger(__name__)


async def run(settings: NotifierSettings, stop: asyncio.Event) -> None:
    nc = await connect(settings, f"notifier-{settings.instance_id}")
    try:
        js = nc.jetstream()
        await provision(js, settings)
        # create-or-update: a changed backoff / max_deliver applies to the existing durable (position kept)
        await js.add_consumer(subjects.EVENTS_STREAM, notifier_consumer(settings))
        await ensure_consumer(
            js, subjects.EVENTS_STREAM, snapshots_consumer(settings.stream_replicas, 4 * settings.snapshot_concurrency)
        )
        bucket = await ensure_snapshots(js, settings, settings.snapshot_max_bytes)
        store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
        directory = WebhookDirectory(store, settings.closed_session_grace_s)
        watcher = SessionWatcher(store)
        await watcher.subscribe(directory.apply)
        serve_metrics(settings.metrics_port)
        async with new_client(settings.webhook_timeout_s) as client:
            dispatcher = Dispatcher(js, store, directory, client, settings)
            snapshotter = Snapshotter(js, bucket, settings.snapshot_concurrency, settings.drain_timeout_s)
            follow = asyncio.create_task(watcher.run(), name="sessions-watch")
            log.info("notifier ready", extra={"instance": settings.instance_id})
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(dispatcher.run(stop), name="webhooks")
                    tg.create_task(snapshotter.run(stop), name="snapshots")
            finally:
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow
        log.info("notifier stopped", extra={"webhooks": dispatcher.counts, "snapshots": snapshotter.counts})
    finally:
        await drain_quietly(nc, settings.drain_timeout_s)
