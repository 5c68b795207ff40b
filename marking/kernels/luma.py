"""Luma of a pixel array, the plane every image watermark lives in.

BT.601 weights, as JPEG uses. Adding the same value to R, G and B changes luma by exactly that
value and leaves the chroma untouched, which is how the watermark is written back.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import FASTMATH, kernel, prange

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@kernel(cache=True, parallel=True)
def _rgb_luma_kernel(pixels: np.ndarray, scale: float) -> np.ndarray:
    height, width = pixels.shape[0], pixels.shape[1]
    out = np.empty((height, width), dtype=np.float32)
    for y in prange(height):
        for x in range(width):
            out[y, x] = scale * (
                0.299 * np.float32(pixels[y, x, 0])
                + 0.587 * np.float32(pixels[y, x, 1])
                + 0.114 * np.float32(pixels[y, x, 2])
            )
    return out


@kernel(cache=True, parallel=True)
def _gray_luma_kernel(pixels: np.ndarray, scale: float) -> np.ndarray:
    height, width = pixels.shape
    out = np.empty((height, width), dtype=np.float32)
    for y in prange(height):
        for x in range(width):
            out[y, x] = scale * np.float32(pixels[y, x])
    return out


#: The sums below may be reordered (FASTMATH's reassociation): that lets the loops vectorise.
#: Each channel's difference is taken first, so equal pixels give exactly 0 whatever the
#: compiler fuses or reorders (an unchanged picture must read as unchanged).
@kernel(cache=True, parallel=True, fastmath=FASTMATH)
def _rgb_luma_squared_difference(first: np.ndarray, second: np.ndarray, scale: float) -> float:
    height, width = first.shape[0], first.shape[1]
    rows = np.zeros(height, dtype=np.float64)
    red, green, blue = np.float32(0.299), np.float32(0.587), np.float32(0.114)
    for y in prange(height):
        total = 0.0
        for x in range(width):
            difference = np.float64(
                red * (np.float32(first[y, x, 0]) - np.float32(second[y, x, 0]))
                + green * (np.float32(first[y, x, 1]) - np.float32(second[y, x, 1]))
                + blue * (np.float32(first[y, x, 2]) - np.float32(second[y, x, 2]))
            )
            total += difference * difference
        rows[y] = total
    return rows.sum() * scale * scale


@kernel(cache=True, parallel=True, fastmath=FASTMATH)
def _gray_luma_squared_difference(first: np.ndarray, second: np.ndarray, scale: float) -> float:
    height, width = first.shape
    rows = np.zeros(height, dtype=np.float64)
    for y in prange(height):
        total = 0.0
        for x in range(width):
            difference = np.float64(np.float32(first[y, x]) - np.float32(second[y, x]))
            total += difference * difference
        rows[y] = total
    return rows.sum() * scale * scale


def luma_squared_difference(first: np.ndarray, second: np.ndarray, scale: float = 1.0) -> float:
    """Sum over pixels of (luma(first, scale) - luma(second, scale))**2, for two arrays of one
    shape and dtype: one pass over both, no luma plane made (a picture's PSNR)."""
    if first.shape != second.shape or first.dtype != second.dtype:
        raise ValueError(
            f"arrays differ: {first.dtype} {first.shape} vs {second.dtype} {second.shape}"
        )
    first, second = _luma_source(first), _luma_source(second)
    if first.ndim == 2:
        return _gray_luma_squared_difference(first, second, scale)
    return _rgb_luma_squared_difference(first, second, scale)


def _luma_source(pixels: np.ndarray) -> np.ndarray:
    """The channels luma reads: (H, W) for grey, also from (H, W, 1) and grey plus alpha
    (H, W, 2); else (H, W, C>=3), whose channels past the third (alpha) are ignored."""
    if pixels.ndim == 3 and pixels.shape[2] < 3:
        return pixels[:, :, 0]
    if pixels.ndim not in (2, 3):
        raise ValueError(f"pixels must be (H, W) or (H, W, C), got shape {pixels.shape}")
    return pixels


def luma(pixels: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Float32 luma of an (H, W) or (H, W, C>=3) array, multiplied by ``scale``.

    ``scale`` maps the array's value range onto 0..255 (1/257 for 16-bit), so every later step
    works in 8-bit units whatever the input depth. Channels past the third (alpha) are ignored.
    """
    pixels = _luma_source(pixels)
    if pixels.ndim == 2:
        return _gray_luma_kernel(pixels, scale)
    return _rgb_luma_kernel(pixels, scale)
