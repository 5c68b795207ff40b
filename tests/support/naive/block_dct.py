"""SciPy twins of the 8x8 block DCT kernels: reshape into blocks and call ``dctn``/``idctn``."""

from __future__ import annotations

import numpy as np
from scipy.fft import dctn, idctn


def _as_blocks(plane: np.ndarray) -> np.ndarray:
    """View an (H, W) plane as (H/8, W/8, 8, 8) blocks, in float64."""
    height, width = plane.shape
    return plane.astype(np.float64).reshape(height // 8, 8, width // 8, 8).transpose(0, 2, 1, 3)


def _from_blocks(blocks: np.ndarray) -> np.ndarray:
    rows, cols = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(rows * 8, cols * 8)


def block_dct8_naive(plane: np.ndarray) -> np.ndarray:
    """Float64 orthonormal DCT-II of each 8x8 block."""
    return _from_blocks(dctn(_as_blocks(plane), type=2, norm="ortho", axes=(2, 3)))


def block_idct8_naive(coeffs: np.ndarray) -> np.ndarray:
    """Float64 orthonormal DCT-III (inverse) of each 8x8 block."""
    return _from_blocks(idctn(_as_blocks(coeffs), type=2, norm="ortho", axes=(2, 3)))
