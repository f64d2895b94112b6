"""Resume after a disconnect: read a session's SCENE messages after a `Last-Event-ID`.

An SSE client that reconnects with `Last-Event-ID: N` (N = the SCENE stream
sequence of the last message it got) must see every message after N exactly
once, and the same bytes a live viewer saw: SCENE holds the finished messages
(DESIGN.md section 7), so a resume only reads them back. The live hub only has
what arrives from now on, so a short-lived ephemeral pull consumer reads the
session's SCENE messages from `N + 1` until it has caught up
(`num_pending == 0`); `copy_into` queues them on the subscription, which
meanwhile holds the live messages and drops the overlap
(`ClientSubscription.begin_replay`). The window is the SCENE retention
(`results_max_age_s`); older ids resume from the oldest message still stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api

from gateway.fanout import ClientSubscription, OutMessage
from gateway.messages import parse_message
from shared import subjects

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 2.0
FETCH_ATTEMPTS = 3
CONSUMER_IDLE_S = 30.0


async def resumable(js: JetStreamContext, last_event_id: int) -> bool:
    """False for an id this stream never issued (e.g. from before a stream was recreated)."""
    if last_event_id < 0:
        return False
    info = await js.stream_info(subjects.SCENE_STREAM)
    return last_event_id <= (info.state.last_seq or 0)


async def scene_after(
    js: JetStreamContext, sid: str, after: int, batch: int, max_events: int
) -> AsyncIterator[OutMessage]:
    """The session's SCENE messages after `after`, oldest first, at most `max_events`."""
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=api.AckPolicy.NONE,
        inactive_threshold=CONSUMER_IDLE_S,
        mem_storage=True,
        num_replicas=1,
    )
    psub = await js.pull_subscribe(subjects.scene(sid), stream=subjects.SCENE_STREAM, config=config)
    try:
        pending, read = (await psub.consumer_info()).num_pending or 0, 0
        while pending > 0 and read < max_events:
            msgs = await _pull(psub, min(batch, pending, max_events - read), sid)
            if not msgs:
                return
            for msg in msgs:
                pending = msg.metadata.num_pending or 0
                read += 1
                out = await parse_message(msg.data, msg.metadata.sequence.stream)
                if out is not None:
                    yield out
    finally:
        await _delete(js, psub)


async def copy_into(sub: ClientSubscription, messages: AsyncIterator[OutMessage], put_timeout_s: float) -> int:
    """Queue replayed messages on `sub`; always ends the replay. Returns how many were queued.

    A failed replay degrades to live-only, it never ends the stream; a client that
    stops reading (the backlog stays full for `put_timeout_s`) ends the replay.
    """
    copied = 0
    try:
        async for msg in messages:
            if sub.closed or not await sub.replay(msg, put_timeout_s):
                break
            copied += 1
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("scene replay failed", extra={"sid": sub.sid, "error": repr(exc)})
    finally:
        sub.end_replay()
        with contextlib.suppress(Exception):
            await messages.aclose()  # type: ignore[attr-defined]
    return copied


async def _pull(psub: Any, batch: int, sid: str) -> list[Any]:
    """One batch; a slow server gets a few more tries before the replay gives up."""
    for _ in range(FETCH_ATTEMPTS):
        try:
            msgs: list[Any] = await psub.fetch(batch, timeout=FETCH_TIMEOUT_S)
        except (NatsTimeoutError, TimeoutError):
            if not (await psub.consumer_info()).num_pending:
                return []
            continue
        return msgs
    log.warning("scene replay gave up on a slow server", extra={"sid": sid})
    return []


async def _delete(js: JetStreamContext, psub: Any) -> None:
    with contextlib.suppress(Exception):
        info = await psub.consumer_info()
        await js.delete_consumer(subjects.SCENE_STREAM, info.name)
    with contextlib.suppress(Exception):
        await psub.unsubscribe()
