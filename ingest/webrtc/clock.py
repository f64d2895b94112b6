"""When was a WebRTC frame captured, on this machine's wall clock?

A browser stamps each video frame with an RTP timestamp from its capture clock
(90 kHz); aiortc hands it over as `frame.pts`, counted from the first packet.
Arrival time alone would include the encoder's and the network's jitter, and
the time a frame waited in our own queue. We rebuild a smooth capture clock
instead: `captured = pts + offset`, where `offset` is the smallest
`arrival - pts` seen so far, i.e. the frame that travelled fastest defines the
zero. The estimate is late by that minimum one-way delay (encode + transit +
decode, a few ms on a LAN) and never later than arrival. The offset may creep
up by `drift_ppm` so that a sender clock running slow is followed; a jump
backwards in pts (a new stream after renegotiation) restarts the estimate.
"""

from __future__ import annotations

from fractions import Fraction

NS = 1_000_000_000


class CaptureClock:
    def __init__(self, drift_ppm: float = 100.0) -> None:
        self.drift = drift_ppm / 1e6
        self._offset_ns: int | None = None
        self._last_pts_ns = 0

    def captured_at_ns(self, pts: int | None, time_base: Fraction | None, arrival_ns: int) -> int:
        """Capture time of a frame with this pts that arrived at `arrival_ns`."""
        if pts is None or not time_base:
            return arrival_ns
        pts_ns = int(pts * time_base * NS)
        sample = arrival_ns - pts_ns
        if self._offset_ns is None or pts_ns < self._last_pts_ns:
            self._offset_ns = sample
        else:
            allowed = self._offset_ns + int((pts_ns - self._last_pts_ns) * self.drift)
            self._offset_ns = min(allowed, sample)
        self._last_pts_ns = pts_ns
        return pts_ns + self._offset_ns
