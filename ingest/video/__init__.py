"""Camera video to browsers (DESIGN §9): the owner of a camera serves its video over WebRTC.

`build_hub` makes the `VideoHub` the session manager reports ownership to;
`serve` answers viewers' offers on `sw.ingest.video.<instance>` (request/reply
addressed to this instance: the gateway reads the camera's lease to find it,
no queue group) until `stop`, then closes every viewer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from ingest.settings import IngestSettings
from ingest.stats import IngestStats
from ingest.video.encoder import EncoderOptions
from ingest.video.hub import HubLimits, VideoHub
from ingest.video.viewer import ViewerOptions
from ingest.webrtc.ice import rtc_configuration, use_host_addresses
from shared import subjects
from shared.errors import ErrorCode, InvalidSdp, SightwireError
from shared.webrtc import MAX_SDP_BYTES, WebRtcAnswer, WebRtcOffer

log = logging.getLogger(__name__)

__all__ = ["VideoHub", "build_hub", "serve"]


def build_hub(settings: IngestSettings, stats: IngestStats) -> VideoHub:
    use_host_addresses(settings.webrtc_host_addresses)
    return VideoHub(
        rtc_configuration(settings.webrtc_ice_servers),
        EncoderOptions(settings.video_bitrate_kbps, settings.video_keyframe_interval_s),
        ViewerOptions(settings.webrtc_connect_timeout_s, settings.webrtc_disconnect_grace_s),
        HubLimits(settings.video_max_viewers_per_session, settings.video_max_viewers),
        stats.add,
    )


async def serve(nc: NATS, hub: VideoHub, settings: IngestSettings, stats: IngestStats, stop: asyncio.Event) -> None:
    """Answer viewers' offers until `stop`; then close every viewer."""
    async with asyncio.TaskGroup() as tg:

        async def on_message(msg: Msg) -> None:
            tg.create_task(_answer(hub, settings.instance_id, msg))

        sub = await nc.subscribe(subjects.ingest_video(settings.instance_id), cb=on_message)
        stats_task = tg.create_task(_gauges(hub, stats, stop), name="video-gauges")
        log.info("video ready", extra={"subject": subjects.ingest_video(settings.instance_id)})
        try:
            await stop.wait()
        finally:
            await _unsubscribe(sub)
            stats_task.cancel()
            await hub.close()


async def _answer(hub: VideoHub, instance: str, msg: Msg) -> None:
    reply = await answer_bytes(hub, instance, msg.data)
    if msg.reply:
        try:
            await msg.respond(reply.to_bytes())
        except Exception as exc:  # the gateway gave up; the viewer times out alone
            log.warning("video answer not delivered", extra={"error": repr(exc)})


async def answer_bytes(hub: VideoHub, instance: str, data: bytes) -> WebRtcAnswer:
    try:
        offer = WebRtcOffer.from_bytes(data)
        if offer.type != "offer" or len(offer.sdp.encode()) > MAX_SDP_BYTES:
            raise InvalidSdp("not an SDP offer of acceptable size")
        sdp = await hub.offer(offer.sid, offer.sdp)
    except SightwireError as exc:
        log.info("video offer refused", extra={"code": str(exc.code), "reason": exc.message})
        return WebRtcAnswer(ok=False, code=exc.code.value, message=exc.message, instance=instance)
    except Exception:  # never let one request kill the service
        log.exception("video offer failed")
        return WebRtcAnswer(ok=False, code=ErrorCode.INTERNAL_ERROR.value, message="internal error", instance=instance)
    return WebRtcAnswer(ok=True, sdp=sdp, instance=instance)


async def _gauges(hub: VideoHub, stats: IngestStats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        stats.set_gauge("video_encoders", hub.encoders())
        stats.set_gauge("video_viewers", hub.viewer_count())
        await asyncio.sleep(0.5)


async def _unsubscribe(sub: Any) -> None:
    try:
        await asyncio.wait_for(sub.unsubscribe(), 2.0)
    except Exception as exc:
        log.debug("video unsubscribe failed", extra={"error": repr(exc)})
