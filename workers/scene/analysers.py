"""The scene stage's analyser factory: every session gets the event evaluator (DESIGN §8).

A session without zones or lines still gets camera-health and `session_closed` events, so the
evaluator is used for every session; it costs nothing per frame when nothing is configured.
"""

from __future__ import annotations

from shared.sessions import SessionConfig
from workers.events.evaluator import EventAnalyser
from workers.scene.analysis import SceneAnalyser


def make_analyser(sid: str, config: SessionConfig) -> SceneAnalyser:
    return EventAnalyser(sid, config)
