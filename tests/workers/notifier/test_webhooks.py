"""The notifier against a real nats-server and real HTTP receivers on 127.0.0.1.

Events are published to EVENTS directly (as the scene stage does: `Nats-Msg-Id` = event id).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from nats.js import JetStreamContext

from shared import subjects
from shared.eventconfig import Webhook
from shared.natsserver import EmbeddedNatsServer
from shared.sessions import SessionConfig, SessionRecord, SessionStore
from shared.webhooks import signature_valid
from tests.support.webhook_receiver import WebhookReceiver
from workers.notifier.service import run as run_notifier
from workers.notifier.settings import NotifierSettings
from workers.notifier.webhooks import NOTIFIER_DURABLE

WAIT_S = 60.0


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            result = check()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(what)


@pytest.fixture
async def receivers() -> AsyncIterator[list[WebhookReceiver]]:
    made: list[WebhookReceiver] = []
    yield made
    for r in made:
        await r.stop()


async def receiver(made: list[WebhookReceiver], **kwargs: Any) -> WebhookReceiver:
    r = await WebhookReceiver(**kwargs).start()
    made.append(r)
    return r


@pytest.fixture
async def notifier_of(
    nats_server: EmbeddedNatsServer, js: JetStreamContext
) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(**overrides: Any) -> None:
        base: dict[str, Any] = {"nats_url": nats_server.url, "log_json": False, "drain_timeout_s": 2}
        settings = NotifierSettings(**{**base, **overrides})
        tasks.append(asyncio.create_task(run_notifier(settings, stop)))
        await until(lambda: _durable_exists(js), "the notifier durable")

    yield start
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def _durable_exists(js: JetStreamContext) -> bool:
    try:
        await js.consumer_info(subjects.EVENTS_STREAM, NOTIFIER_DURABLE)
    except Exception:
        return False
    return True


async def session(js: JetStreamContext, sid: str, *hooks: Webhook) -> SessionStore:
    store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))
    await store.create(SessionRecord(sid=sid, token_hash="h", config=SessionConfig(webhooks=list(hooks))))
    return store


async def publish(js: JetStreamContext, sid: str, n: int, kind: str = "line_cross") -> list[dict[str, Any]]:
    events = []
    for i in range(n):
        event = {"id": f"ev_{sid}_{kind}_{i}", "kind": kind, "sid": sid, "timestamp": 1.0 + i, "snapshot": None}
        body = json.dumps({"type": "event", "event": event}).encode()
        await js.publish(subjects.events(sid, kind), body, headers={"Nats-Msg-Id": event["id"]})
        events.append(event)
    return events


async def settled(js: JetStreamContext) -> bool:
    info = await js.consumer_info(subjects.EVENTS_STREAM, NOTIFIER_DURABLE)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_fails_twice_then_each_event_arrives_once_signed(js: JetStreamContext, notifier_of, receivers) -> None:
    hook_receiver = await receiver(receivers, statuses=[500, 500])
    hook = Webhook(url=hook_receiver.url, secret="shh", kinds=["line_cross"])
    await session(js, "cam1", hook)
    await notifier_of(webhook_backoff_s=[0.2, 0.5], webhook_max_deliver=5)
    events = await publish(js, "cam1", 3)
    await publish(js, "cam1", 3)  # the same ids again: JetStream's duplicate window drops them
    await publish(js, "cam1", 2, kind="zone_enter")  # a kind this webhook did not ask for
    await until(lambda: len(hook_receiver.accepted()) >= 3, "three accepted deliveries")
    await until(lambda: settled(js), "every event acked")

    assert len(hook_receiver.received) == 5, "two refusals and three accepted deliveries"
    accepted = hook_receiver.accepted()
    assert sorted(r.headers["x-sightwire-event-id"] for r in accepted) == sorted(e["id"] for e in events)
    for r in hook_receiver.received:
        assert signature_valid("shh", r.body, r.headers["x-sightwire-signature"])
        assert json.loads(r.body)["event"]["id"] == r.headers["x-sightwire-event-id"]
        assert r.path == "/hook" and r.headers["content-type"] == "application/json"


async def test_a_receiver_that_keeps_failing_is_recorded(js: JetStreamContext, notifier_of, receivers) -> None:
    hook_receiver = await receiver(receivers, statuses=[500] * 50)
    store = await session(js, "cam2", Webhook(url=hook_receiver.url))
    await notifier_of(webhook_backoff_s=[0.2, 0.2], webhook_max_deliver=3)
    await publish(js, "cam2", 1)

    async def failure_recorded() -> bool:
        found = await store.get("cam2")
        return found is not None and found[0].webhooks_failed == 1

    await until(failure_recorded, "the failure recorded in the session record")
    await until(lambda: settled(js), "the event terminated")
    assert len(hook_receiver.received) == 3, "max_deliver attempts, then no more"
    assert "x-sightwire-signature" not in hook_receiver.received[0].headers, "no secret, no signature"


async def test_a_dead_receiver_does_not_delay_another_sessions_webhook(
    js: JetStreamContext, notifier_of, receivers
) -> None:
    dead = await receiver(receivers, hang=True)
    alive = await receiver(receivers)
    await session(js, "dead", Webhook(url=dead.url))
    await session(js, "alive", Webhook(url=alive.url))
    await notifier_of(webhook_timeout_s=120, webhook_session_concurrency=2, webhook_session_queue=4)
    await publish(js, "dead", 30)
    await until(lambda: len(dead.received) >= 2, "the dead receiver holding two POSTs")
    await publish(js, "alive", 3)
    await until(lambda: len(alive.accepted()) == 3, "the live session's webhooks")
    assert len(dead.received) == 2, "the dead session holds only its concurrency"
    assert all(r.status == 0 for r in dead.received), "and none of its POSTs has been answered"


async def test_redirects_are_not_followed(js: JetStreamContext, notifier_of, receivers) -> None:
    elsewhere = await receiver(receivers)
    redirecting = await receiver(receivers, statuses=[307], location=elsewhere.url)
    await session(js, "cam3", Webhook(url=redirecting.url))
    await notifier_of(webhook_backoff_s=[0.2, 0.2], webhook_max_deliver=3)
    await publish(js, "cam3", 1)
    await until(lambda: len(redirecting.accepted()) == 1, "the retry accepted where it was sent")
    await until(lambda: settled(js), "the event acked")
    assert [r.status for r in redirecting.received] == [307, 200]
    assert elsewhere.received == [], "the redirect target never got a request"


async def test_a_refused_address_is_never_contacted_and_is_recorded(
    js: JetStreamContext, notifier_of, receivers
) -> None:
    """A record written around the gateway's check (or DNS that changed) is policed again at send time."""
    store = await session(js, "cam4", Webhook(url="http://169.254.169.254/latest/meta-data"))
    await notifier_of(webhook_backoff_s=[0.1], webhook_max_deliver=2)
    await publish(js, "cam4", 1)

    async def failure_recorded() -> bool:
        found = await store.get("cam4")
        return found is not None and found[0].webhooks_failed == 1

    await until(failure_recorded, "the refused delivery recorded as failed")


async def test_a_deleted_sessions_last_event_is_still_delivered(js: JetStreamContext, notifier_of, receivers) -> None:
    """`session_closed` is published after the record is deleted: the notifier remembers the webhooks."""
    hook_receiver = await receiver(receivers)
    store = await session(js, "cam5", Webhook(url=hook_receiver.url, kinds=["session_closed"]))
    await notifier_of()
    await publish(js, "cam5", 1, kind="line_cross")  # not wanted by this webhook: acked, not sent
    await until(lambda: settled(js), "the first event handled (the session is known)")
    await store.delete("cam5")
    await publish(js, "cam5", 1, kind="session_closed")
    await until(lambda: len(hook_receiver.accepted()) == 1, "session_closed delivered")
    assert json.loads(hook_receiver.accepted()[0].body)["event"]["kind"] == "session_closed"


async def test_changed_retry_settings_apply_to_the_existing_durable(js: JetStreamContext, notifier_of) -> None:
    await notifier_of(webhook_backoff_s=[1.0, 2.0], webhook_max_deliver=4)
    await notifier_of(webhook_backoff_s=[3.0], webhook_max_deliver=2)  # a second replica, redeployed

    async def updated() -> bool:
        info = await js.consumer_info(subjects.EVENTS_STREAM, NOTIFIER_DURABLE)
        return info.config.backoff == [3.0] and info.config.max_deliver == 2

    await until(updated, "the durable updated in place")
