"""Reading a session's events back from EVENTS: paginated replay, latest counts, snapshots.

The gateway keeps no event state: replay is an ephemeral, memory-backed pull consumer filtered on
the session's subjects (and kinds), read oldest first; `after=<event id>` skips up to and
including that event (JetStream has no index by message id, so this scans the session's events
from the start, bounded by `MAX_SCANNED`). Counts are those carried by the session's newest event
(one direct read per kind). Snapshots live in the `sw-snapshots` Object Store, written by the
notifier; one that belongs to another session is reported as absent.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext, api
from nats.js.errors import BucketNotFoundError, NotFoundError

from shared import subjects
from shared.eventbody import event_of
from shared.eventconfig import EVENT_KINDS
from shared.sessions import SessionConfig
from shared.snapshots import SNAPSHOTS_BUCKET, snapshot_name

MAX_SCANNED = 100_000
FETCH_BATCH = 256
FETCH_WAIT_S = 2.0


class UnknownCursor(LookupError):
    """`after` names no event of this session (expired, or never existed)."""


@dataclass
class Page:
    events: list[dict[str, Any]]
    has_more: bool

    @property
    def next(self) -> str | None:
        return str(self.events[-1]["id"]) if self.events else None


def _filters(sid: str, kinds: list[str] | None) -> list[str]:
    if not kinds:
        return [subjects.session_events(sid)]
    return [subjects.events(sid, k) for k in kinds]


async def replay(js: JetStreamContext, sid: str, after: str | None, kinds: list[str] | None, limit: int) -> Page:
    """Up to `limit` events of `sid` after the event `after` (or from the oldest), oldest first."""
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.NONE,
        filter_subjects=_filters(sid, kinds),
        inactive_threshold=30.0,
        mem_storage=True,
        num_replicas=1,
    )
    sub = await js.pull_subscribe("", durable=None, stream=subjects.EVENTS_STREAM, config=config)
    info = await sub.consumer_info()
    try:
        pending = info.num_pending or 0
        found: list[dict[str, Any]] = []
        skipping, scanned = after is not None, 0
        while pending > 0 and len(found) <= limit and scanned < MAX_SCANNED:
            try:
                msgs = await sub.fetch(min(FETCH_BATCH, pending), timeout=FETCH_WAIT_S)
            except TimeoutError:  # the rest expired meanwhile
                break
            for msg in msgs:
                pending, scanned = msg.metadata.num_pending or 0, scanned + 1
                event = event_of(msg.data)
                if event is None:
                    continue
                if skipping:
                    skipping = event.get("id") != after
                    continue
                found.append(event)
        if skipping:
            raise UnknownCursor(after)
        return Page(found[:limit], has_more=len(found) > limit or pending > 0)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):  # else it goes by itself after inactive_threshold
            await js.delete_consumer(subjects.EVENTS_STREAM, info.name)


async def latest_counts(js: JetStreamContext, sid: str, config: SessionConfig) -> dict[str, Any]:
    """Occupancy per zone and in/out per line, as of the session's newest event (zeros before any)."""
    newest: tuple[int, dict[str, Any]] | None = None
    for kind in EVENT_KINDS:
        with contextlib.suppress(NotFoundError):
            raw = await js.get_msg(subjects.EVENTS_STREAM, subject=subjects.events(sid, kind))
            event = event_of(raw.data or b"")
            if event is not None and raw.seq is not None and (newest is None or raw.seq > newest[0]):
                newest = (raw.seq, event)
    counts = newest[1].get("counts") if newest else None
    zones = dict((counts or {}).get("zones") or {})
    lines = dict((counts or {}).get("lines") or {})
    return {
        "zones": {z.name: int(zones.get(z.name, 0)) for z in config.zones},
        "lines": {ln.name: _in_out(lines.get(ln.name)) for ln in config.lines},
        "as_of": None if newest is None else newest[1].get("timestamp"),
        "event_id": None if newest is None else newest[1].get("id"),
    }


async def snapshot(js: JetStreamContext, sid: str, event_id: str) -> bytes | None:
    """The stored JPEG of an event of `sid`, or None."""
    try:
        name = snapshot_name(event_id)
        store = await js.object_store(SNAPSHOTS_BUCKET)
        info = await store.get_info(name)
        if info.description != sid:
            return None
        return (await store.get(name)).data
    except (ValueError, BucketNotFoundError, NotFoundError):
        return None


def _in_out(value: Any) -> dict[str, int]:
    value = value if isinstance(value, dict) else {}
    return {"in": int(value.get("in", 0)), "out": int(value.get("out", 0))}
