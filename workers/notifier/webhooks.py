"""Webhook delivery: the durable `notifier` pull consumer on EVENTS (DESIGN §2, §8).

Every notifier replica binds the same durable, so each event is handled by one of them. An
event is POSTed to each of its session's webhooks that wants its kind; it is acked when all of
them answered 2xx. Otherwise it is nak'ed with the delay of JetStream's consumer `backoff` for
this attempt (the same list is the consumer's `backoff`, which also paces redelivery after a
crash), until `max_deliver` attempts; the last failure terminates it and is recorded: the
session record's `webhooks_failed` and the `sightwire_webhook_deliveries_total{outcome="failed"}`
metric. Webhooks that already accepted an event are remembered in this process, so a retry only
goes to the ones that failed (receivers still dedupe by `X-Sightwire-Event-Id`: after a
notifier crash an accepted POST may be repeated).

Fairness: each event is handled in its own task; POSTs run at most `webhook_session_concurrency`
at a time per session, and at most `webhook_session_queue` events of one session wait here.
An event beyond that counts as a failed attempt ("busy") and is retried after its backoff, so a
dead receiver holds a few slots, never the consumer: other sessions' events keep flowing.
While an event is in flight its ack deadline is extended (`in_progress`) so it is not
redelivered to another replica mid-POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from prometheus_client import Counter

from shared import subjects
from shared.eventbody import event_of
from shared.eventconfig import Webhook
from shared.jetstream import durable_consumer
from shared.sessions import SessionRecord, SessionStore
from workers.notifier.delivery import Attempt, post_event
from workers.notifier.directory import WebhookDirectory
from workers.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

NOTIFIER_DURABLE = "notifier"
FETCH_BATCH = 64
FETCH_WAIT_S = 1.0
DELIVERED_MEMORY = 10_000
WEBHOOK_DELIVERIES = "sightwire_webhook_deliveries_total"  # label: outcome


@functools.cache
def deliveries_counter() -> Counter:
    return Counter(WEBHOOK_DELIVERIES, "Webhook deliveries of events, by outcome", ["outcome"])


def notifier_consumer(s: NotifierSettings) -> api.ConsumerConfig:
    return durable_consumer(
        NOTIFIER_DURABLE,
        subjects.EVENTS_ALL,
        s.stream_replicas,
        s.webhook_max_ack_pending,
        deliver_policy=api.DeliverPolicy.ALL,
        max_deliver=s.webhook_max_deliver,
        backoff=list(s.webhook_backoff_s),
        max_waiting=512,
    )


class Dispatcher:
    """Fetches events and delivers each to its session's webhooks."""

    def __init__(
        self,
        js: JetStreamContext,
        store: SessionStore,
        directory: WebhookDirectory,
        client: httpx.AsyncClient,
        settings: NotifierSettings,
    ) -> None:
        self.js = js
        self.store = store
        self.directory = directory
        self.client = client
        self.settings = settings
        self.counts: dict[str, int] = {}
        self._delivered: OrderedDict[tuple[str, int, str], None] = OrderedDict()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._waiting: dict[str, int] = {}
        self._in_flight = 0
        self._slot_freed = asyncio.Event()
        self._heartbeat_s = max(0.1, min(s for s in settings.webhook_backoff_s) / 3)

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and dispatch until `stop`; in-flight deliveries finish (bounded by their timeouts)."""
        sub = await self.js.pull_subscribe_bind(NOTIFIER_DURABLE, stream=subjects.EVENTS_STREAM)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                free = self.settings.webhook_max_ack_pending - self._in_flight
                if free <= 0:  # fetch only what can start at once: a fetched event never waits unheartbeaten
                    self._slot_freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._slot_freed.wait(), FETCH_WAIT_S)
                    continue
                for msg in await self._fetch(sub, min(FETCH_BATCH, free)):
                    self._in_flight += 1
                    task = asyncio.create_task(self._guarded(msg))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            await finish_tasks(tasks, self.settings.drain_timeout_s)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _fetch(self, sub: JetStreamContext.PullSubscription, batch: int) -> list[Msg]:
        try:
            return await sub.fetch(batch, timeout=FETCH_WAIT_S)
        except TimeoutError:  # nats' TimeoutError derives from it: no events right now
            return []
        except Exception as exc:  # reconnecting: retry after a pause
            log.warning("event fetch failed", extra={"error": repr(exc)})
            await asyncio.sleep(FETCH_WAIT_S)
            return []

    async def _guarded(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
        except Exception:  # one event's bug must not end delivery for all
            log.exception("webhook delivery crashed", extra={"subject": msg.subject})
            with contextlib.suppress(Exception):
                await msg.nak(delay=self._delay(msg))
        finally:
            self._in_flight -= 1
            self._slot_freed.set()

    async def handle(self, msg: Msg) -> None:
        event = event_of(msg.data)
        if event is None:
            await self._finish(msg, "malformed", ack=True)
            return
        sid = subjects.sid_of(msg.subject)
        hooks = self.directory.webhooks(sid)
        if hooks is None:
            hooks = await self.directory.refresh(sid) or ()
        wanted = [(i, h) for i, h in enumerate(hooks) if h.kinds is None or event.get("kind") in h.kinds]
        if not wanted:
            await self._finish(msg, "no_webhook", ack=True)
            return
        if time.time() - msg.metadata.timestamp.timestamp() > self.settings.webhook_max_event_age_s:
            await self._finish(msg, "expired", ack=True)
            return
        ok = await self._deliver(sid, msg, str(event.get("id", "")), wanted)
        if ok:
            await self._finish(msg, "delivered", ack=True)
        elif msg.metadata.num_delivered >= self.settings.webhook_max_deliver:
            await msg.term()
            self._count("failed")
            await self._record_failure(sid)
        else:
            await msg.nak(delay=self._delay(msg))
            self._count("retry")

    async def _deliver(self, sid: str, msg: Msg, event_id: str, wanted: list[tuple[int, Webhook]]) -> bool:
        pending = [(i, h) for i, h in wanted if (event_id, i, h.url) not in self._delivered]
        if self._waiting.get(sid, 0) >= self.settings.webhook_session_queue:
            log.info("webhook queue of session full", extra={"sid": sid, "event_id": event_id})
            return False
        self._waiting[sid] = self._waiting.get(sid, 0) + 1
        try:
            async with self._heartbeat(msg), self._slot(sid):
                attempts = await asyncio.gather(*(self._post(h, msg.data, event_id) for _, h in pending))
        finally:
            self._waiting[sid] -= 1
            if not self._waiting[sid]:
                del self._waiting[sid]
                self._slots.pop(sid, None)
        for (i, hook), attempt in zip(pending, attempts, strict=True):
            if attempt.ok:
                self._remember((event_id, i, hook.url))
            else:
                self._log_failed(sid, event_id, hook, attempt, msg.metadata.num_delivered)
        return all(a.ok for a in attempts)

    @staticmethod
    def _log_failed(sid: str, event_id: str, hook: Webhook, attempt: Attempt, number: int) -> None:
        host = urlsplit(hook.url).hostname or "?"  # never the path or query: they may hold tokens
        extra = {"sid": sid, "event_id": event_id, "host": host, "reason": attempt.reason, "attempt": number}
        log.info("webhook attempt failed", extra=extra)

    async def _post(self, hook: Webhook, body: bytes, event_id: str) -> Attempt:
        return await post_event(
            self.client,
            hook,
            body,
            event_id,
            timeout_s=self.settings.webhook_timeout_s,
            allow_link_local=self.settings.allow_link_local_webhooks,
        )

    @contextlib.asynccontextmanager
    async def _slot(self, sid: str) -> AsyncIterator[None]:
        slot = self._slots.setdefault(sid, asyncio.Semaphore(self.settings.webhook_session_concurrency))
        async with slot:
            yield

    @contextlib.asynccontextmanager
    async def _heartbeat(self, msg: Msg) -> AsyncIterator[None]:
        """Keep the event's ack deadline ahead of us while it waits and is POSTed."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self._heartbeat_s)
                with contextlib.suppress(Exception):
                    await msg.in_progress()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _delay(self, msg: Msg) -> float:
        backoff = self.settings.webhook_backoff_s
        return backoff[min(max(msg.metadata.num_delivered, 1) - 1, len(backoff) - 1)]

    def _remember(self, key: tuple[str, int, str]) -> None:
        self._delivered[key] = None
        while len(self._delivered) > DELIVERED_MEMORY:
            self._delivered.popitem(last=False)

    async def _finish(self, msg: Msg, outcome: str, *, ack: bool) -> None:
        if ack:
            await msg.ack()
        self._count(outcome)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        deliveries_counter().labels(outcome).inc()

    async def _record_failure(self, sid: str) -> None:
        log.warning("webhook delivery failed for good", extra={"sid": sid})

        def bump(record: SessionRecord) -> SessionRecord:
            return record.model_copy(update={"webhooks_failed": record.webhooks_failed + 1})

        try:
            async with asyncio.timeout(self.settings.webhook_timeout_s):
                await self.store.update(sid, bump)
        except Exception as exc:  # the metric and the log still have it
            log.warning("could not record the webhook failure", extra={"sid": sid, "error": repr(exc)})


async def finish_tasks(tasks: set[asyncio.Task[None]], timeout_s: float) -> None:
    """Let in-flight work finish for `timeout_s`, then cancel it (its events are redelivered)."""
    if not tasks:
        return
    _, late = await asyncio.wait(set(tasks), timeout=timeout_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
