"""The NATS side of WebRTC signalling: offers in on `sw.ingest.webrtc`, answers out.

Every ingest instance subscribes with the same queue group, so each offer is
answered by exactly one instance, which then owns that peer. Every request
gets a reply, an error reply included (`WebRtcAnswer(ok=False, code=...)`), so
the gateway can tell "refused" from "nobody there" (its request times out).
Each offer is handled in its own task so that one slow answer (STUN or TURN
gathering) never holds up the next.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg

from ingest.webrtc.registry import PeerRegistry
from shared.errors import ErrorCode, InvalidSdp, SightwireError
from shared.webrtc import MAX_SDP_BYTES, WebRtcAnswer, WebRtcOffer

log = logging.getLogger(__name__)


class Responder:
    def __init__(self, registry: PeerRegistry, instance: str, tg: asyncio.TaskGroup) -> None:
        self.registry = registry
        self.instance = instance
        self._tg = tg

    async def on_message(self, msg: Msg) -> None:
        """nats-py subscription callback: hand the offer to its own task and return at once."""
        self._tg.create_task(self._answer(msg))

    async def _answer(self, msg: Msg) -> None:
        reply = await self.answer_bytes(msg.data)
        if msg.reply:
            try:
                await msg.respond(reply.to_bytes())
            except Exception as exc:  # the gateway gave up or NATS is reconnecting; the peer times out alone
                log.warning("webrtc answer not delivered", extra={"error": repr(exc)})

    async def answer_bytes(self, data: bytes) -> WebRtcAnswer:
        try:
            offer = self._parse(data)
            sdp = await self.registry.offer(offer.sid, offer.sdp)
        except SightwireError as exc:
            log.info("webrtc offer refused", extra={"code": str(exc.code), "reason": exc.message})
            return WebRtcAnswer(ok=False, code=exc.code.value, message=exc.message, instance=self.instance)
        except Exception:  # never let one request kill the service; the gateway gets a code
            log.exception("webrtc offer failed")
            return WebRtcAnswer(ok=False, code=ErrorCode.INTERNAL_ERROR.value, message="internal error")
        return WebRtcAnswer(ok=True, sdp=sdp, instance=self.instance)

    @staticmethod
    def _parse(data: bytes) -> WebRtcOffer:
        offer = WebRtcOffer.from_bytes(data)
        if offer.type != "offer" or len(offer.sdp.encode()) > MAX_SDP_BYTES:
            raise InvalidSdp("not an SDP offer of acceptable size")
        return offer
