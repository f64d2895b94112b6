"""Events of the scene stage: zones, lines, dwell and camera health (DESIGN §8)."""
