"""The `sw-snapshots` Object Store bucket: the frame that triggered an event, kept as long as events.

The notifier writes `<event id>.jpg` (it consumes EVENTS and fetches the frame from FRAMES while
FRAMES still holds it); the gateway serves it at `GET .../events/{event_id}/snapshot.jpg`. The
bucket's TTL is the EVENTS retention, so a snapshot never outlives its event.
"""

from __future__ import annotations

import re

from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

from shared.settings import NatsSettings

SNAPSHOTS_BUCKET = "sw-snapshots"
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def snapshot_name(event_id: str) -> str:
    """Object name of an event's snapshot; refuses ids that are not one safe token."""
    if not _EVENT_ID.fullmatch(event_id):
        raise ValueError(f"invalid event id {event_id!r}")
    return f"{event_id}.jpg"


def snapshots_config(s: NatsSettings, max_bytes: int) -> api.ObjectStoreConfig:
    return api.ObjectStoreConfig(
        bucket=SNAPSHOTS_BUCKET,
        ttl=s.events_max_age_s,
        max_bytes=max_bytes,
        storage=api.StorageType.FILE,
        replicas=s.stream_replicas,
    )


async def ensure_snapshots(js: JetStreamContext, s: NatsSettings, max_bytes: int) -> ObjectStore:
    """Open the bucket, creating it when absent (idempotent, safe to race)."""
    try:
        return await js.object_store(SNAPSHOTS_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        pass
    try:
        return await js.create_object_store(SNAPSHOTS_BUCKET, snapshots_config(s, max_bytes))
    except BadRequestError:
        return await js.object_store(SNAPSHOTS_BUCKET)
