"""When to stop reconnecting: N failures in M seconds (the pauses between attempts are
`shared.loops.Backoff`, the one backoff of the project).

A camera that blips (reboot, Wi-Fi hiccup) is reconnected quickly and the
backoff resets once frames flow again. One that keeps failing is retried with
exponentially growing pauses, and once it has failed `limit` times within
`window_s` the session is given up on (marked failed, SOURCE_UNREACHABLE)
instead of flapping forever, the crash-loop rule of a supervisor.
"""

from __future__ import annotations

from collections import deque


class FailureWindow:
    """Remembers failure times; `add` says whether `limit` failures fell within `window_s`."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=limit)

    def add(self, now: float) -> bool:
        self._times.append(now)
        return len(self._times) == self.limit and now - self._times[0] <= self.window_s

    def __len__(self) -> int:
        return len(self._times)
