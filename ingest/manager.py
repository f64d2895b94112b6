"""Which camera sessions this instance runs: follows sw-sessions, holds leases in sw-leases.

Three loops share the state below:
- watch: every change of a session record. A new active camera session is
  scheduled for a claim (sooner on an instance that owns fewer cameras, which
  spreads cameras over instances); a config change reaches the running source
  at once; a deleted, closed or failed session stops its source and releases
  the lease; a changed source restarts it.
- claim: tries, every `claim_interval_s`, to create the lease of each active
  camera session nobody here runs. Against a live owner this fails cheaply;
  once a dead owner's lease has expired it succeeds, which is the failover.
- refresh: extends every lease we hold (compare-and-set on our revision). A
  lease found taken, or not refreshed for most of its TTL (NATS away), stops
  that source, so two instances never pull one camera for long.
Shutdown stops every source, then releases our leases so survivors take over
without waiting for the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest.grabber import CaptureControl
from ingest.source import RunnerDeps, SourceRunner
from shared.leases import TRANSIENT, LeaseLost, LeaseStore
from shared.sessions import SessionRecord
from shared.subjects import check_sid

log = logging.getLogger(__name__)

TICK_S = 0.2
WATCH_RETRY_S = 1.0
RESTART_AFTER_CRASH_S = 5.0


@dataclass
class Owned:
    """A session whose lease we hold, and its running source."""

    runner: SourceRunner
    revision: int
    refreshed_at: float
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class OwnershipListener(Protocol):
    """Told when a camera starts and stops running here (the video hub serves owned cameras only)."""

    def owned(self, sid: str, source: CaptureControl) -> None: ...
    def released(self, sid: str) -> None: ...


class SessionManager:
    def __init__(
        self, deps: RunnerDeps, leases: LeaseStore, ttl_s: float, listener: OwnershipListener | None = None
    ) -> None:
        self.listener = listener
        self.deps = deps
        self.leases = leases
        self.ttl_s = ttl_s
        self.records: dict[str, SessionRecord] = {}
        self.owned: dict[str, Owned] = {}
        self.next_claim: dict[str, float] = {}
        self._kick = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None

    def owned_sids(self) -> list[str]:
        return sorted(self.owned)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop`; then stop every source and release every lease."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            loops = [
                tg.create_task(self._watch_loop(), name="sessions-watch"),
                tg.create_task(self._claim_loop(), name="lease-claim"),
                tg.create_task(self._refresh_loop(), name="lease-refresh"),
            ]
            try:
                await stop.wait()
            finally:
                for task in loops:
                    task.cancel()
                await self.shutdown()

    async def shutdown(self) -> None:
        """Stop all sources in parallel, then release their leases (bounded by timeouts)."""
        sids = list(self.owned)
        if sids:
            log.info("releasing camera sessions", extra={"sessions": len(sids)})
        await asyncio.gather(*(self._drop(sid, release=True) for sid in sids))

    # watch -------------------------------------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        first = True
        while True:
            try:
                if not first:
                    await self._audit_owned()
                first = False
                async for sid, record in self.deps.store.watch():
                    self.on_record(sid, record)
            except Exception as exc:  # NATS away or the watcher broke: start a fresh one
                log.warning("session watch failed; retrying", extra={"error": repr(exc)})
            await asyncio.sleep(WATCH_RETRY_S)

    async def _audit_owned(self) -> None:
        """After a watch restart: deletes made while it was down never arrive, so look them up."""
        for sid in list(self.owned):
            with contextlib.suppress(*TRANSIENT):
                if await self.deps.store.get(sid) is None:
                    self.on_record(sid, None)

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
            self._kick.set()

    def _stagger(self) -> float:
        """Instances owning fewer cameras claim new ones first."""
        return min(len(self.owned) * self.deps.settings.claim_stagger_s, self.deps.settings.claim_interval_s)

    async def _restart(self, sid: str) -> None:
        await self._drop(sid, release=True)
        if sid in self.records:
            self.next_claim[sid] = time.monotonic()
            self._kick.set()

    # claim -------------------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._kick.wait()
            self._kick.clear()
            now = time.monotonic()
            due = [sid for sid, at in self.next_claim.items() if at <= now and sid not in self.owned]
            for sid in due:
                try:
                    await self._try_claim(sid)
                except Exception:  # never let one odd session stop claims for all
                    log.exception("lease claim crashed", extra={"sid": sid})
                    self.next_claim[sid] = time.monotonic() + RESTART_AFTER_CRASH_S

    async def _try_claim(self, sid: str) -> None:
        revision = await self.leases.claim(sid)
        record = self.records.get(sid)
        if revision is None or record is None:
            if revision is not None:  # the session went away while we claimed
                await self.leases.release(sid, revision)
            if sid in self.records:
                self.next_claim[sid] = time.monotonic() + self.deps.settings.claim_interval_s
            return
        self.next_claim.pop(sid, None)
        self._start(record, revision)

    def _start(self, record: SessionRecord, revision: int) -> None:
        owned = Owned(SourceRunner(record, self.deps), revision, time.monotonic())
        self.owned[record.sid] = owned
        owned.task = self._spawn(self._guarded(owned), f"source-{record.sid}")
        if self.listener is not None:
            self.listener.owned(record.sid, owned.runner.control)
        self.deps.stats.set_owned(len(self.owned))
        log.info("camera session claimed", extra={"sid": record.sid, "instance": self.leases.instance_id.decode()})

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

    # refresh -----------------------------------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        interval = self.deps.settings.refresh_interval(self.ttl_s)
        while True:
            await asyncio.sleep(interval)
            await asyncio.gather(*(self._refresh(sid, owned) for sid, owned in list(self.owned.items())))

    async def _refresh(self, sid: str, owned: Owned) -> None:
        try:
            revision = await self.leases.refresh(sid, owned.revision)
        except LeaseLost:
            self._lost(sid, owned, "taken by another instance")
        except Exception as exc:  # NATS away or slow: retried next round until the TTL is nearly up
            if time.monotonic() - owned.refreshed_at > self.ttl_s * 0.8:
                self._lost(sid, owned, f"not refreshed within the TTL ({exc!r})")
        else:
            owned.revision = revision
            owned.refreshed_at = time.monotonic()

    def _lost(self, sid: str, owned: Owned, why: str) -> None:
        if self.owned.get(sid) is not owned:
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
            await self.leases.release(sid, owned.revision)
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
