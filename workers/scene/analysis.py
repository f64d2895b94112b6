"""What the scene stage hands each finished message to, besides SCENE: analysers.

An analyser turns a session's ordered client messages into events (DESIGN §8): zones, lines,
dwell, camera health. The scene owner calls `observe` once per RESULTS message, strictly in
RESULTS-sequence order, and publishes what it returns to EVENTS with `Nats-Msg-Id` = the event's
`id`. Its state goes into the scene checkpoint (`state()` / `restore()`), so a new owner that
replays from the checkpoint computes the same events with the same ids: nothing repeats (the
duplicate window drops them) and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SceneAnalyser(Protocol):
    """Per-session event logic; pure and deterministic given its state and the messages."""

    def observe(self, message: Mapping[str, Any], results_seq: int) -> list[dict[str, Any]]:
        """One client message (`detection_result` with track ids, or `error`) -> event dicts.

        Each returned dict is the `event` object of DESIGN §8 (with a stable `id`).
        """
        ...

    def state(self) -> dict[str, Any]:
        """Everything needed to continue after a failover; msgpack-serialisable."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from `state()` as saved in a checkpoint."""
        ...


class NoAnalysis:
    """The analyser of a session without zones, lines or health events."""

    def observe(self, message: Mapping[str, Any], results_seq: int) -> list[dict[str, Any]]:
        return []

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        return None
