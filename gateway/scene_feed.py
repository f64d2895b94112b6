"""The hubs' source on NATS: a session's SCENE (`sw.scene.<sid>`) and EVENTS (`sw.events.<sid>.>`).

One `NatsLiveFeed` per session hub: two ordered ephemeral JetStream consumers
that start at new messages (ordered consumers recreate themselves after a gap
or a reconnect, so the hub sees every message in stream order), merged into
one iterator through a small bounded queue. SCENE messages keep their stream
sequence as the event id (the SSE `id:`); events get none. A message read
while at least `BEHIND` newer ones of the session already wait (in the stream:
the consumer's `num_pending`; in the NATS client's own buffer; or in this
feed's queue, where a gateway short of CPU falls behind first) and that has sat
in the stream for `BEHIND_AGE_S` or longer is marked `superseded`,
so that the hub can skip a result nobody will see rather than wake every
viewer for it. Resume reads go through `gateway.replay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from nats.js import JetStreamContext, api

from gateway import replay
from gateway.fanout import OutMessage
from gateway.messages import parse_message
from gateway.ports import LiveFeed
from shared import subjects

log = logging.getLogger(__name__)

IDLE_HEARTBEAT_S = 5.0
QUEUE_SIZE = 256
# A result is superseded when at least BEHIND newer ones wait behind it and it was stored at least
# BEHIND_AGE_S ago. The count alone misfires on bursts from upstream (two inference requests that
# finish together, the reorder window releasing a gap, a detector catching up after a stall: all
# stored within milliseconds and read together); the age tells those apart from a gateway that fell
# behind, whose waiting messages keep getting older. The age compares the server's store time with
# this host's clock: skew between them only moves the point at which coalescing starts.
BEHIND = 2
BEHIND_AGE_S = 0.2
STOP_TIMEOUT_S = 2.0
_ENDED = object()


def superseded(newer_waiting: int, age_s: float) -> bool:
    """`newer_waiting` messages of the session wait behind a result stored `age_s` ago: skip it?"""
    return newer_waiting >= BEHIND and age_s >= BEHIND_AGE_S


class NatsLiveFeed:
    """SCENE then EVENTS of one session, merged; `messages()` ends when a subscription fails."""

    def __init__(self, sid: str, subs: list[Any], clock: Callable[[], float] = time.time) -> None:
        self.sid = sid
        self._clock = clock  # wall-clock seconds, compared with the stream's store times
        self.dropped = 0  # bodies that were not client messages
        self.last_seq = [0] * len(subs)  # per subscription (SCENE, EVENTS): the last stream sequence read
        self._subs = subs
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self._results_queued = 0  # detection results read but not yet taken by `messages()`
        self._readers = [asyncio.create_task(self._read(i, s), name=f"feed-{sid}") for i, s in enumerate(subs)]

    async def _read(self, index: int, psub: Any) -> None:
        try:
            async for msg in psub.messages:
                self.last_seq[index] = msg.metadata.sequence.stream
                out = await parse_message(msg.data, msg.metadata.sequence.stream)
                if out is None:
                    self.dropped += 1
                    continue
                stored_s = msg.metadata.timestamp.timestamp()
                waiting = max(msg.metadata.num_pending, psub.pending_msgs)
                out.superseded = superseded(waiting, self._clock() - stored_s)
                self._results_queued += out.kind == "detection_result"
                await self._queue.put((out, stored_s))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the NATS subscription failed
            log.warning("scene subscription failed", extra={"sid": self.sid, "error": repr(exc)})
        await self._queue.put(_ENDED)

    async def messages(self) -> AsyncIterator[OutMessage]:
        while True:
            item = await self._queue.get()
            if item is _ENDED:
                return
            out, stored_s = item
            if out.kind == "detection_result":
                self._results_queued -= 1
                out.superseded = out.superseded or superseded(self._results_queued, self._clock() - stored_s)
            yield out

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), STOP_TIMEOUT_S)
        for psub in self._subs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(psub.unsubscribe(), STOP_TIMEOUT_S)


class NatsSceneFeed:
    """Opens live feeds and resume reads on SCENE/EVENTS (`gateway.ports.SceneFeed`)."""

    def __init__(
        self, js: JetStreamContext, replay_batch: int, replay_max_events: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.js = js
        self.replay_batch = replay_batch
        self.replay_max_events = replay_max_events
        self._clock = clock

    async def open(self, sid: str, after: LiveFeed | None = None) -> NatsLiveFeed:
        """From new messages on; or, given the feed this one replaces, right after what it read."""
        last = list(after.last_seq) if isinstance(after, NatsLiveFeed) else [0, 0]
        subs = []
        try:
            for (subject, stream), start in zip(
                ((subjects.scene(sid), subjects.SCENE_STREAM), (subjects.session_events(sid), subjects.EVENTS_STREAM)),
                last,
                strict=True,
            ):
                subs.append(await self._subscribe(subject, stream, start))
        except BaseException:
            for psub in subs:
                with contextlib.suppress(Exception):
                    await psub.unsubscribe()
            raise
        return NatsLiveFeed(sid, subs, self._clock)

    async def _subscribe(self, subject: str, stream: str, after_seq: int) -> Any:
        if after_seq <= 0:
            policy, start = api.DeliverPolicy.NEW, None
        else:
            policy, start = api.DeliverPolicy.BY_START_SEQUENCE, after_seq + 1
        return await self.js.subscribe(
            subject,
            stream=stream,
            ordered_consumer=True,
            deliver_policy=policy,
            config=api.ConsumerConfig(opt_start_seq=start) if start is not None else None,
            idle_heartbeat=IDLE_HEARTBEAT_S,
        )

    async def resumable(self, last_event_id: int) -> bool:
        return await replay.resumable(self.js, last_event_id)

    def replay(self, sid: str, after: int) -> AsyncIterator[OutMessage]:
        return replay.scene_after(self.js, sid, after, self.replay_batch, self.replay_max_events)
