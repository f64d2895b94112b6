"""MJPEG preview of the very frames the models saw (`GET /stream/sessions/{client_id}/preview.mjpg`).

For a camera-URL session the browser cannot open the camera itself (RTSP,
credentials, another network), and a separate video path would not line up
with the boxes anyway. So the preview is the FRAMES traffic of the session:
a core-NATS subscription on `sw.frames.<sid>` (JetStream publishes reach
plain subscribers too) re-served as `multipart/x-mixed-replace`, which an
`<img>` plays as is. Every part carries `X-Frame-Seq` and
`X-Captured-At-Ns`, so a page that reads the stream with `fetch` can draw
each frame with the result of the same `seq`.

Live video drops rather than queues: the subscription keeps only the newest
frame (a `shared.latest.LatestSlot`) and the client gets the newest one each
time it is ready for the next.
The stream ends when the client leaves (Starlette cancels the generator),
when the session is gone, or when the gateway shuts down; streams per
process are capped by `preview_max_clients`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from nats.aio.msg import Msg
from starlette.requests import Request

from gateway.deps import AuthorizedSession, RuntimeDep
from gateway.errors import error_responses
from gateway.runtime import GatewayRuntime
from shared import subjects
from shared.envelopes import Frame
from shared.errors import EnvelopeError, Unavailable
from shared.latest import LatestSlot

log = logging.getLogger(__name__)

router = APIRouter(tags=["preview"])

BOUNDARY = "sightwireframe"
MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
IDLE_CHECK_S = 1.0  # with no frame for this long, check that the session still exists


class PreviewSlots:
    """How many preview streams this gateway process serves (kept on `app.state`)."""

    def __init__(self) -> None:
        self.active = 0


def part(frame: Frame) -> bytes:
    """One multipart section: headers (with seq and capture time), the JPEG, CRLF."""
    head = (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
        f"X-Frame-Seq: {frame.seq}\r\nX-Captured-At-Ns: {frame.captured_at_ns}\r\n"
        f"X-Frame-Size: {frame.width}x{frame.height}\r\n\r\n"
    )
    return head.encode() + frame.jpeg + b"\r\n"


@router.get(
    "/stream/sessions/{client_id}/preview.mjpg",
    summary="Live MJPEG of the frames the models see (for <img>; token via ?token=)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}},
        **error_responses(401, 403, 404, 503),
    },
)
async def preview(
    record: AuthorizedSession,
    runtime: RuntimeDep,
    request: Request,
) -> StreamingResponse:
    slots = _slots(request)
    if slots.active >= runtime.settings.preview_max_clients:
        raise Unavailable("too many preview streams on this gateway")
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(runtime, slots, record.sid), media_type=MEDIA_TYPE, headers=headers)


def _slots(request: Request) -> PreviewSlots:
    slots = getattr(request.app.state, "preview_slots", None)
    if slots is None:
        slots = request.app.state.preview_slots = PreviewSlots()
    return slots


async def _stream(runtime: GatewayRuntime, slots: PreviewSlots, sid: str) -> AsyncIterator[bytes]:
    latest: LatestSlot[bytes] = LatestSlot()

    async def on_msg(msg: Msg) -> None:
        latest.put(msg.data)

    slots.active += 1
    sub = await runtime.nc.subscribe(subjects.frames(sid), cb=on_msg, pending_msgs_limit=16)
    try:
        if first := await _last_frame(runtime, sid):
            yield part(first)
        while runtime.accepting:
            data = await latest.get(IDLE_CHECK_S)
            if data is None:
                if not await _session_active(runtime, sid):
                    return
                continue
            try:
                frame = Frame.from_bytes(data)
            except EnvelopeError:
                continue
            yield part(frame)
            await runtime.directory.touch(sid)
    finally:
        slots.active -= 1
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        log.debug("preview stream ended", extra={"sid": sid, "replaced": latest.replaced})


async def _last_frame(runtime: GatewayRuntime, sid: str) -> Frame | None:
    """The newest stored frame, so that a slow or paused source shows a picture at once."""
    try:
        msg = await asyncio.wait_for(runtime.js.get_last_msg(subjects.FRAMES_STREAM, subjects.frames(sid)), 1.0)
        return Frame.from_bytes(msg.data or b"")
    except Exception:  # none stored yet (NotFoundError), or NATS slow: the live frames will come
        return None


async def _session_active(runtime: GatewayRuntime, sid: str) -> bool:
    """From the runtime's mirror of sw-sessions; the bucket itself only if the mirror lacks it."""
    record = runtime.directory.records.get(sid)
    if record is None:
        found = await runtime.directory.get(sid)
        record = found[0] if found else None
    return record is not None and record.status == "active"
