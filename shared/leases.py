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

`LeaseStore` is the single-key mechanism; `SessionLeases` the loops around it
that both services run (claim rounds with the caller's policy, refresh of
every held lease, loss detection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared.loops import every

log = logging.getLogger(__name__)

TRANSIENT = (TimeoutError, NatsError)
LOST_AFTER_TTL_FRACTION = 0.8  # a lease not refreshed for this part of its TTL is given up


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


@dataclass
class Lease:
    """A lease we hold: the revision we last wrote, and when."""

    sid: str
    revision: int
    refreshed_at: float


LostHandler = Callable[[str, str], None]  # (sid, why): the lease is gone, stop the session's work now
ClaimRound = Callable[[], Awaitable[None]]


class SessionLeases:
    """This instance's share of sessions, by lease: the claim and keep-alive loop of ingest and the scene stage.

    `run(claim_round)` runs two loops until cancelled:
    - claim: `claim_round` (the caller's policy: which sessions, how many) on
      every `kick()`, and every `claim_interval_s` anyway; a failed round is
      logged and the next one comes as usual;
    - refresh: every `refresh_s`, extends every held lease. A lease found taken,
      or not refreshed for most of its TTL (NATS away), is dropped from `held`
      and `on_lost(sid, why)` is told at once, so that two instances never work
      on one session for long.
    `claim()` and `release()` are what a claim round and a stopping session call.
    """

    def __init__(
        self, store: LeaseStore, ttl_s: float, refresh_s: float, claim_interval_s: float, on_lost: LostHandler
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.refresh_s = refresh_s
        self.claim_interval_s = claim_interval_s
        self.on_lost = on_lost
        self.held: dict[str, Lease] = {}
        self._kick = asyncio.Event()

    @property
    def instance_id(self) -> str:
        return self.store.instance_id.decode()

    def kick(self) -> None:
        """Run a claim round now (a new session appeared)."""
        self._kick.set()

    async def claim(self, sid: str) -> Lease | None:
        """Take the lease of `sid`; None if another instance holds it (or NATS is away), or if we
        still hold it for work on `sid` that is stopping (its release comes first)."""
        if sid in self.held:
            return None
        revision = await self.store.claim(sid)
        if revision is None:
            return None
        lease = self.held[sid] = Lease(sid, revision, time.monotonic())
        return lease

    async def release(self, sid: str) -> None:
        """Give the lease back (survivors take over at once); nothing to do if it is not held (lost)."""
        lease = self.held.pop(sid, None)
        if lease is not None:
            await self.store.release(sid, lease.revision)

    async def run(self, claim_round: ClaimRound) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(every(self.refresh_s, self.refresh_all, "lease refresh"), name="lease-refresh")
            tg.create_task(self._claim_rounds(claim_round), name="lease-claim")

    async def _claim_rounds(self, claim_round: ClaimRound) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.claim_interval_s):
                    await self._kick.wait()
            self._kick.clear()
            try:
                await claim_round()
            except Exception:  # never let one odd session stop claims for all
                log.exception("lease claim round failed")

    async def refresh_all(self) -> None:
        await asyncio.gather(*(self._refresh(lease) for lease in list(self.held.values())))

    async def _refresh(self, lease: Lease) -> None:
        try:
            revision = await self.store.refresh(lease.sid, lease.revision)
        except LeaseLost:
            self._lost(lease, "taken by another instance")
        except Exception as exc:  # NATS away or slow: retried next round until the TTL is nearly up
            if time.monotonic() - lease.refreshed_at > self.ttl_s * LOST_AFTER_TTL_FRACTION:
                self._lost(lease, f"not refreshed within the TTL ({exc!r})")
        else:
            lease.revision = revision
            lease.refreshed_at = time.monotonic()

    def _lost(self, lease: Lease, why: str) -> None:
        if self.held.get(lease.sid) is not lease:  # released (or claimed again) meanwhile
            return
        del self.held[lease.sid]
        log.warning("lease lost", extra={"sid": lease.sid, "why": why})
        self.on_lost(lease.sid, why)
