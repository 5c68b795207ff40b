"""Orthonormal 8x8 block DCT-II / DCT-III of an image plane, as in JPEG.

Each non-overlapping 8x8 block ``B`` becomes ``C @ B @ C.T`` (and back with ``C.T @ Y @ C``),
where ``C`` is the orthonormal DCT-II basis :data:`DCT8_BASIS`. This matches
``scipy.fft.dctn(block, type=2, norm="ortho")`` and ``idctn`` per block. The kernels run in
parallel over block rows: each thread reads and writes only its own 8-row strip.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import FASTMATH, kernel, prange

BLOCK = 8


def _dct8_basis() -> np.ndarray:
    """Orthonormal DCT-II matrix: row k is frequency k sampled at the 8 pixel centres."""
    frequency = np.arange(BLOCK)[:, None]
    position = np.arange(BLOCK)[None, :]
    basis = np.cos(np.pi * (2 * position + 1) * frequency / (2 * BLOCK)) * np.sqrt(2 / BLOCK)
    basis[0] /= np.sqrt(2)
    return basis


#: ``DCT8_BASIS @ x`` is the orthonormal DCT-II of an 8-vector; its transpose inverts it.
DCT8_BASIS = _dct8_basis().astype(np.float32)
DCT8_BASIS.setflags(write=False)


def zigzag_order() -> np.ndarray:
    """The 64 (row, col) positions of an 8x8 block in JPEG zig-zag order, shape (64, 2).

    Anti-diagonals are visited in order of ``row + col``; even diagonals run bottom-left to
    top-right, odd ones top-right to bottom-left, so position 1 is (0, 1) and 2 is (1, 0).
    """
    rows, cols = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
    diagonal = rows + cols
    along = np.where(diagonal % 2 == 0, cols, rows)
    order = np.lexsort((along, diagonal))
    return np.stack([rows[order], cols[order]], axis=1).astype(np.intp)


@kernel(cache=True, parallel=True, fastmath=FASTMATH)
def _block_transform_kernel(plane: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ block @ right`` for every 8x8 block of a float32 plane (H, W multiples of 8).

    Per 8-row strip: first the column pass over the whole strip width at once (a long,
    vectorisable row combination), then the row pass block by block.
    """
    height, width = plane.shape
    out = np.empty_like(plane)
    for block_row in prange(height // BLOCK):
        top = block_row * BLOCK
        strip = np.empty((BLOCK, width), dtype=np.float32)
        for i in range(BLOCK):
            for x in range(width):
                strip[i, x] = left[i, 0] * plane[top, x]
            for n in range(1, BLOCK):
                weight = left[i, n]
                for x in range(width):
                    strip[i, x] += weight * plane[top + n, x]
        for i in range(BLOCK):
            for left_col in range(0, width, BLOCK):
                for j in range(BLOCK):
                    total = np.float32(0.0)
                    for n in range(BLOCK):
                        total += strip[i, left_col + n] * right[n, j]
                    out[top + i, left_col + j] = total
    return out


#: The same body compiled without threads: for small planes (one watermark tile) starting
#: threads costs more than the transform, and under load it costs far more.
_block_transform_serial = kernel(name="_block_transform_serial", cache=True, fastmath=FASTMATH)(
    _block_transform_kernel.py_func
)

#: Planes with fewer pixels than this are transformed on one thread.
PARALLEL_MIN_PIXELS = 1 << 18


@kernel(cache=True)
def _block_dct8_kernel(plane: np.ndarray) -> np.ndarray:
    """Forward orthonormal DCT-II of every 8x8 block: ``C @ B @ C.T``."""
    basis = DCT8_BASIS.copy()
    if plane.size < PARALLEL_MIN_PIXELS:
        return _block_transform_serial(plane, basis, np.ascontiguousarray(basis.T))
    return _block_transform_kernel(plane, basis, np.ascontiguousarray(basis.T))


@kernel(cache=True)
def _block_idct8_kernel(coeffs: np.ndarray) -> np.ndarray:
    """Inverse (DCT-III) of every 8x8 block: ``C.T @ Y @ C``."""
    basis = DCT8_BASIS.copy()
    if coeffs.size < PARALLEL_MIN_PIXELS:
        return _block_transform_serial(coeffs, np.ascontiguousarray(basis.T), basis)
    return _block_transform_kernel(coeffs, np.ascontiguousarray(basis.T), basis)


def _validated_plane(plane: np.ndarray, name: str) -> np.ndarray:
    """A C-contiguous float32 2-D view whose sides are multiples of 8, or a ValueError."""
    if not isinstance(plane, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(plane).__name__}")
    if plane.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {plane.shape}")
    if plane.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {plane.dtype}")
    if plane.shape[0] % BLOCK or plane.shape[1] % BLOCK:
        raise ValueError(f"{name} height and width must be multiples of 8, got {plane.shape}")
    return np.ascontiguousarray(plane)


def block_dct8(plane: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT-II of each 8x8 block of a float32 (H, W) plane (H, W % 8 == 0)."""
    return _block_dct8_kernel(_validated_plane(plane, "plane"))


def block_idct8(coeffs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`block_dct8`: orthonormal DCT-III of each 8x8 block of coefficients."""
    return _block_idct8_kernel(_validated_plane(coeffs, "coeffs"))
