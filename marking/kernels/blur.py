"""Gaussian blur of a float32 plane, as ``scipy.ndimage.gaussian_filter(plane, sigma,
mode="reflect")`` computes it, bit for bit.

The picture detector's high-pass prefilter subtracts this blur. It is a kernel rather than a
SciPy call because importing ``scipy.ndimage`` costs about 0.2 s, a third of a cold
``aigc-mark detect``. The sums follow SciPy's order exactly (in float64: the centre tap, then
the pairs of taps from the outermost in; each axis rounded to float32 as SciPy's output is),
so results do not move; no fast-math, which would reorder them.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import kernel, prange

#: SciPy's default: the filter reaches out to 4 sigma.
TRUNCATE = 4.0


def gaussian_weights(sigma: float, truncate: float = TRUNCATE) -> np.ndarray:
    """The 1-D taps SciPy uses for ``sigma``: 2r+1 of them, r = int(truncate*sigma + 0.5)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x**2)
    return phi / phi.sum()


def reflected_indices(size: int, radius: int) -> np.ndarray:
    """Source index of each position -radius..size+radius-1, folded into 0..size-1 as SciPy's
    "reflect" mode does (d c b a | a b c d | d c b a), repeatedly for short lines."""
    period = 2 * size
    folded = np.arange(-radius, size + radius) % period
    return np.where(folded >= size, period - 1 - folded, folded).astype(np.int64)


@kernel(cache=True, parallel=True)
def _blur_columns(plane: np.ndarray, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Correlate along axis 0 (down each column); ``rows`` from :func:`reflected_indices`."""
    height, width = plane.shape
    radius = weights.size // 2
    out = np.empty((height, width), dtype=np.float32)
    for y in prange(height):
        for x in range(width):
            total = np.float64(plane[y, x]) * weights[radius]
            for j in range(radius, 0, -1):
                above = np.float64(plane[rows[radius + y - j], x])
                below = np.float64(plane[rows[radius + y + j], x])
                total += (above + below) * weights[radius - j]
            out[y, x] = total
    return out


@kernel(cache=True, parallel=True)
def _blur_rows(plane: np.ndarray, weights: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Correlate along axis 1 (along each row); ``columns`` from :func:`reflected_indices`."""
    height, width = plane.shape
    radius = weights.size // 2
    out = np.empty((height, width), dtype=np.float32)
    for y in prange(height):
        for x in range(width):
            total = np.float64(plane[y, x]) * weights[radius]
            for j in range(radius, 0, -1):
                left = np.float64(plane[y, columns[radius + x - j]])
                right = np.float64(plane[y, columns[radius + x + j]])
                total += (left + right) * weights[radius - j]
            out[y, x] = total
    return out


def gaussian_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(plane, sigma, mode="reflect")`` of a 2-D float32
    plane: the same float32 values."""
    if plane.ndim != 2 or plane.dtype != np.float32:
        raise ValueError(f"expected a 2-D float32 plane, got {plane.ndim}-D {plane.dtype}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    weights = gaussian_weights(sigma)
    radius = weights.size // 2
    height, width = plane.shape
    down = _blur_columns(np.ascontiguousarray(plane), weights, reflected_indices(height, radius))
    return _blur_rows(down, weights, reflected_indices(width, radius))
