"""Depth output -> the small float16 grid that travels in a `DepthMap` envelope.

The grid covers the whole frame (depth models are fed a plain stretch), so a
cell maps to the same fraction of the frame whatever its aspect ratio. Values
stay as the model produced them (relative, not normalised per frame): a
per-frame min-max would change the scale from one frame to the next and break
the gateway's smoothed scale fit. Area averaging is the right resampling for a
strong downscale (448x640 -> 56x80). Which way values point is the model's
`larger_is_farther`, sent alongside.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOAT16_MAX = float(np.finfo(np.float16).max)
GRID_DTYPE = np.dtype("<f2")  # little-endian float16, row-major: grid_h rows of grid_w


def depth_grid(output: np.ndarray, grid_w: int, grid_h: int) -> np.ndarray:
    """A (grid_h, grid_w) float16 map from a `[1, H, W, 1]`, `[1, 1, H, W]` or `[1, H, W]` output."""
    plane = np.squeeze(output)
    if plane.ndim != 2:
        raise ValueError(f"depth output of shape {output.shape} is not a single map")
    # copy=False: the engine's output is already a float32 copy of its own; no second 1 MB copy
    small = cv2.resize(plane.astype(np.float32, copy=False), (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    small = np.clip(np.nan_to_num(small, posinf=FLOAT16_MAX, neginf=-FLOAT16_MAX), -FLOAT16_MAX, FLOAT16_MAX)
    return small.astype(GRID_DTYPE)


def grid_from_bytes(data: bytes, grid_w: int, grid_h: int) -> np.ndarray:
    """Inverse of `depth_grid(...).tobytes()`, for consumers and tests."""
    return np.frombuffer(data, dtype=GRID_DTYPE).reshape(grid_h, grid_w)
