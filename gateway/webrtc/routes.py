"""WebRTC signalling: the browser's offer in, an ingest instance's answer out.

The gateway never holds media. It authorizes the session, checks the offer
cheaply, and relays it over NATS request/reply to the ingest queue group; the
instance that answers owns the peer connection. "Nobody subscribed" (503) and
"nobody answered in time" (504) are both `WEBRTC_UNAVAILABLE`, so the page
can retry; an offer ingest cannot use is a 400 `INVALID_SDP` like one refused
here. The body is read with a byte cap before any JSON parsing, so a huge or
hostile body costs at most that cap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal

import nats.errors
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from gateway.deps import AuthorizedSession, RuntimeDep
from gateway.errors import error_responses
from gateway.runtime import GatewayRuntime
from gateway.webrtc.ice import ice_servers_for
from gateway.webrtc.sdp import check_offer
from shared import subjects
from shared.errors import (
    EnvelopeError,
    ErrorCode,
    InvalidSdp,
    MalformedRequest,
    NotFound,
    RateLimited,
    SessionClosed,
    SightwireError,
    WebRTCTimeout,
    WebRTCUnavailable,
)
from shared.sessions import SessionRecord
from shared.webrtc import MAX_SDP_BYTES, WebRtcAnswer, WebRtcOffer

router = APIRouter(tags=["webrtc"])

BODY_CAP = MAX_SDP_BYTES + 4096  # the SDP plus JSON escaping and the "type" field
WEBRTC_SOURCES = frozenset({"webrtc", "upload"})  # pulled sources already have an owner for their frames
Refusal = Callable[[str], SightwireError]
# Ingest's refusal codes that mean something to the client; any other is a `WebRTCUnavailable` (503).
WEBCAM_REFUSALS: Mapping[ErrorCode, Refusal] = {
    ErrorCode.INVALID_SDP: InvalidSdp,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.SESSION_CLOSED: SessionClosed,
}
VIEWER_REFUSALS: Mapping[ErrorCode, Refusal] = {
    **WEBCAM_REFUSALS,
    ErrorCode.RATE_LIMITED: partial(RateLimited, retry_after_s=None),  # viewers per camera: no time to wait for
}


class OfferIn(BaseModel):
    sdp: str = Field(description="The browser's `RTCSessionDescription.sdp`.")
    type: str = Field("offer", description='Must be "offer".')


class AnswerOut(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    ice_servers: list[dict[str, Any]] = Field(description="`RTCIceServer` list for the page (TURN with credentials).")


class IceConfigOut(BaseModel):
    ice_servers: list[dict[str, Any]]
    offer_endpoint: str


@router.post(
    "/stream/sessions/{client_id}/webrtc",
    response_model=AnswerOut,
    summary="Send this browser's camera to the pipeline: SDP offer in, answer out",
    responses=error_responses(400, 401, 403, 404, 422, 503, 504),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": OfferIn.model_json_schema()}}}
    },
)
async def post_offer(record: AuthorizedSession, runtime: RuntimeDep, request: Request) -> AnswerOut:
    try:
        answer = await _answer(record, runtime, request)
    except SightwireError as exc:
        runtime.counters[f"webrtc.{exc.code.value}"] += 1
        raise
    runtime.counters["webrtc.answered"] += 1
    return answer


async def _answer(record: SessionRecord, runtime: GatewayRuntime, request: Request) -> AnswerOut:
    offer = await read_offer(request)
    if record.source.type not in WEBRTC_SOURCES:
        raise MalformedRequest(f"a {record.source.type} session takes no WebRTC")
    answer = await _relay(runtime, record.sid, check_offer(offer.sdp, offer.type))
    await runtime.directory.touch(record.sid)
    return AnswerOut(sdp=answer.sdp, ice_servers=session_ice_servers(runtime, record))


@router.get(
    "/stream/sessions/{client_id}/webrtc",
    response_model=IceConfigOut,
    summary="ICE servers (STUN/TURN) for this session's peer connection",
    responses=error_responses(401, 403, 404),
)
async def get_ice_config(record: AuthorizedSession, runtime: RuntimeDep, request: Request) -> IceConfigOut:
    return IceConfigOut(ice_servers=session_ice_servers(runtime, record), offer_endpoint=request.url.path)


def session_ice_servers(runtime: GatewayRuntime, record: SessionRecord) -> list[dict[str, Any]]:
    s = runtime.settings
    return ice_servers_for(s.webrtc_ice_servers, record.sid, s.webrtc_turn_secret, s.webrtc_turn_ttl_s)


async def read_offer(request: Request) -> OfferIn:
    """The offer body, read under `BODY_CAP` before any parsing; `InvalidSdp` if unusable."""
    return _parse_offer(await _read_capped(request, BODY_CAP))


async def _read_capped(request: Request, cap: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise InvalidSdp(f"offer body larger than {cap} bytes")
    return bytes(body)


def _parse_offer(body: bytes) -> OfferIn:
    try:
        return OfferIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidSdp('body must be JSON {"sdp": "...", "type": "offer"}') from exc


async def _relay(runtime: GatewayRuntime, sid: str, sdp: str) -> WebRtcAnswer:
    nobody = "no ingest instance takes WebRTC right now"
    return await relay_offer(runtime, subjects.WEBRTC_SUBJECT, sid, sdp, nobody, "WebRTC", WEBCAM_REFUSALS)


async def relay_offer(
    runtime: GatewayRuntime,
    subject: str,
    sid: str,
    sdp: str,
    nobody: str,
    what: str,
    refusals: Mapping[ErrorCode, Refusal],
) -> WebRtcAnswer:
    """Request/reply of an SDP offer to ingest; every failure is a `SightwireError` (`refusals` turns
    ingest's refusal codes into errors; any other code is a `WebRTCUnavailable` that keeps it)."""
    timeout = runtime.settings.webrtc_offer_timeout_s
    try:
        msg = await runtime.nc.request(subject, WebRtcOffer(sid=sid, sdp=sdp).to_bytes(), timeout)
    except nats.errors.NoRespondersError as exc:
        raise WebRTCUnavailable(nobody) from exc
    except TimeoutError as exc:  # nats.errors.TimeoutError is one
        raise WebRTCTimeout(f"no {what} answer within {timeout:.0f} s") from exc
    except nats.errors.Error as exc:
        raise WebRTCUnavailable("NATS unavailable") from exc
    try:
        answer = WebRtcAnswer.from_bytes(msg.data)
    except EnvelopeError as exc:
        raise WebRTCUnavailable("unreadable answer from ingest") from exc
    if not answer.ok:
        raise refusal_error(answer, what, refusals)
    return answer


def refusal_error(answer: WebRtcAnswer, what: str, refusals: Mapping[ErrorCode, Refusal]) -> SightwireError:
    """The error for ingest's refusal: a known code's class, else `WebRTCUnavailable` keeping the code."""
    code = ErrorCode.__members__.get(answer.code or "", ErrorCode.WEBRTC_UNAVAILABLE)
    message = answer.message or f"{what} refused"
    refusal = refusals.get(code)
    return refusal(message) if refusal is not None else WebRTCUnavailable(message, code=code)
