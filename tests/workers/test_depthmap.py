"""Depth outputs of every supported layout become a float16 grid that round-trips through bytes."""

from __future__ import annotations

import numpy as np
import pytest

from workers.depthmap import depth_grid, grid_from_bytes


@pytest.mark.parametrize("shape", [(1, 448, 640, 1), (1, 1, 256, 256), (1, 256, 256)])
def test_grid_shape_and_dtype(shape: tuple[int, ...]) -> None:
    output = np.random.default_rng(0).random(shape, dtype=np.float32)
    grid = depth_grid(output, 80, 56)
    assert grid.shape == (56, 80) and grid.dtype == np.float16
    np.testing.assert_array_equal(grid_from_bytes(grid.tobytes(), 80, 56), grid)


def test_grid_preserves_the_vertical_ordering_and_raw_scale() -> None:
    ramp = np.linspace(100.0, 10.0, 448, dtype=np.float32)[:, None].repeat(640, axis=1)
    grid = depth_grid(ramp[None, :, :, None], 80, 56).astype(np.float32)
    assert (np.diff(grid[:, 0]) < 0).all()
    assert 95 < grid[0, 0] <= 100 and 10 <= grid[-1, 0] < 15


def test_non_finite_values_are_clamped_to_float16_range() -> None:
    output = np.array([[np.inf, -np.inf], [np.nan, 1e9]], np.float32)
    grid = depth_grid(output, 2, 2)
    assert np.isfinite(grid).all()


def test_multi_map_output_is_refused() -> None:
    with pytest.raises(ValueError):
        depth_grid(np.zeros((1, 3, 8, 8), np.float32), 4, 4)
