"""Per-client delivery: latest wins, `delivery_fps` results per second at most, never blocking the hub.

A hub hands every result to every subscription with `offer()`, which is
synchronous and O(1): it only replaces the subscription's single pending slot.
So a viewer that reads slowly (or a stalled TCP connection) costs the hub
nothing and slows no other viewer; it merely sees fewer, fresher results.
Per subscription the memory is bounded: one pending result, a small deque of
errors (`client_buffer`), and during a resume a bounded replay backlog.

Rate: a token bucket per client (rate `delivery_fps`: the client's `?fps_limit=`,
capped at the session's; depth `BURST`) decides when
the pending result may go; in between, newer results replace it (counted as
skipped). On average a client gets at most `delivery_fps` results per second (at
most one more in any single second), and input that runs at or below its rate
is passed on the moment it arrives. A client whose rate is the session's own
(it asked for as much or more) gets a faster, deeper bucket (`FULL_RATE_HEADROOM`,
`FULL_RATE_BURST_S`): the session's sampler already bounds the average, and the
headroom keeps arrival jitter and a detector's catch-up burst from costing it
results.

Ordering rules a client can rely on:
- detection results arrive with `seq` strictly increasing;
- event ids (the SCENE stream sequence, the SSE `id:`) strictly increase, so a
  reconnect with `Last-Event-ID` never repeats an event;
- errors bypass the FPS limiter (a client must learn that its frames fail) but
  are bounded, oldest dropped first;
- events (EVENTS, DESIGN.md section 8) are never replaced by a newer message and
  never wait for the FPS limiter: each goes out in arrival order through a
  bounded queue (`event_buffer`); only a client too slow to drain it loses the
  oldest, counted in `events_dropped`. They carry no event id (no SSE `id:`):
  `Last-Event-ID` names a SCENE sequence;
- a resume replays the missed results in order, unthrottled (catch-up), then
  joins the live stream without a gap or a duplicate (see `begin_replay`).

Direct push (issue 10: 2,000 viewers at 10 fps on one process): waking one
task per viewer per message costs more than the write itself. A transport
whose writer is idle (the SSE response while it waits in `next()`) attaches a
`Pusher`; a live result that may go at once (a token is free, nothing queued
ahead of it, no replay) is then written from inside `offer()`, so the hub's
loop over its viewers is one batch of writes and no viewer's task wakes up.
A result that finds nothing pending at all skips the round trip through the
latest slot (`_push_or_keep`: the same token, the same accounting).
Anything else (errors, events, a resume, a result that must wait for its
token) takes the task path (`next()`), in the same order as before.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgpack
import numpy as np

from shared.latest import LatestSlot
from shared.rates import RateLimiter

MessageKind = Literal["detection_result", "error", "event", "drops", "closed"]
KINDS: frozenset[str] = frozenset(("detection_result", "error", "event", "drops"))
QUEUED: frozenset[str] = frozenset(("error", "drops"))  # each one sent, never replaced by a newer message

# Depth of the per-client token bucket (rate = delivery_fps). Exactly 1 would make a
# result that arrives a little late push every later slot back for good when the input
# runs at the client's own rate (lag only ever grows); a depth of 2 absorbs a late
# arrival of up to one interval, so jitter adds no latency, while the average rate
# stays at delivery_fps and any one second holds at most one result more.
BURST = 2.0

# A client that asks for at least the session's analysis rate wants every result: the session's
# own sampler already holds results to that rate on average. Its bucket refills FULL_RATE_HEADROOM
# faster and holds FULL_RATE_BURST_S of results. Without the headroom the bucket runs at its edge
# (input rate = refill rate), its level drifts to empty, and two results that finish close together
# (two inference requests in parallel) cost one; without the depth, the few results a detector
# releases at once after a stall of a few hundred ms cost all but two (together 1.3-2.2 % skipped
# in `sightwire bench`). Any one second still holds at most rate * (1 + headroom + burst_s) results.
FULL_RATE_HEADROOM = 0.25
FULL_RATE_BURST_S = 0.5


@dataclass(slots=True)
class OutMessage:
    """One message for clients, encoded at most once per format and shared by all of them.

    A message read from SCENE or EVENTS keeps the published JSON bytes (`raw`): JSON
    clients get exactly those bytes, so every viewer on every replica, live or resumed,
    sees the same message; `payload` is parsed once, for msgpack clients and bookkeeping.
    """

    event_id: int
    kind: MessageKind
    payload: dict[str, Any]
    seq: int | None = None
    captured_at_ns: int | None = None
    raw: bytes | None = field(default=None, repr=False)
    superseded: bool = False  # a newer message of the session was already waiting when this one was read
    _json: str | None = field(default=None, repr=False)
    _msgpack: bytes | None = field(default=None, repr=False)
    _wire: dict[str, bytes] = field(default_factory=dict, repr=False)
    _chunks: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, event_id: int, raw: bytes) -> OutMessage:
        """A published client message (SCENE or EVENTS body); ValueError if it is not one."""
        payload = json.loads(raw)
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind not in KINDS:
            raise ValueError(f"not a client message: type {kind!r}")
        seq, captured = None, None
        data = payload.get("data")
        if kind == "detection_result" and isinstance(data, dict):
            seq = data.get("seq") if isinstance(data.get("seq"), int) else None
            stamp = data.get("timestamp")
            captured = int(stamp * 1e9) if isinstance(stamp, int | float) and stamp > 0 else None
        return cls(event_id if kind != "event" else 0, kind, payload, seq, captured, raw=raw)

    def json_bytes(self) -> bytes:
        if self.raw is None:
            self.raw = json.dumps(self.payload, separators=(",", ":")).encode()
        return self.raw

    def json_text(self) -> str:
        if self._json is None:
            self._json = self.json_bytes().decode()
        return self._json

    def msgpack_bytes(self) -> bytes:
        if self._msgpack is None:
            self._msgpack = msgpack.packb(self.payload, use_bin_type=True)
        return self._msgpack

    def wire(self, form: str, encode: Callable[[OutMessage], bytes]) -> bytes:
        """Any other encoding (an SSE frame), built by the first client that needs it."""
        body = self._wire.get(form)
        if body is None:
            body = self._wire[form] = encode(self)
        return body

    def chunked(self, body: bytes) -> bytes:
        """One of this message's encodings (`body`, e.g. from `wire`) framed as an HTTP/1.1 chunk,
        for a transport that is written directly; built once per encoding and shared."""
        chunk = self._chunks.get(body)
        if chunk is None:
            chunk = self._chunks[body] = b"%x\r\n%b\r\n" % (len(body), body)
        return chunk


@dataclass(slots=True)
class DeliveryCounters:
    """Cumulative counters shared by the subscriptions of one scope (a hub or the process)."""

    delivered: int = 0
    skipped: int = 0


Listener = Callable[["ClientSubscription", OutMessage], None]


class Pusher(Protocol):
    """A transport that can write a message synchronously (see the module docstring)."""

    def ready(self) -> bool:
        """True while nothing is being written: a push now cannot overtake an earlier message."""
        ...

    def push(self, msg: OutMessage) -> None:
        """Write `msg` now, from inside `offer()`; must not raise."""
        ...


class ClientSubscription:
    """What one connected client reads from: `await next(timeout)`."""

    def __init__(
        self,
        sid: str,
        transport: str,
        delivery_fps: int,
        session_fps: int,
        buffer: int,
        on_delivered: Listener | None = None,
        on_skipped: Listener | None = None,
        clock: Callable[[], float] = time.monotonic,
        event_buffer: int = 256,
    ) -> None:
        self.sid = sid
        self.transport = transport
        self.requested_fps = delivery_fps
        self.delivery_fps = max(1, min(delivery_fps, session_fps))
        self.buffer = max(1, buffer)
        self.delivered = 0
        self.skipped = 0
        self.errors_dropped = 0
        self.events_dropped = 0
        self.event_buffer = max(1, event_buffer)
        self._on_delivered = on_delivered
        self._on_skipped = on_skipped
        self._clock = clock
        self._latest: LatestSlot[OutMessage] = LatestSlot(self._skip)  # latest wins; a replaced one is skipped
        self._errors: deque[OutMessage] = deque()
        self._events: deque[OutMessage] = deque()
        self._closed: OutMessage | None = None
        self._finished = False
        self._wake = asyncio.Event()
        self._limiter = RateLimiter(self.delivery_fps, BURST, tokens=1.0, now=clock())
        self._fit_bucket(session_fps)
        self._last_seq = -1
        self._last_event_id = 0
        self._replaying = False
        self._backlog: deque[OutMessage] = deque()
        self._held: deque[OutMessage] = deque()
        self._backlog_room = asyncio.Event()
        self._pusher: Pusher | None = None

    # ---- producer side (the hub) ----

    def set_session_fps(self, session_fps: int) -> None:
        """The session's analysis rate (`fps_limit`) changed: a client's own rate never exceeds it."""
        self.delivery_fps = max(1, min(self.requested_fps, session_fps))
        self._fit_bucket(session_fps)

    def _fit_bucket(self, session_fps: int) -> None:
        """Rate `delivery_fps` and depth `BURST`; more of both when the client takes the session's
        whole rate (see FULL_RATE_HEADROOM)."""
        full = self.requested_fps >= session_fps
        self._limiter.rate = self.delivery_fps * (1.0 + FULL_RATE_HEADROOM) if full else float(self.delivery_fps)
        self._limiter.burst = max(BURST, self.delivery_fps * FULL_RATE_BURST_S) if full else BURST

    def offer(self, msg: OutMessage) -> None:
        """Hand over a live message; never blocks, never grows without bound."""
        if self._closed is not None:
            return
        if msg.kind == "event":
            self._accept_event(msg)
            return
        if self._replaying and msg.kind != "closed":
            self._hold(msg)
            return
        self._accept(msg)

    def close(self, msg: OutMessage) -> None:
        """Queue the final event; `next()` returns it after pending errors, then nothing more."""
        if self._closed is None:
            self._closed = msg
            self._replaying = False
            self._wake.set()
            self._backlog_room.set()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def attach(self, pusher: Pusher | None) -> None:
        """Let `offer()` write due results through `pusher` (None: only through `next()`).
        The transport attaches while it waits in `next()` and detaches when it wakes."""
        self._pusher = pusher

    # ---- resume (Last-Event-ID) ----

    def begin_replay(self, last_event_id: int) -> None:
        """Hold live messages while the missed ones are fetched from RESULTS.

        Live messages that arrive meanwhile are kept (bounded) and released by
        `end_replay`, minus those the replay already delivered: the replay and
        the live feed overlap, never leave a hole between them.
        """
        self._last_event_id = last_event_id
        self._replaying = True

    async def replay(self, msg: OutMessage, wait_s: float) -> bool:
        """Queue one replayed message, waiting (at most `wait_s`) while the backlog is full."""
        deadline = self._clock() + wait_s
        while len(self._backlog) >= self.buffer and self._closed is None:
            self._backlog_room.clear()
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._backlog_room.wait()
            except TimeoutError:
                return False
        if self._closed is not None or not self._is_new(msg):
            return self._closed is None
        self._mark_queued(msg)
        self._backlog.append(msg)
        self._wake.set()
        return True

    def end_replay(self) -> None:
        """Switch to live: release the held live messages that the replay did not cover."""
        self._replaying = False
        held, self._held = self._held, deque()
        for msg in held:
            self._accept(msg)
        self._wake.set()

    # ---- consumer side (the transport) ----

    async def next(self, timeout: float) -> OutMessage | None:  # noqa: ASYNC109 - the GATEWAY.md interface
        """The next message to send, or None when nothing is due within `timeout`.

        After the final `closed` message has been returned, always None at once.
        """
        deadline = self._clock() + timeout
        while True:
            self._wake.clear()
            msg = self._take()
            if msg is not None or self._finished:
                return msg
            now = self._clock()
            wait = deadline - now
            if self._latest.pending and not self._replaying:
                wait = min(wait, self._limiter.wait_s(now))
            if wait <= 0:
                if now >= deadline:
                    return None
                continue
            await self._wait(wait)

    async def _wait(self, seconds: float) -> None:
        """Until an offer (or close) wakes us, or `seconds` have passed.

        One timer handle per wait: every viewer waits once per message, and
        `asyncio.timeout` costs several times more per wait than this.
        """
        timer = asyncio.get_running_loop().call_later(seconds, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    # ---- internals ----

    def _take(self) -> OutMessage | None:
        if self._finished:
            return None
        if self._backlog:
            self._backlog_room.set()
            return self._deliver(self._backlog.popleft())
        if self._errors:
            return self._deliver(self._errors.popleft())
        if self._events:
            return self._deliver(self._events.popleft())
        if not self._replaying and (msg := self._latest.take_if(self._take_token)) is not None:
            return self._deliver(msg)
        if self._closed is not None and not self._backlog:
            self._finished = True
            return self._closed
        return None

    def _take_token(self) -> bool:
        return self._limiter.take(self._clock())

    def _deliver(self, msg: OutMessage) -> OutMessage:
        self.delivered += 1
        if self._on_delivered is not None:
            self._on_delivered(self, msg)
        return msg

    def _skip(self, msg: OutMessage) -> None:
        self.skipped += 1
        if self._on_skipped is not None:
            self._on_skipped(self, msg)

    def _is_new(self, msg: OutMessage) -> bool:
        if msg.event_id == 0:  # not from a stream (a notice such as "broker unavailable"): always sent
            return msg.kind == "error"
        if msg.event_id <= self._last_event_id:
            return False
        return msg.kind != "detection_result" or msg.seq is None or msg.seq > self._last_seq

    def _mark_queued(self, msg: OutMessage) -> None:
        self._last_event_id = max(self._last_event_id, msg.event_id)
        if msg.kind == "detection_result" and msg.seq is not None:
            self._last_seq = msg.seq

    def _hold(self, msg: OutMessage) -> None:
        if len(self._held) >= max(self.buffer, 64):
            self._skip(self._held.popleft())
        self._held.append(msg)

    def _accept(self, msg: OutMessage) -> None:
        if msg.kind == "closed":
            self.close(msg)
            return
        if not self._is_new(msg):
            return
        if msg.kind == "detection_result" and self._pushable():
            self._push_or_keep(msg)
            return
        if msg.kind in QUEUED:
            self._accept_error(msg)
        else:
            self._latest.put(msg)
        self._mark_queued(msg)
        if not self._pushed_latest():
            self._wake.set()

    def _pushable(self) -> bool:
        """Nothing pending either and the pusher is idle: a new result goes out now if a token is
        free (the hot path: one check instead of put+take)."""
        return not self._latest.pending and self._clear_to_push()

    def _clear_to_push(self) -> bool:
        """A pusher is attached and idle, and nothing (an error, an event, a replay) must go first."""
        pusher = self._pusher
        return (
            pusher is not None
            and not self._replaying
            and self._closed is None
            and not self._backlog
            and not self._errors
            and not self._events
            and pusher.ready()
        )

    def _push_or_keep(self, msg: OutMessage) -> None:
        """What `put` + `_pushed_latest` do with an empty slot, without the round trip through it."""
        self._mark_queued(msg)
        if self._limiter.take(self._clock()):
            assert self._pusher is not None  # _pushable() said so
            self._pusher.push(self._deliver(msg))
            return
        self._latest.put(msg)
        self._wake.set()

    def _pushed_latest(self) -> bool:
        """Write the pending result through the attached pusher if it may go now and nothing
        (an error, an event, a replay, a write in progress) must go before it."""
        if not self._clear_to_push():
            return False
        msg = self._latest.take_if(self._take_token)
        if msg is None:
            return False
        assert self._pusher is not None  # _clear_to_push() said so
        self._pusher.push(self._deliver(msg))
        return True

    def _accept_event(self, msg: OutMessage) -> None:
        """Events are never replaced or rate-limited; a full queue loses its oldest, counted."""
        if len(self._events) >= self.event_buffer:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(msg)
        self._wake.set()

    def _accept_error(self, msg: OutMessage) -> None:
        # Event ids must stay increasing on the wire: a pending result older than this
        # error can no longer be sent after it, so it counts as skipped.
        self._latest.evict()
        if len(self._errors) >= self.buffer:
            self._errors.popleft()
            self.errors_dropped += 1
        self._errors.append(msg)


class LatencyWindow:
    """The most recent capture-to-send latencies (ms), for p50/p95/p99 in the stats."""

    def __init__(self, size: int = 4096) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value_ms: float) -> None:
        self._values.append(value_ms)

    def percentiles(self) -> dict[str, float | None]:
        if not self._values:
            return {"p50": None, "p95": None, "p99": None, "count": 0}
        p50, p95, p99 = np.percentile(np.fromiter(self._values, dtype=np.float64), [50, 95, 99])
        return {
            "p50": round(float(p50), 1),
            "p95": round(float(p95), 1),
            "p99": round(float(p99), 1),
            "count": len(self._values),
        }
