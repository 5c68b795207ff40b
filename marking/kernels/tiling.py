"""Periodic patterns: add one tiled over an image, and fold an image back onto one tile.

The image watermark is a tile repeated over the whole picture. Writing it is one pass over the
pixels (:func:`add_tiled_pattern`); reading it starts by folding: summing every period of the
picture onto a single tile, which adds the watermark coherently and the picture incoherently.
:func:`fold_scaled` folds at any real period, which is how the detector tries the scales a
resized picture may have.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def add_tiled_pattern(
    pixels: np.ndarray,
    tile: np.ndarray,
    mask: np.ndarray,
    mask_block: int,
    gain: float,
    value_max: float,
) -> np.ndarray:
    """``pixels + gain * mask * tile`` with the tile repeated and the mask interpolated.

    ``pixels`` is (H, W, C) (give a grey plane as (H, W, 1)); the same delta goes to the first three channels (so luma
    moves by the delta and chroma stays), a fourth (alpha) is copied. ``mask`` holds one value
    per ``mask_block`` square, interpolated bilinearly between block centres so the pattern has
    no block edges. Integer outputs are rounded and clipped to ``0..value_max``.
    """
    height, width = pixels.shape[0], pixels.shape[1]
    period = tile.shape[0]
    mask_rows, mask_cols = mask.shape
    out = np.empty_like(pixels)
    is_integer = value_max > 0.0  # float images pass value_max = 0: no rounding or clipping
    half = 0.5 * mask_block
    for y in prange(height):
        my = (y + 0.5 - half) / mask_block
        my0 = min(max(int(np.floor(my)), 0), mask_rows - 1)
        my1 = min(my0 + 1, mask_rows - 1)
        wy = min(max(my - my0, 0.0), 1.0)
        ty = y % period
        for x in range(width):
            mx = (x + 0.5 - half) / mask_block
            mx0 = min(max(int(np.floor(mx)), 0), mask_cols - 1)
            mx1 = min(mx0 + 1, mask_cols - 1)
            wx = min(max(mx - mx0, 0.0), 1.0)
            m = (mask[my0, mx0] * (1.0 - wx) + mask[my0, mx1] * wx) * (1.0 - wy) + (
                mask[my1, mx0] * (1.0 - wx) + mask[my1, mx1] * wx
            ) * wy
            delta = gain * m * tile[ty, x % period]
            for c in range(pixels.shape[2]):
                if c < 3:
                    v = pixels[y, x, c] + delta
                    if is_integer:
                        v = min(max(np.floor(v + 0.5), 0.0), value_max)
                    out[y, x, c] = v
                else:
                    out[y, x, c] = pixels[y, x, c]
    return out


@njit(cache=True)
def fold_periodic(plane: np.ndarray, period: int) -> np.ndarray:
    """Sum of every ``period`` x ``period`` tile of ``plane`` (float64), partial tiles included."""
    height, width = plane.shape
    out = np.zeros((period, period), dtype=np.float64)
    for y in range(height):
        ty = y % period
        for x in range(width):
            out[ty, x % period] += plane[y, x]
    return out


@njit(cache=True)
def _splat_coordinates(count: int, step: float, size: int) -> tuple:
    """Tile cell, next cell and weight of the next cell for positions 0..count-1."""
    first = np.empty(count, dtype=np.int64)
    second = np.empty(count, dtype=np.int64)
    weight = np.empty(count, dtype=np.float32)
    for i in range(count):
        t = (i * step) % size
        cell = min(int(t), size - 1)
        first[i] = cell
        second[i] = (cell + 1) % size
        weight[i] = t - cell
    return first, second, weight


@njit(cache=True, parallel=True)
def fold_scaled(plane: np.ndarray, period_y: float, period_x: float, size: int) -> np.ndarray:
    """Fold ``plane`` at a real period onto a ``size`` x ``size`` tile, splatting bilinearly.

    Pixel (y, x) lands at tile coordinates ``(y * size / period_y) mod size`` and likewise for x.
    Threads fold separate bands of rows into their own tiles, summed at the end (no races).
    """
    height, width = plane.shape
    row0, row1, row_w = _splat_coordinates(height, size / period_y, size)
    col0, col1, col_w = _splat_coordinates(width, size / period_x, size)
    bands = min(height, 4)
    partial = np.zeros((bands, size, size), dtype=np.float32)
    for band in prange(bands):
        line = np.zeros(size, dtype=np.float32)
        for y in range(band, height, bands):
            line[:] = 0.0
            for x in range(width):
                v = plane[y, x]
                w = col_w[x]
                line[col0[x]] += v * (1.0 - w)
                line[col1[x]] += v * w
            wy = row_w[y]
            a = row0[y]
            b = row1[y]
            for t in range(size):
                partial[band, a, t] += line[t] * (1.0 - wy)
                partial[band, b, t] += line[t] * wy
    out = np.zeros((size, size), dtype=np.float64)
    for band in range(bands):
        out += partial[band]
    return out
