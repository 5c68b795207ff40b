"""Luma of a pixel array, the plane every image watermark lives in.

BT.601 weights, as JPEG uses. Adding the same value to R, G and B changes luma by exactly that
value and leaves the chroma untouched, which is how the watermark is written back.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import kernel, prange

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


def luma(pixels: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Float32 luma of an (H, W) or (H, W, C>=3) array, multiplied by ``scale``.

    ``scale`` maps the array's value range onto 0..255 (1/257 for 16-bit), so every later step
    works in 8-bit units whatever the input depth. Channels past the third (alpha) are ignored.
    """
    if pixels.ndim == 3 and pixels.shape[2] < 3:
        pixels = pixels[:, :, 0]  # grey (H, W, 1) or grey plus alpha (H, W, 2)
    if pixels.ndim == 2:
        return _gray_luma_kernel(pixels, scale)
    if pixels.ndim != 3:
        raise ValueError(f"pixels must be (H, W) or (H, W, C), got shape {pixels.shape}")
    return _rgb_luma_kernel(pixels, scale)
