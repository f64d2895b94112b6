"""Ownership of a session by one instance, through a KV bucket with a TTL.

Used by ingest (sw-leases: exactly one instance pulls a camera, or the
pipeline would see every frame twice) and by the scene stage (sw-scene-leases:
exactly one instance holds a session's tracker and zone state). The owner is whoever managed to *create* the key `<sid>`
(create-if-absent is atomic in JetStream). It keeps the lease alive by
updating it with compare-and-set on the revision it last wrote; if that fails,
someone else holds the key (ours expired meanwhile) and the owner must stop
at once. If the owner dies, its key expires after the bucket's TTL and a
survivor's next claim succeeds. A graceful owner deletes its key (again only
if the revision is still its own), so failover after a clean stop is instant.
"""

from __future__ import annotations

import asyncio
import logging

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

TRANSIENT = (TimeoutError, NatsError)


class LeaseLost(Exception):
    """The lease is no longer ours: another instance created it after ours expired."""


class LeaseStore:
    """Claims, refreshes and releases leases of one instance (`instance_id` is the value)."""

    def __init__(self, kv: KeyValue, instance_id: str, timeout_s: float) -> None:
        self.kv = kv
        self.instance_id = instance_id.encode()
        self.timeout_s = timeout_s

    async def claim(self, sid: str) -> int | None:
        """Create the lease; its revision, or None if another instance holds it (or NATS is away)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.kv.create(sid, self.instance_id)
        except KeyWrongLastSequenceError:
            return None
        except TRANSIENT as exc:
            log.debug("lease claim failed", extra={"sid": sid, "error": repr(exc)})
            return None

    async def refresh(self, sid: str, revision: int) -> int:
        """Extend our lease; raises `LeaseLost`, or a transient error to retry on the next round."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.kv.update(sid, self.instance_id, last=revision)
        except KeyWrongLastSequenceError as exc:
            raise LeaseLost(sid) from exc

    async def release(self, sid: str, revision: int) -> None:
        """Delete our lease if it is still ours; best effort (it expires anyway).

        A refresh that was in flight when the source stopped may have moved the
        revision on; if the key still holds our instance id, delete that one.
        """
        try:
            async with asyncio.timeout(self.timeout_s):
                try:
                    await self.kv.delete(sid, last=revision)
                except TRANSIENT:
                    entry = await self.kv.get(sid)
                    if entry.value != self.instance_id or not entry.revision:
                        return
                    await self.kv.delete(sid, last=entry.revision)
        except (KeyNotFoundError, *TRANSIENT) as exc:
            log.debug("lease release skipped", extra={"sid": sid, "error": repr(exc)})

    async def owner(self, sid: str) -> str | None:
        """Who holds the lease now (diagnostics and tests)."""
        try:
            entry = await self.kv.get(sid)
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None


async def bucket_ttl(kv: KeyValue, fallback_s: float) -> float:
    """The TTL the bucket really has: it was created by whoever provisioned first, maybe with other settings."""
    try:
        ttl = (await kv.status()).ttl
    except TRANSIENT:
        return fallback_s
    if ttl and ttl != fallback_s:
        log.warning("lease bucket TTL differs from the setting; using the bucket's", extra={"bucket_ttl_s": ttl})
    return float(ttl) if ttl else fallback_s
