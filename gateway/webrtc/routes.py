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
from typing import Any, Literal

import nats.errors
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from gateway.deps import AuthorizedSession, RuntimeDep
from gateway.errors import ApiError, error_responses
from gateway.runtime import GatewayRuntime
from gateway.webrtc.ice import ice_servers_for
from gateway.webrtc.sdp import InvalidOffer, check_offer
from shared import subjects
from shared.errors import EnvelopeError, ErrorCode
from shared.sessions import SessionRecord
from shared.webrtc import MAX_SDP_BYTES, WebRtcAnswer, WebRtcOffer

router = APIRouter(tags=["webrtc"])

BODY_CAP = MAX_SDP_BYTES + 4096  # the SDP plus JSON escaping and the "type" field
WEBRTC_SOURCES = frozenset({"webrtc", "upload"})  # pulled sources already have an owner for their frames
_REPLY_STATUS = {
    ErrorCode.INVALID_SDP.value: 400,
    ErrorCode.NOT_FOUND.value: 404,
    ErrorCode.SESSION_CLOSED.value: 404,
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
    except ApiError as exc:
        runtime.counters[f"webrtc.{exc.code.value}"] += 1
        raise
    runtime.counters["webrtc.answered"] += 1
    return answer


async def _answer(record: SessionRecord, runtime: GatewayRuntime, request: Request) -> AnswerOut:
    offer = _parse_offer(await _read_capped(request, BODY_CAP))
    if record.source.type not in WEBRTC_SOURCES:
        raise ApiError(400, ErrorCode.VALIDATION_ERROR, f"a {record.source.type} session takes no WebRTC")
    try:
        sdp = check_offer(offer.sdp, offer.type)
    except InvalidOffer as exc:
        raise ApiError(400, ErrorCode.INVALID_SDP, str(exc)) from exc
    answer = await _relay(runtime, record.sid, sdp)
    await runtime.directory.touch(record.sid)
    return AnswerOut(sdp=answer.sdp, ice_servers=_ice_servers(runtime, record))


@router.get(
    "/stream/sessions/{client_id}/webrtc",
    response_model=IceConfigOut,
    summary="ICE servers (STUN/TURN) for this session's peer connection",
    responses=error_responses(401, 403, 404),
)
async def get_ice_config(record: AuthorizedSession, runtime: RuntimeDep, request: Request) -> IceConfigOut:
    return IceConfigOut(ice_servers=_ice_servers(runtime, record), offer_endpoint=request.url.path)


def _ice_servers(runtime: GatewayRuntime, record: SessionRecord) -> list[dict[str, Any]]:
    s = runtime.settings
    return ice_servers_for(s.webrtc_ice_servers, record.sid, s.webrtc_turn_secret, s.webrtc_turn_ttl_s)


async def _read_capped(request: Request, cap: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise ApiError(400, ErrorCode.INVALID_SDP, f"offer body larger than {cap} bytes")
    return bytes(body)


def _parse_offer(body: bytes) -> OfferIn:
    try:
        return OfferIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ApiError(400, ErrorCode.INVALID_SDP, 'body must be JSON {"sdp": "...", "type": "offer"}') from exc


async def _relay(runtime: GatewayRuntime, sid: str, sdp: str) -> WebRtcAnswer:
    return await relay_offer(
        runtime, subjects.WEBRTC_SUBJECT, sid, sdp, "no ingest instance takes WebRTC right now", "WebRTC", _REPLY_STATUS
    )


async def relay_offer(
    runtime: GatewayRuntime, subject: str, sid: str, sdp: str, nobody: str, what: str, statuses: dict[str, int]
) -> WebRtcAnswer:
    """Request/reply of an SDP offer to ingest; every failure is a coded ApiError (`statuses` maps
    ingest's refusal codes to HTTP; anything else is 503)."""
    timeout = runtime.settings.webrtc_offer_timeout_s
    try:
        msg = await runtime.nc.request(subject, WebRtcOffer(sid=sid, sdp=sdp).to_bytes(), timeout)
    except nats.errors.NoRespondersError as exc:
        raise ApiError(503, ErrorCode.WEBRTC_UNAVAILABLE, nobody) from exc
    except TimeoutError as exc:  # nats.errors.TimeoutError is one
        raise ApiError(504, ErrorCode.WEBRTC_UNAVAILABLE, f"no {what} answer within {timeout:.0f} s") from exc
    except nats.errors.Error as exc:
        raise ApiError(503, ErrorCode.WEBRTC_UNAVAILABLE, "NATS unavailable") from exc
    try:
        answer = WebRtcAnswer.from_bytes(msg.data)
    except EnvelopeError as exc:
        raise ApiError(503, ErrorCode.WEBRTC_UNAVAILABLE, "unreadable answer from ingest") from exc
    if not answer.ok:
        code = ErrorCode.__members__.get(answer.code or "", ErrorCode.WEBRTC_UNAVAILABLE)
        raise ApiError(statuses.get(code.value, 503), code, answer.message or f"{what} refused")
    return answer
