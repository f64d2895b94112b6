"""WebRTC ingest (aiortc): answers browser SDP offers relayed on `sw.ingest.webrtc`.

`serve` is run by the ingest service in its task group. It subscribes to the
signalling subject (queue group: one instance answers each offer), keeps the
peers of this process in a bounded registry, follows the process's watch of
the sw-sessions bucket so that a peer closes with its session, and on `stop`
stops taking offers, closes every peer and returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from ingest.stats import IngestStats
from ingest.webrtc.ice import rtc_configuration, use_host_addresses
from ingest.webrtc.link import LinkTimeouts
from ingest.webrtc.peer import Peer, PeerOptions
from ingest.webrtc.registry import PeerRegistry
from ingest.webrtc.responder import Responder
from shared import subjects
from shared.session_watcher import SessionWatcher
from shared.sessions import SessionRecord, SessionStore

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0  # after stop, peers still closing are cancelled


class WebRtcSettings(Protocol):
    """The fields of `IngestSettings` this module reads."""

    @property
    def instance_id(self) -> str: ...
    @property
    def webrtc_ice_servers(self) -> Sequence[Any]: ...
    @property
    def webrtc_host_addresses(self) -> Sequence[str]: ...
    @property
    def webrtc_max_peers(self) -> int: ...
    @property
    def webrtc_jpeg_quality(self) -> int: ...
    @property
    def webrtc_max_side(self) -> int: ...
    @property
    def webrtc_connect_timeout_s(self) -> float: ...
    @property
    def webrtc_disconnect_grace_s(self) -> float: ...
    @property
    def webrtc_media_timeout_s(self) -> float: ...


def peer_options(settings: WebRtcSettings) -> PeerOptions:
    return PeerOptions(
        jpeg_quality=settings.webrtc_jpeg_quality,
        max_side=settings.webrtc_max_side,
        link=LinkTimeouts(settings.webrtc_connect_timeout_s, settings.webrtc_disconnect_grace_s),
        media_timeout_s=settings.webrtc_media_timeout_s,
    )


async def serve(
    nc: NATS,
    js: JetStreamContext,
    settings: WebRtcSettings,
    stats: IngestStats,
    stop: asyncio.Event,
    watcher: SessionWatcher | None = None,
) -> None:
    """Answer WebRTC offers until `stop` is set; then close every peer. Peers count into `stats`.

    `watcher` is the process's watch of sw-sessions; without one (WebRTC ingest
    alone, as in its tests) `serve` runs its own.
    """
    use_host_addresses(settings.webrtc_host_addresses)
    rtc = rtc_configuration(settings.webrtc_ice_servers)
    options = peer_options(settings)
    store = SessionStore(await js.key_value(subjects.SESSIONS_BUCKET))

    def make_peer(record: SessionRecord) -> Peer:
        return Peer(record.sid, record.config, js, rtc, options, stats)

    try:
        async with asyncio.timeout(None) as shutdown, asyncio.TaskGroup() as tg:
            if watcher is None:
                watcher = SessionWatcher(store)
                tg.create_task(watcher.run(stop), name="webrtc-sessions-watch")
            registry = PeerRegistry(store, make_peer, settings.webrtc_max_peers, tg)
            unfollow = await watcher.subscribe(registry.on_record)
            responder = Responder(registry, settings.instance_id, tg)
            sub = await nc.subscribe(subjects.WEBRTC_SUBJECT, queue=subjects.WEBRTC_QUEUE, cb=responder.on_message)
            log.info("webrtc ingest ready", extra={"max_peers": settings.webrtc_max_peers})
            try:
                await stop.wait()
            finally:
                await _unsubscribe(sub)
                unfollow()
                registry.close_all()
                # Peers close on their own; one stuck in ICE or an offer still being answered
                # must not hold the service's shutdown: past the grace, the group is cancelled.
                shutdown.reschedule(asyncio.get_running_loop().time() + SHUTDOWN_GRACE_S)
    except TimeoutError:
        log.warning("webrtc peers did not close in time; cancelled", extra={"grace_s": SHUTDOWN_GRACE_S})


async def _unsubscribe(sub: Any) -> None:
    try:
        await asyncio.wait_for(sub.unsubscribe(), 2.0)
    except Exception as exc:  # closed connection: nothing left to stop
        log.debug("webrtc unsubscribe failed", extra={"error": repr(exc)})
