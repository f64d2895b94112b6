"""What every peer connection of ingest does alike: take an offer, answer, watch, close.

Two kinds of peer live in ingest: a browser sending its webcam (`ingest.webrtc.peer`)
and a browser watching a camera (`ingest.video.viewer`). They differ in media
but not in how the connection is handled, which is here, once:
- the offer is applied with aiortc's parser failures turned into `InvalidSdp`
  (hostile input raises many unrelated types), every transceiver but ours is
  made inactive and the answer (with its ICE candidates) is returned;
- `run` keeps the peer's own tasks (receiving, publishing) going until the
  first of them ends, `stop` is set, or `watch` sees the connection over: it
  failed or closed, it stayed disconnected past a grace period, or it never
  connected at all; then the tasks are cancelled and the connection closed;
- `close` gives up after `CLOSE_TIMEOUT_S` rather than hold a slot for good
  when a half-closed transport hangs aiortc's close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from shared.errors import InvalidSdp

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0  # bound on closing a peer connection


@dataclass(frozen=True, slots=True)
class LinkTimeouts:
    connect_timeout_s: float = 15.0  # from the offer to "connected"
    disconnect_grace_s: float = 5.0  # "disconnected" this long ends the connection


class PeerLink:
    """One RTCPeerConnection of session `sid` (`kind` names it in logs)."""

    def __init__(self, sid: str, kind: str, rtc: RTCConfiguration, timeouts: LinkTimeouts) -> None:
        self.sid = sid
        self.kind = kind
        self.timeouts = timeouts
        self.pc = RTCPeerConnection(configuration=rtc)
        self._state = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None
        self.pc.on("connectionstatechange", self._state.set)

    async def apply_offer(self, offer_sdp: str) -> None:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc's parser raises many unrelated types on hostile input
            raise InvalidSdp(f"offer rejected: {exc.__class__.__name__}") from exc

    async def answer(self, ours: RTCRtpTransceiver) -> str:
        """Our answer, with every transceiver but `ours` inactive (audio, extra video)."""
        for other in self.pc.getTransceivers():
            if other is not ours:
                other.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def run(
        self, stop: asyncio.Event, *work: Coroutine[Any, Any, None], before_close: Callable[[], None] | None = None
    ) -> None:
        """Run `work` until the first task ends, `stop` is set or the connection is over; then close."""
        coros = (self.watch(), stop.wait(), *work)
        tasks = [asyncio.create_task(c, name=f"{self.kind}-{getattr(c, '__name__', 'task')}-{self.sid}") for c in coros]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if before_close is not None:
                before_close()
            await self.close()

    async def watch(self) -> None:
        """Return when the connection is over (or never came up)."""
        deadline = time.monotonic() + self.timeouts.connect_timeout_s
        connected_once = False
        while True:
            self._state.clear()
            state = self.pc.connectionState
            if state in ("failed", "closed"):
                log.info("peer connection ended", extra={"sid": self.sid, "peer": self.kind, "state": state})
                return
            connected_once = connected_once or state == "connected"
            try:
                async with asyncio.timeout(self._patience(state, connected_once, deadline)):
                    await self._state.wait()
            except TimeoutError:
                log.info("peer connection gave up", extra={"sid": self.sid, "peer": self.kind, "state": state})
                return

    def _patience(self, state: str, connected_once: bool, deadline: float) -> float | None:
        """How long to wait for the next state change: forever while connected."""
        if state == "connected":
            return None
        if connected_once:
            return self.timeouts.disconnect_grace_s
        return max(0.0, deadline - time.monotonic())

    async def close(self) -> None:
        """Close the connection, waiting at most CLOSE_TIMEOUT_S. (Not `wait_for`: on
        timeout it waits for the cancelled close to finish, and a close stuck on a
        half-closed transport would then hold the peer's slot for good.)"""
        closing = asyncio.ensure_future(self.pc.close())
        done, _ = await asyncio.wait({closing}, timeout=CLOSE_TIMEOUT_S)
        if not done:
            self._closing = closing  # keep a reference; it finishes (or not) on its own
            log.warning("peer connection close timed out", extra={"sid": self.sid, "peer": self.kind})
        elif not closing.cancelled() and closing.exception() is not None:
            log.debug("peer connection close failed", extra={"sid": self.sid, "error": repr(closing.exception())})
