"""Which analyser a session gets (the events engineer owns this choice: zones, lines, health)."""

from __future__ import annotations

from shared.sessions import SessionConfig
from workers.scene.analysis import NoAnalysis, SceneAnalyser


def make_analyser(sid: str, config: SessionConfig) -> SceneAnalyser:
    """A fresh analyser for a session with `config`; the owner restores saved state into it."""
    return NoAnalysis()
