"""Perceptual masking: how much watermark each region of an image can hide.

The eye forgives changes in texture and misses them near edges, but sees them in flat areas
(Watson 1993: contrast masking grows with local contrast to the power 0.7). The mask is the
local standard deviation per block, raised to that power, so the watermark is strong where the
picture is busy and weak where it is smooth.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import kernel, prange

CONTRAST_MASKING_EXPONENT = 0.7


@kernel(cache=True, parallel=True)
def block_std(plane: np.ndarray, block: int) -> np.ndarray:
    """Standard deviation of each ``block`` x ``block`` tile (partial tiles at the edges count)."""
    height, width = plane.shape
    rows = (height + block - 1) // block
    cols = (width + block - 1) // block
    out = np.empty((rows, cols), dtype=np.float32)
    for r in prange(rows):
        y0 = r * block
        y1 = min(y0 + block, height)
        for c in range(cols):
            x0 = c * block
            x1 = min(x0 + block, width)
            total = 0.0
            total_sq = 0.0
            for y in range(y0, y1):
                for x in range(x0, x1):
                    v = plane[y, x]
                    total += v
                    total_sq += v * v
            n = (y1 - y0) * (x1 - x0)
            mean = total / n
            out[r, c] = np.sqrt(max(total_sq / n - mean * mean, 0.0))
    return out


@kernel(cache=True, parallel=True)
def block_std_of_integers(plane: np.ndarray, block: int, row_step: int) -> np.ndarray:
    """:func:`block_std` of an integer plane (2-D, any strides), from every ``row_step``-th row.

    For decoded video planes, every frame: sums in integers (exact, and they vectorise), and
    with ``row_step`` 2 half the rows, which estimates a block's spread as well for masking.
    """
    height, width = plane.shape
    rows = (height + block - 1) // block
    cols = (width + block - 1) // block
    out = np.empty((rows, cols), dtype=np.float32)
    for r in prange(rows):
        y0 = r * block
        y1 = min(y0 + block, height)
        for c in range(cols):
            x0 = c * block
            x1 = min(x0 + block, width)
            total = 0
            total_sq = 0
            n = 0
            for y in range(y0, y1, row_step):
                line = plane[y]
                for x in range(x0, x1):
                    v = np.int64(line[x])
                    total += v
                    total_sq += v * v
                n += x1 - x0
            mean = total / n
            out[r, c] = np.sqrt(max(total_sq / n - mean * mean, 0.0))
    return out
