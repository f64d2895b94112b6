"""Read a session's results straight from the RESULTS stream (the ground truth a viewer is judged by)."""

from __future__ import annotations

import time

import nats
from nats.js import api

from shared import subjects
from shared.envelopes import Detections, ErrorResult


async def results_of(
    nats_url: str, sid: str, want: set[int], timeout_s: float, finished: dict[int, int] | None = None
) -> dict[int, str]:
    """seq -> "det" or the error code, for every result of `sid`, until all of `want` are there.

    `finished`, if given, gets seq -> the detection's `finished_at_ns` (wall clock).
    """
    nc = await nats.connect(nats_url.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    found: dict[int, str] = {}
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            subjects.session_results(sid),
            stream=subjects.RESULTS_STREAM,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.ALL,
        )
        deadline = time.monotonic() + timeout_s
        while not want <= set(found) and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            kind = subjects.kind_of(msg.subject)
            if kind == subjects.ResultKind.DET:
                det = Detections.from_bytes(msg.data)
                found[det.seq] = "det"
                if finished is not None:
                    finished[det.seq] = det.finished_at_ns
            elif kind == subjects.ResultKind.ERROR:
                error = ErrorResult.from_bytes(msg.data)
                found.setdefault(error.seq, error.code)
    finally:
        await nc.close()
    return found
