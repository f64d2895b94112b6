"""Resume after a disconnect: replay a session's results from the RESULTS stream.

An SSE client that reconnects with `Last-Event-ID: N` (N = the RESULTS stream
sequence of the last event it got) should see every result after N exactly
once. The live hub only has what arrives from now on, so a short-lived
ephemeral pull consumer reads the session's results from `N + 1` until it has
caught up (`num_pending == 0`), fusing them with a fresh `ResultPipeline` of
the session's config, and queues them on the subscription, which meanwhile
holds the live messages and drops the overlap (`ClientSubscription.begin_replay`).
The window is the RESULTS retention (`results_max_age_s`, about a minute);
older ids resume from the oldest result still stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api

from gateway.fanout import ClientSubscription
from gateway.results import ResultPipeline
from shared import subjects

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 2.0
FETCH_ATTEMPTS = 3
CONSUMER_IDLE_S = 30.0


async def resumable(js: JetStreamContext, last_event_id: int) -> bool:
    """False for an id this stream never issued (e.g. from before a stream was recreated)."""
    if last_event_id < 0:
        return False
    info = await js.stream_info(subjects.RESULTS_STREAM)
    return last_event_id <= (info.state.last_seq or 0)


class Replay:
    """One catch-up read for one subscription; `run()` always ends the replay."""

    def __init__(
        self,
        js: JetStreamContext,
        sid: str,
        after: int,
        pipeline: ResultPipeline,
        sub: ClientSubscription,
        settings: GatewaySettings,
    ) -> None:
        self.js = js
        self.sid = sid
        self.after = after
        self.pipeline = pipeline
        self.sub = sub
        self.max_events = settings.replay_max_events
        self.batch = settings.replay_batch
        self.put_timeout_s = settings.send_timeout_s * settings.max_send_timeouts
        self.replayed = 0

    async def run(self) -> None:
        try:
            await self._copy()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed replay degrades to live-only, it never ends the stream
            log.warning("result replay failed", extra={"sid": self.sid, "error": repr(exc)})
        finally:
            self.sub.end_replay()

    async def _copy(self) -> None:
        psub = await self.js.pull_subscribe(
            subjects.session_results(self.sid), stream=subjects.RESULTS_STREAM, config=self._config()
        )
        try:
            pending = (await psub.consumer_info()).num_pending or 0
            while pending > 0 and self.replayed < self.max_events and not self.sub.closed:
                pending = await self._fetch(psub, min(self.batch, pending))
        finally:
            await self._delete(psub)

    def _config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.after + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_S,
            mem_storage=True,
            num_replicas=1,
        )

    async def _fetch(self, psub: Any, batch: int) -> int:
        """Replay one batch; returns how many results remain after it."""
        msgs = await self._pull(psub, batch)
        if not msgs:
            return 0
        pending = 0
        for msg in msgs:
            pending = msg.metadata.num_pending or 0
            out = await asyncio.to_thread(self.pipeline.handle, msg.subject, msg.data, msg.metadata.sequence.stream)
            if out is None:
                continue
            if not await self.sub.replay(out, self.put_timeout_s):
                return 0  # the client stopped reading: give up the replay, keep the stream
            self.replayed += 1
        return pending

    async def _pull(self, psub: Any, batch: int) -> list[Any]:
        """One batch; a slow server gets a few more tries before the replay gives up."""
        for _ in range(FETCH_ATTEMPTS):
            try:
                msgs: list[Any] = await psub.fetch(batch, timeout=FETCH_TIMEOUT_S)
            except (NatsTimeoutError, TimeoutError):
                if not (await psub.consumer_info()).num_pending:
                    return []
                continue
            return msgs
        log.warning("result replay gave up on a slow server", extra={"sid": self.sid, "replayed": self.replayed})
        return []

    async def _delete(self, psub: Any) -> None:
        with contextlib.suppress(Exception):
            info = await psub.consumer_info()
            await self.js.delete_consumer(subjects.RESULTS_STREAM, info.name)
        with contextlib.suppress(Exception):
            await psub.unsubscribe()
