"""Which sessions this scene instance owns: follows sw-sessions, holds leases in sw-scene-leases.

Ownership uses KV leases, the mechanism ingest already uses (`shared.leases`): the owner is whoever
created the key `<sid>`; it refreshes the key with compare-and-set; a dead owner's key expires
after the bucket TTL and a survivor's next claim succeeds. Chosen over JetStream pinned-client
priority groups because leases give per-session ownership with any number of sessions and
instances, one mechanism for the whole project, and an owner that knows exactly when it lost a
session (a failed CAS), without partitioning the subject space into a fixed number of groups.

Session changes come from the process's one `SessionWatcher`; the claim and refresh loops are
`shared.leases.SessionLeases` (the ones ingest runs too). What is the scene stage's own:
- on a session change: active (or failed: errors still flow) sessions are candidates; a config
  change goes to the session's owner; a closed or deleted session is closed by its owner (final
  analyser events) and released.
- each claim round (on a new session, and every `scene_claim_interval_s`) sheds sessions above
  this instance's fair share `ceil(sessions / live instances) + 1` (a graceful handover: final
  checkpoint, then release), and claims unowned sessions up to it. Live instances come from
  heartbeats (`Peers`).
- a lease found lost (taken, or not refreshed for most of its TTL) stops that session at once
  without writing anything more.
Shutdown stops every session (final checkpoints) and releases the leases, so survivors take over
without waiting for the TTL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

from shared.errors import ErrorCode
from shared.leases import LeaseStore, SessionLeases
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionRecord
from shared.subjects import check_sid
from workers.scene.checkpoint import CheckpointStore
from workers.scene.owner import Closing, SessionOwner
from workers.scene.peers import Peers
from workers.scene.settings import SceneSettings
from workers.scene.stats import SceneStats

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0


@dataclass
class Held:
    owner: SessionOwner
    task: asyncio.Task[None] | None = None


class SceneManager:
    def __init__(
        self,
        js: JetStreamContext,
        sessions: SessionWatcher,
        leases: LeaseStore,
        checkpoints: CheckpointStore,
        peers: Peers,
        settings: SceneSettings,
        stats: SceneStats,
        ttl_s: float,
    ) -> None:
        self.js = js
        self.sessions = sessions
        refresh_s = max(0.2, ttl_s / 3)
        self.leases = SessionLeases(leases, ttl_s, refresh_s, settings.scene_claim_interval_s, self._lost)
        self.checkpoints = checkpoints
        self.peers = peers
        self.settings = settings
        self.stats = stats
        self.ttl_s = ttl_s
        self.records: dict[str, SessionRecord] = {}
        self.held: dict[str, Held] = {}
        self.cooldown: dict[str, float] = {}
        self.releasing: set[str] = set()
        self._tg: asyncio.TaskGroup | None = None

    def owned_sids(self) -> list[str]:
        return sorted(self.held)

    def relink(self) -> None:
        """The NATS link is back: every owned session reads RESULTS on from its last applied seq."""
        for held in list(self.held.values()):
            held.owner.relink()

    def quota(self) -> int:
        """This instance's fair share of the current sessions (+1 so that shares do not flap)."""
        share = math.ceil(len(self.records) / max(1, self.peers.live())) + 1
        return min(self.settings.scene_max_sessions, share)

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            leases = tg.create_task(self.leases.run(self._balance), name="scene-leases")
            try:
                async with self.sessions.subscribed(self.on_record):
                    await stop.wait()
            finally:
                leases.cancel()
                await self.shutdown()

    async def shutdown(self) -> None:
        sids = list(self.held)
        if sids:
            log.info("releasing scene sessions", extra={"sessions": len(sids)})
        await asyncio.gather(*(self._stop(sid, "shutdown") for sid in sids))

    # ---- session changes ----

    def on_record(self, sid: str, record: SessionRecord | None) -> None:
        if record is None or record.status == "closed" or not _valid_sid(sid):
            self.records.pop(sid, None)
            held = self.held.get(sid)
            if held is not None:
                code = record.error_code if record is not None and record.error_code else ErrorCode.SESSION_CLOSED
                text = record.error_message if record is not None and record.error_message else "session closed"
                held.owner.stop("closed", Closing(str(code), text))
            return
        is_new = sid not in self.records
        self.records[sid] = record
        held = self.held.get(sid)
        if held is not None:
            held.owner.update_config(record.config)
        elif is_new:
            self.leases.kick()

    # ---- claim ----

    async def _balance(self) -> None:
        quota = self.quota()
        keeping = sorted(set(self.held) - self.releasing)
        surplus = len(keeping) - quota
        if surplus > 0:
            for sid in random.sample(keeping, surplus):
                self.releasing.add(sid)
                self._spawn(self._stop(sid, "release"), f"scene-release-{sid}")
            return
        now = time.monotonic()
        candidates = [s for s in self.records if s not in self.held and self.cooldown.get(s, 0) <= now]
        random.shuffle(candidates)
        for sid in candidates:
            if len(self.held) >= quota:
                return
            await self._try_claim(sid)

    async def _try_claim(self, sid: str) -> None:
        if await self.leases.claim(sid) is None:
            return
        record = self.records.get(sid)
        if record is None or sid in self.held:  # gone while we claimed
            await self.leases.release(sid)
            return
        owner = SessionOwner(sid, record.config, self.js, self.checkpoints, self.settings, self.stats)
        held = Held(owner)
        self.held[sid] = held
        self.stats.owned(len(self.held))
        held.task = self._spawn(self._own(sid, held), f"scene-{sid}")
        log.info("scene session claimed", extra={"sid": sid})

    async def _own(self, sid: str, held: Held) -> None:
        """Run one session's owner; whatever ends it, the lease is settled here."""
        try:
            await held.owner.run()
        except Exception:
            log.exception("scene session crashed", extra={"sid": sid})
        finally:
            if self.held.get(sid) is held:
                del self.held[sid]
                self.stats.owned(len(self.held))
            self.releasing.discard(sid)
            await self.leases.release(sid)  # nothing to release when the lease was lost
            if held.owner.why in (None, "release"):  # crashed or shed: let another instance take it first
                self.cooldown[sid] = time.monotonic() + 3 * self.settings.scene_claim_interval_s
            self._trim_cooldown()

    def _trim_cooldown(self) -> None:
        now = time.monotonic()
        for sid in [s for s, until in self.cooldown.items() if until <= now]:
            del self.cooldown[sid]

    # ---- lost leases ----

    def _lost(self, sid: str, why: str) -> None:
        held = self.held.get(sid)
        if held is not None:
            log.warning("scene lease lost; stopping session", extra={"sid": sid, "why": why})
            held.owner.stop("lost")

    # ---- stopping ----

    async def _stop(self, sid: str, why: str) -> None:
        held = self.held.get(sid)
        if held is None or held.task is None:
            return
        held.owner.stop("release" if why == "release" else "shutdown")
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await asyncio.shield(held.task)
        except TimeoutError:
            log.warning("scene session did not stop in time; cancelling", extra={"sid": sid})
            held.task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._tg is not None, "SceneManager.run() is not running"
        return self._tg.create_task(coro, name=name)


def _valid_sid(sid: str) -> bool:
    try:
        check_sid(sid)
    except ValueError:
        return False
    return True
