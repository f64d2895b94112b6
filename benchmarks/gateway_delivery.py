"""The gateway's CPU cost per delivered message, per SSE viewer, in one process (same-run ratios).

What fan-out to thousands of viewers costs is the Python work per viewer per
message. This measures it without sockets or a broker, so that a busy shared
machine disturbs it little (CPU time of this process, not wall time): `viewers`
subscriptions of one hub, each drained by an SSE response writing into an ASGI
`send` that only counts bytes, and `messages` SCENE messages offered one after
another (each waits until every viewer has sent it). Variants, same run:
- `sse-starlette`: the previous SSE route (`EventSourceResponse` over an async
  generator of the shared frame bytes);
- `lean`: `gateway.sse.SseResponse` (due results pushed from inside `offer()`);
each on the asyncio loop and on uvloop.

    python -m benchmarks.gateway_delivery --viewers 2000 --messages 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvloop
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.fanout import ClientSubscription, OutMessage
from gateway.routes.streams import sse_frame
from gateway.sse import SseResponse

SCOPE = {"type": "http", "method": "GET"}


def message(seq: int) -> bytes:
    people = [{"label": "person", "class_id": 0, "confidence": 0.9, "bbox": [64.0 * i, 96.0, 64.0 * i + 51.2, 432.0],
               "track_id": i + 1, "depth_rel": 0.42, "distance_m": 3.1, "distance_source": "size_prior"}
              for i in range(3)]  # fmt: skip
    data = {"frame_id": str(seq), "seq": seq, "timestamp": time.time(), "width": 640, "height": 480,
            "detections": people, "processing_time_ms": 9.0, "latency_ms": 12.0}  # fmt: skip
    return json.dumps({"type": "detection_result", "data": data}, separators=(",", ":")).encode()


class Sink:
    """The ASGI send of every viewer: counts body chunks, wakes the driver at `target`;
    the clients never leave (receive blocks)."""

    def __init__(self) -> None:
        self.chunks = 0
        self.target = 0
        self.reached = asyncio.Event()

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            self.chunks += 1
            if self.chunks == self.target:
                self.reached.set()

    async def until(self, target: int) -> None:
        self.target, self.reached = target, asyncio.Event()
        if self.chunks < target:
            await self.reached.wait()

    async def receive(self) -> Any:
        await asyncio.Event().wait()


def old_response(sub: ClientSubscription) -> EventSourceResponse:
    async def frames() -> AsyncIterator[ServerSentEvent | bytes]:
        yield ServerSentEvent(retry=2000, comment="connected")
        while True:
            msg = await sub.next(5.0)
            if msg is not None:
                yield msg.wire("sse-message", lambda m: sse_frame(m, "message"))

    return EventSourceResponse(frames(), ping=15, send_timeout=15)


def lean_response(sub: ClientSubscription) -> SseResponse:
    async def touch() -> None:
        return None

    encode: Callable[[OutMessage], bytes] = lambda m: m.wire("sse-message", lambda x: sse_frame(x, "message"))  # noqa: E731
    return SseResponse(sub, encode, touch, ping_s=15, retry_ms=2000, send_timeout_s=15)


async def run(variant: str, viewers: int, messages: int) -> dict[str, Any]:
    subs = [ClientSubscription("s", "sse", 30, 30, 8) for _ in range(viewers)]
    sink = Sink()
    make = old_response if variant == "sse-starlette" else lean_response
    tasks = [asyncio.create_task(make(sub)(SCOPE, sink.receive, sink.send)) for sub in subs]
    await sink.until(viewers)  # all connected (the "connected" comment sent)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n in range(1, messages + 1):
        out = OutMessage.from_json(n, message(n))
        for sub in subs:
            sub.offer(out)
        await sink.until(viewers * (n + 1))  # every viewer has sent it
        await asyncio.sleep(1 / 30)  # under every viewer's rate: no latest-wins skipping
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    deliveries = viewers * messages
    return {"variant": variant, "viewers": viewers, "messages": messages, "cpu_s": round(cpu, 3),
            "cpu_us_per_delivery": round(cpu / deliveries * 1e6, 2), "wall_s": round(wall, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="each variant this often, interleaved")
    args = parser.parse_args()
    rows = []
    for _ in range(args.rounds):
        for variant in ("sse-starlette", "lean"):
            for loop in ("asyncio", "uvloop"):
                factory = uvloop.new_event_loop if loop == "uvloop" else None
                with asyncio.Runner(loop_factory=factory) as runner:
                    row = {"loop": loop, **runner.run(run(variant, args.viewers, args.messages))}
                rows.append(row)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
