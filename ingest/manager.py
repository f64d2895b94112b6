"""Which camera sessions this instance runs: follows sw-sessions, holds leases in sw-leases.

Session changes come from the process's one `SessionWatcher`; leases are held
through `shared.leases.SessionLeases` (the claim and refresh loops the scene
stage runs too). What is ingest's own:
- on a session change: a new active camera session is scheduled for a claim
  (sooner on an instance that owns fewer cameras, which spreads cameras over
  instances); a config change reaches the running source at once; a deleted,
  closed or failed session stops its source and releases the lease; a changed
  source restarts it.
- each claim round (on a new session, and every `TICK_S`) tries to create the
  lease of each due camera session nobody here runs. Against a live owner this
  fails cheaply; once a dead owner's lease has expired it succeeds, which is
  the failover.
- a lease found lost (taken, or not refreshed for most of its TTL) stops that
  source, so two instances never pull one camera for long.
Shutdown stops every source, then releases our leases so survivors take over
without waiting for the TTL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest.grabber import CaptureControl
from ingest.source import RunnerDeps, SourceRunner
from shared.leases import LeaseStore, SessionLeases
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionRecord
from shared.subjects import check_sid

log = logging.getLogger(__name__)

TICK_S = 0.2
RESTART_AFTER_CRASH_S = 5.0


@dataclass
class Owned:
    """A session whose lease we hold, and its running source."""

    runner: SourceRunner
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class OwnershipListener(Protocol):
    """Told when a camera starts and stops running here (the video hub serves owned cameras only)."""

    def owned(self, sid: str, source: CaptureControl) -> None: ...
    def released(self, sid: str) -> None: ...


class SessionManager:
    def __init__(
        self,
        deps: RunnerDeps,
        leases: LeaseStore,
        ttl_s: float,
        watcher: SessionWatcher,
        listener: OwnershipListener | None = None,
    ) -> None:
        self.listener = listener
        self.deps = deps
        self.watcher = watcher
        refresh_s = deps.settings.refresh_interval(ttl_s)
        self.leases = SessionLeases(leases, ttl_s, refresh_s, TICK_S, self._lost)
        self.records: dict[str, SessionRecord] = {}
        self.owned: dict[str, Owned] = {}
        self.next_claim: dict[str, float] = {}
        self._tg: asyncio.TaskGroup | None = None

    def owned_sids(self) -> list[str]:
        return sorted(self.owned)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop`; then stop every source and release every lease."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            leases = tg.create_task(self.leases.run(self._claim_due), name="leases")
            try:
                async with self.watcher.subscribed(self.on_record):
                    await stop.wait()
            finally:
                leases.cancel()
                await self.shutdown()

    async def shutdown(self) -> None:
        """Stop all sources in parallel, then release their leases (bounded by timeouts)."""
        sids = list(self.owned)
        if sids:
            log.info("releasing camera sessions", extra={"sessions": len(sids)})
        await asyncio.gather(*(self._drop(sid, release=True) for sid in sids))

    # session changes ---------------------------------------------------------------------------------------

    def on_record(self, sid: str, record: SessionRecord | None) -> None:
        wanted = record is not None and record.status == "active" and record.source.pulled and _valid_sid(sid)
        if record is None or not wanted:
            self.records.pop(sid, None)
            self.next_claim.pop(sid, None)
            if sid in self.owned:
                self._spawn(self._drop(sid, release=True), f"drop-{sid}")
            return
        previous = self.records.get(sid)
        self.records[sid] = record
        owned = self.owned.get(sid)
        if owned is not None and previous is not None and previous.source != record.source:
            self._spawn(self._restart(sid), f"restart-{sid}")
        elif owned is not None:
            owned.runner.update(record)
        elif sid not in self.next_claim:
            self.next_claim[sid] = time.monotonic() + self._stagger()
            self.leases.kick()

    def _stagger(self) -> float:
        """Instances owning fewer cameras claim new ones first."""
        return min(len(self.owned) * self.deps.settings.claim_stagger_s, self.deps.settings.claim_interval_s)

    async def _restart(self, sid: str) -> None:
        await self._drop(sid, release=True)
        if sid in self.records:
            self.next_claim[sid] = time.monotonic()
            self.leases.kick()

    # claim -------------------------------------------------------------------------------------------------

    async def _claim_due(self) -> None:
        now = time.monotonic()
        due = [sid for sid, at in self.next_claim.items() if at <= now and sid not in self.owned]
        for sid in due:
            try:
                await self._try_claim(sid)
            except Exception:  # never let one odd session stop claims for all
                log.exception("lease claim crashed", extra={"sid": sid})
                self.next_claim[sid] = time.monotonic() + RESTART_AFTER_CRASH_S

    async def _try_claim(self, sid: str) -> None:
        lease = await self.leases.claim(sid)
        record = self.records.get(sid)
        if lease is None or record is None:
            if lease is not None:  # the session went away while we claimed
                await self.leases.release(sid)
            if sid in self.records:
                self.next_claim[sid] = time.monotonic() + self.deps.settings.claim_interval_s
            return
        self.next_claim.pop(sid, None)
        self._start(record)

    def _start(self, record: SessionRecord) -> None:
        owned = Owned(SourceRunner(record, self.deps))
        self.owned[record.sid] = owned
        owned.task = self._spawn(self._guarded(owned), f"source-{record.sid}")
        if self.listener is not None:
            self.listener.owned(record.sid, owned.runner.control)
        self.deps.stats.set_owned(len(self.owned))
        log.info("camera session claimed", extra={"sid": record.sid, "instance": self.leases.instance_id})

    async def _guarded(self, owned: Owned) -> None:
        """Run one source; a crash stops only that camera (released, retried later)."""
        runner = owned.runner
        try:
            await runner.run()
        except Exception:
            log.exception("camera source crashed", extra={"sid": runner.sid})
            runner.state = "failed"
        finally:
            owned.done.set()
        if runner.state == "failed" and self.owned.get(runner.sid) is owned:
            # normally the record's status change arrives and drops it; if it never does, retry later
            self._spawn(self._drop(runner.sid, release=True), f"drop-{runner.sid}")
            if runner.sid in self.records:
                self.next_claim[runner.sid] = time.monotonic() + RESTART_AFTER_CRASH_S

    # lost leases -------------------------------------------------------------------------------------------

    def _lost(self, sid: str, why: str) -> None:
        if sid not in self.owned:
            return
        log.warning("lease lost; stopping source", extra={"sid": sid, "why": why})
        self.deps.stats.event("lease_lost")
        self._spawn(self._drop(sid, release=False), f"drop-{sid}")
        if sid in self.records:
            self.next_claim[sid] = time.monotonic() + self.deps.settings.claim_interval_s

    # stopping ----------------------------------------------------------------------------------------------

    async def _drop(self, sid: str, *, release: bool) -> None:
        """Stop the source of `sid` (bounded wait, then cancel) and optionally release its lease."""
        owned = self.owned.pop(sid, None)
        if owned is None:
            return
        self.deps.stats.set_owned(len(self.owned))
        if self.listener is not None:
            self.listener.released(sid)
        owned.runner.request_stop()
        try:
            async with asyncio.timeout(self.deps.settings.stop_timeout_s):
                await owned.done.wait()
        except TimeoutError:
            log.warning("source did not stop in time; cancelling", extra={"sid": sid})
            if owned.task is not None:
                owned.task.cancel()
        if release:
            await self.leases.release(sid)
        log.info("camera session released" if release else "camera session stopped", extra={"sid": sid})

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._tg is not None, "SessionManager.run() is not running"
        return self._tg.create_task(coro, name=name)


def _valid_sid(sid: str) -> bool:
    try:
        check_sid(sid)
    except ValueError:
        log.warning("ignoring session with an invalid id", extra={"sid": sid[:80]})
        return False
    return True
