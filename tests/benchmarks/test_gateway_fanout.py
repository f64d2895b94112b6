"""The fan-out benchmark's SSE client: it finds every result's capture time in the raw chunked
bytes however the reads split them, and counts nothing else."""

from __future__ import annotations

import json
import time
from array import array

from benchmarks.gateway_fanout import SseRecorder, scene_message


def chunk(frame: bytes) -> bytes:
    """One HTTP/1.1 chunk, as uvicorn writes an SSE frame."""
    return b"%x\r\n" % len(frame) + frame + b"\r\n"


def stream(captured_s: list[float]) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(b": connected\r\nretry: 2000\r\n\r\n")
    body = b""
    for seq, at in enumerate(captured_s, start=1):
        body += chunk(b"id: %d\r\ndata: %s\r\n\r\n" % (seq, scene_message(seq, int(at * 1e9))))
        body += chunk(b": ping\r\n\r\n")
    error = {"type": "error", "error": "x", "error_code": "E", "frame_id": None, "timestamp": 1.0}
    return head + body + chunk(b"data: %s\r\n\r\n" % json.dumps(error).encode())


async def test_every_result_is_timed_whatever_the_read_boundaries():
    now = time.time()
    captured = [now - 0.5, now - 0.25, now - 0.125]
    data = stream(captured)
    for size in (1, 7, 64, 333, len(data)):
        recorder = SseRecorder(b"", array("d"), array("d"))
        for at in range(0, len(data), size):
            recorder.data_received(data[at : at + size])
        assert len(recorder.arrivals) == 3, size
        ages = [arrived - at for arrived, at in zip(recorder.arrivals, captured, strict=True)]
        for lag_ms, age_s in zip(recorder.lags, ages, strict=True):
            assert abs(lag_ms - age_s * 1e3) < 1.0  # the capture time is read to the microsecond
