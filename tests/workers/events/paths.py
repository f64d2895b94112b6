"""Client messages of a person walking a known path (what the scene stage hands an analyser)."""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 640, 360
FPS = 10.0
T0 = 1_700_000_000.0

# A line at x = 0.3 drawn upwards (a below b): walking left to right crosses it "in".
LINE = {"name": "gate", "a": [0.3, 0.9], "b": [0.3, 0.1]}
# A zone on the right; the walker's feet are at y = 0.8.
ZONE = {"name": "bay", "polygon": [[0.5, 0.3], [0.8, 0.3], [0.8, 0.95], [0.5, 0.95]], "dwell_s": 2.0}


def person(track_id: int, x: float, y_bottom: float = 0.8, label: str = "person") -> dict[str, Any]:
    """A 40x120 px box whose bottom centre is at (x, y_bottom) of the frame."""
    cx, by = x * WIDTH, y_bottom * HEIGHT
    return {
        "label": label,
        "class_id": 0,
        "confidence": 0.9,
        "bbox": [cx - 20, by - 120, cx + 20, by],
        "track_id": track_id,
    }


def message(seq: int, detections: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "detection_result",
        "data": {
            "seq": seq,
            "timestamp": T0 + seq / FPS,
            "width": WIDTH,
            "height": HEIGHT,
            "detections": detections,
        },
    }


def walk_positions() -> list[float]:
    """x of the walker's feet per frame: across the line, into the zone, 3 s inside, out."""
    approach = [0.1 + i * (0.65 - 0.1) / 30 for i in range(31)]  # 0.10 -> 0.65
    stay = [0.65 + (0.004 if i % 2 else -0.004) for i in range(30)]  # 3 s of small jitter
    leave = [0.65 + i * (0.95 - 0.65) / 15 for i in range(1, 16)]  # -> 0.95
    return approach + stay + leave


def walk(track_id: int = 7) -> list[dict[str, Any]]:
    return [message(seq, [person(track_id, x)]) for seq, x in enumerate(walk_positions(), start=1)]
