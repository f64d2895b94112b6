"""The peers of one ingest process: at most `max_peers`, one per session.

A new offer for a session replaces that session's old peer (the page
reconnecting after an ICE failure). The session record is the source of
truth for a peer's life: the registry listens to the process's watch of the
sw-sessions bucket (`on_record`) and closes a peer when its session is
deleted, closed or failed, and hands config changes (fps, depth) to live peers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ingest.webrtc.peer import Peer
from shared.errors import NotFound, SessionClosed, WebRTCUnavailable
from shared.sessions import SessionRecord, SessionStore

log = logging.getLogger(__name__)

PeerFactory = Callable[[SessionRecord], Peer]


class PeerRegistry:
    def __init__(self, store: SessionStore, make_peer: PeerFactory, max_peers: int, tg: asyncio.TaskGroup) -> None:
        self.store = store
        self.make_peer = make_peer
        self.max_peers = max_peers
        self.peers: dict[str, Peer] = {}
        self._tg = tg
        self._reserved = 0

    async def offer(self, sid: str, sdp: str) -> str:
        """Answer `sdp` for session `sid` with a new peer; raise `SightwireError` with a code if refused."""
        record = await self._active_record(sid)
        if sid not in self.peers and len(self.peers) + self._reserved >= self.max_peers:
            raise WebRTCUnavailable(f"this ingest instance is full ({self.max_peers} peers)")
        self._reserved += 1
        try:
            peer = self.make_peer(record)
            try:
                answer = await peer.answer(sdp)
            except BaseException:
                await peer.pc.close()
                raise
        finally:
            self._reserved -= 1
        old = self.peers.get(sid)
        if old is not None:
            old.close()
        self.peers[sid] = peer
        self._tg.create_task(self._run(peer), name=f"webrtc-peer-{sid}")
        return answer

    async def _active_record(self, sid: str) -> SessionRecord:
        found = await self.store.get(sid)
        if found is None:
            raise NotFound("no such session")
        record = found[0]
        if record.status != "active":
            raise SessionClosed(f"session is {record.status}")
        return record

    async def _run(self, peer: Peer) -> None:
        log.info("webrtc peer started", extra={"sid": peer.sid, "peers": len(self.peers)})
        try:
            await peer.run()
        except Exception:  # one broken peer must not take the others (or the service) down
            log.exception("webrtc peer failed", extra={"sid": peer.sid})
        finally:
            if self.peers.get(peer.sid) is peer:
                del self.peers[peer.sid]

    def on_record(self, sid: str, record: SessionRecord | None) -> None:
        """A session changed: close its peer if the session is over, else pass on its config."""
        peer = self.peers.get(sid)
        if peer is None:
            return
        if record is None or record.status != "active":
            log.info("webrtc session ended; closing peer", extra={"sid": sid})
            peer.close()
        else:
            peer.update(record.config)

    def close_all(self) -> None:
        for peer in list(self.peers.values()):
            peer.close()
