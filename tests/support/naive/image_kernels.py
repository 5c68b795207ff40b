"""Slow NumPy twins of the image kernels in marking.kernels.luma, masking and tiling."""

from __future__ import annotations

import numpy as np


def luma(pixels: np.ndarray, scale: float) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels.astype(np.float64) * scale
    rgb = pixels[..., :3].astype(np.float64)
    return (rgb @ np.array([0.299, 0.587, 0.114])) * scale


def luma_squared_difference(first: np.ndarray, second: np.ndarray, scale: float) -> float:
    if first.ndim == 3 and first.shape[2] < 3:
        first, second = first[..., 0], second[..., 0]
    return float(np.sum((luma(first, scale) - luma(second, scale)) ** 2))


def block_std(plane: np.ndarray, block: int) -> np.ndarray:
    rows = -(-plane.shape[0] // block)
    cols = -(-plane.shape[1] // block)
    out = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            out[r, c] = plane[r * block : (r + 1) * block, c * block : (c + 1) * block].std()
    return out


def block_std_of_integers(plane: np.ndarray, block: int, row_step: int) -> np.ndarray:
    rows = -(-plane.shape[0] // block)
    cols = -(-plane.shape[1] // block)
    out = np.empty((rows, cols))
    for r in range(rows):
        sampled = plane[r * block : (r + 1) * block : row_step].astype(np.float64)
        for c in range(cols):
            out[r, c] = sampled[:, c * block : (c + 1) * block].std()
    return out


def _interpolated_mask(mask: np.ndarray, block: int, height: int, width: int) -> np.ndarray:
    def table(count: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = (np.arange(count) + 0.5) / block - 0.5
        first = np.clip(np.floor(t).astype(int), 0, cells - 1)
        second = np.minimum(first + 1, cells - 1)
        return first, second, np.clip(t - first, 0.0, 1.0)

    r0, r1, wy = table(height, mask.shape[0])
    c0, c1, wx = table(width, mask.shape[1])
    top = mask[r0][:, c0] * (1 - wx) + mask[r0][:, c1] * wx
    bottom = mask[r1][:, c0] * (1 - wx) + mask[r1][:, c1] * wx
    return top * (1 - wy[:, None]) + bottom * wy[:, None]


def add_tiled_pattern(
    pixels: np.ndarray,
    tile: np.ndarray,
    mask: np.ndarray,
    mask_block: int,
    gain: float,
    value_max: float,
    round_values: bool,
) -> np.ndarray:
    height, width, channels = pixels.shape
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]))
    pattern = np.tile(tile.astype(np.float64), reps)[:height, :width]
    delta = gain * _interpolated_mask(mask.astype(np.float64), mask_block, height, width) * pattern
    out = pixels.astype(np.float64).copy()
    out[..., : min(channels, 3)] += delta[..., None]
    out = np.clip(out, 0, value_max)
    if round_values:
        out = np.floor(out + 0.5)
    return out.astype(pixels.dtype)


def fold_periodic(plane: np.ndarray, period: int) -> np.ndarray:
    rows = -(-plane.shape[0] // period) * period
    cols = -(-plane.shape[1] // period) * period
    padded = np.zeros((rows, cols))
    padded[: plane.shape[0], : plane.shape[1]] = plane
    return padded.reshape(rows // period, period, cols // period, period).sum(axis=(0, 2))


def fold_scaled(plane: np.ndarray, period_y: float, period_x: float, size: int) -> np.ndarray:
    ty = (np.arange(plane.shape[0]) * size / period_y) % size
    tx = (np.arange(plane.shape[1]) * size / period_x) % size
    y0 = np.minimum(np.floor(ty).astype(int), size - 1)
    x0 = np.minimum(np.floor(tx).astype(int), size - 1)
    fy, fx = ty - y0, tx - x0
    out = np.zeros((size, size))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(
                out,
                ((y0[:, None] + dy) % size, (x0[None, :] + dx) % size),
                plane * wy[:, None] * wx[None, :],
            )
    return out


def fold_mapped(plane: np.ndarray, mapping: np.ndarray, size: int) -> np.ndarray:
    rows, cols = np.mgrid[0 : plane.shape[0], 0 : plane.shape[1]].astype(float)
    u, v, w = (mapping[i, 0] * rows + mapping[i, 1] * cols + mapping[i, 2] for i in range(3))
    u, v = (u / w) % size, (v / w) % size
    y0 = np.minimum(np.floor(u).astype(int), size - 1)
    x0 = np.minimum(np.floor(v).astype(int), size - 1)
    fy, fx = u - y0, v - x0
    out = np.zeros((size, size))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(out, ((y0 + dy) % size, (x0 + dx) % size), plane * wy * wx)
    return out


def lattice_scores(magnitude: np.ndarray, harmonics: np.ndarray, maps: np.ndarray) -> np.ndarray:
    height, width = magnitude.shape
    frequencies = np.einsum("nij,kj->nik", maps, harmonics)  # (n, 2, N)
    rows = np.floor(frequencies[:, 0] * height + 0.5).astype(int) % height
    cols = np.floor(frequencies[:, 1] * width + 0.5).astype(int) % width
    return magnitude[rows, cols].astype(np.float64).sum(axis=1)
