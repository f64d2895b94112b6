"""`POST /stream/sessions/{id}/video`: a viewer's SDP offer in, the camera owner's answer out (DESIGN §9).

A camera session's video comes from the ingest instance that pulls the camera,
whichever gateway replica the page talks to. The gateway reads the camera's
lease in sw-leases to learn the owner and relays the offer with NATS
request/reply on that instance's own subject (`sw.ingest.video.<instance>`,
no queue group: any other instance would have no frames to send). No lease
(the camera is between owners, e.g. after its owner died and before the TTL
let another claim it), no responder or no answer in time are all 503/504
`WEBRTC_UNAVAILABLE`: the page retries, and that retry is the failover.
"""

from __future__ import annotations

from typing import Any, Literal

import nats.errors
from fastapi import APIRouter, Request
from nats.js.errors import KeyNotFoundError
from pydantic import BaseModel, Field

from gateway.deps import AuthorizedSession, RuntimeDep
from gateway.errors import error_responses
from gateway.runtime import GatewayRuntime
from gateway.webrtc.routes import VIEWER_REFUSALS, OfferIn, read_offer, relay_offer, session_ice_servers
from gateway.webrtc.sdp import check_offer
from shared import subjects
from shared.errors import MalformedRequest, SessionClosed, SightwireError, WebRTCUnavailable
from shared.webrtc import WebRtcAnswer

router = APIRouter(tags=["webrtc"])


class VideoAnswerOut(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    ice_servers: list[dict[str, Any]] = Field(description="`RTCIceServer` list for the page (TURN with credentials).")
    instance: str = Field(description="The ingest instance that serves this camera now (diagnostics).")


@router.post(
    "/stream/sessions/{client_id}/video",
    response_model=VideoAnswerOut,
    summary="Watch a camera session's video over WebRTC: SDP offer in, answer out",
    responses=error_responses(400, 401, 403, 404, 422, 429, 503, 504),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": OfferIn.model_json_schema()}}}
    },
)
async def post_video_offer(record: AuthorizedSession, runtime: RuntimeDep, request: Request) -> VideoAnswerOut:
    try:
        offer = await read_offer(request)
        if not record.source.pulled:
            raise MalformedRequest(f"a {record.source.type} session has no camera video")
        if record.status != "active":
            raise SessionClosed(f"session is {record.status}")
        answer = await _relay(runtime, record.sid, check_offer(offer.sdp, offer.type))
    except SightwireError as exc:
        runtime.counters[f"video.{exc.code.value}"] += 1
        raise
    runtime.counters["video.answered"] += 1
    return VideoAnswerOut(sdp=answer.sdp, ice_servers=session_ice_servers(runtime, record), instance=answer.instance)


async def _owner(runtime: GatewayRuntime, sid: str) -> str:
    try:
        kv = await runtime.js.key_value(subjects.LEASES_BUCKET)
        entry = await kv.get(sid)
    except KeyNotFoundError:
        entry = None
    except (TimeoutError, nats.errors.Error) as exc:
        raise WebRTCUnavailable("NATS unavailable") from exc
    if entry is None or not entry.value:
        raise WebRTCUnavailable("the camera has no owner right now; retry shortly")
    return entry.value.decode(errors="replace")


async def _relay(runtime: GatewayRuntime, sid: str, sdp: str) -> WebRtcAnswer:
    """Ask the lease holder itself (not a queue group): only it has the camera's frames."""
    owner = await _owner(runtime, sid)
    nobody = "the camera's owner is not answering; retry shortly"
    return await relay_offer(runtime, subjects.ingest_video(owner), sid, sdp, nobody, "video", VIEWER_REFUSALS)
