"""Liveness and counters of this ingest instance on `sw.heartbeat.ingest.<instance>` (core NATS).

The gateway keeps the latest heartbeat per process for readiness and for the
pipeline-wide stats; `info.owned` lists the camera sessions this instance
runs, which is also what an operator (or a test) reads to see where each
camera lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS

from ingest.settings import IngestSettings
from ingest.stats import SERVICE, IngestStats
from shared.envelopes import Heartbeat, now_ns
from shared.heartbeat import beat_every

MAX_OWNED_CHARS = 4000


def beat(instance: str, stats: IngestStats, owned: list[str]) -> Heartbeat:
    listed = ",".join(owned)
    if len(listed) > MAX_OWNED_CHARS:
        listed = listed[:MAX_OWNED_CHARS].rsplit(",", 1)[0] + ",..."
    return Heartbeat(
        service=SERVICE,
        instance=instance,
        at_ns=now_ns(),
        counters=stats.snapshot(),
        info={"owned": listed},
        processed=stats.processed,
        dropped=stats.dropped,
    )


async def heartbeat_loop(
    nc: NATS, settings: IngestSettings, stats: IngestStats, owned: Callable[[], list[str]], stop: asyncio.Event
) -> None:
    """Publish a heartbeat now and every `heartbeat_interval_s` until `stop`."""
    await beat_every(nc, lambda: beat(settings.instance_id, stats, owned()), settings.heartbeat_interval_s, stop)
