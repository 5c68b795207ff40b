"""8x8 block DCT kernels against their SciPy twins, plus basis, zig-zag and validation checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.fft import dct

from marking.kernels.block_dct import DCT8_BASIS, block_dct8, block_idct8, zigzag_order
from tests.support.naive.block_dct import block_dct8_naive, block_idct8_naive

EPS32 = float(np.finfo(np.float32).eps)

#: libjpeg's ``jpeg_natural_order``: raster index of the k-th zig-zag coefficient.
JPEG_NATURAL_ORDER = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]  # fmt: skip


def assert_close_float32(actual: np.ndarray, expected: np.ndarray, *inputs: np.ndarray) -> None:
    """Equal up to 2**8 float32 ulps of the largest magnitude involved."""
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    magnitudes = [np.abs(a).max(initial=0.0) for a in (expected, *inputs)]
    atol = 2**8 * EPS32 * max(max(magnitudes), np.finfo(np.float32).tiny)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def random_plane(shape: tuple[int, int], scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize(
    ("shape", "scale"),
    [
        ((8, 8), 1.0),
        ((16, 64), 255.0),
        ((16, 64), 1e-12),
        ((16, 64), 1e12),
        ((64, 16), 3.0),
        ((1080, 1920), 255.0),
    ],
)
def test_forward_and_inverse_match_scipy(shape: tuple[int, int], scale: float) -> None:
    plane = random_plane(shape, scale, seed=sum(shape))
    assert_close_float32(block_dct8(plane), block_dct8_naive(plane), plane)
    assert_close_float32(block_idct8(plane), block_idct8_naive(plane), plane)


def test_frame_cropped_to_multiples_of_eight() -> None:
    frame = random_plane((1083, 1917), 100.0, seed=7)
    plane = frame[: 1083 // 8 * 8, : 1917 // 8 * 8]  # a non-contiguous view, (1080, 1912)
    assert plane.shape == (1080, 1912)
    assert not plane.flags.c_contiguous
    assert_close_float32(block_dct8(plane), block_dct8_naive(plane), plane)


@pytest.mark.parametrize("value", [0.0, 1.0, -128.0, 255.0])
def test_constant_plane_has_only_dc(value: float) -> None:
    plane = np.full((24, 40), value, dtype=np.float32)
    expected = np.zeros_like(plane, dtype=np.float64)
    expected[::8, ::8] = 8.0 * value  # orthonormal DC gain of an 8x8 block
    coeffs = block_dct8(plane)
    assert_close_float32(coeffs, expected, plane)
    assert_close_float32(coeffs, block_dct8_naive(plane), plane)


@pytest.mark.parametrize("shape", [(8, 8), (32, 48), (720, 1280)])
def test_inverse_undoes_forward(shape: tuple[int, int]) -> None:
    plane = random_plane(shape, 50.0, seed=3)
    assert_close_float32(block_idct8(block_dct8(plane)), plane.astype(np.float64), plane)
    assert_close_float32(block_dct8(block_idct8(plane)), plane.astype(np.float64), plane)


def test_blocks_are_independent() -> None:
    plane = random_plane((32, 32), 10.0, seed=11)
    changed = plane.copy()
    changed[8:16, 16:24] += 5.0
    difference = block_dct8(changed) != block_dct8(plane)
    assert difference[8:16, 16:24].any()
    difference[8:16, 16:24] = False
    assert not difference.any()


def test_layout_does_not_change_result() -> None:
    plane = random_plane((40, 24), 10.0, seed=5)
    fortran = np.asfortranarray(plane)
    np.testing.assert_array_equal(block_dct8(fortran), block_dct8(plane))
    np.testing.assert_array_equal(block_idct8(fortran), block_idct8(plane))


def test_empty_plane() -> None:
    assert block_dct8(np.zeros((0, 16), dtype=np.float32)).shape == (0, 16)


def test_input_not_modified() -> None:
    plane = random_plane((16, 16), 1.0, seed=2)
    original = plane.copy()
    block_dct8(plane)
    block_idct8(plane)
    np.testing.assert_array_equal(plane, original)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 12), dtype=np.float32),
        np.zeros((10, 8), dtype=np.float32),
        np.zeros((8, 8), dtype=np.float64),
        np.zeros((8, 8), dtype=np.uint8),
        np.zeros((8, 8, 3), dtype=np.float32),
        np.zeros(64, dtype=np.float32),
        [[0.0] * 8] * 8,
    ],
)
def test_invalid_planes_raise(bad: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        block_dct8(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be"):
        block_idct8(bad)  # type: ignore[arg-type]


def test_basis_is_orthonormal_dct_ii() -> None:
    assert DCT8_BASIS.dtype == np.float32
    assert DCT8_BASIS.shape == (8, 8)
    expected = dct(np.eye(8), type=2, norm="ortho", axis=0)
    np.testing.assert_allclose(DCT8_BASIS, expected, rtol=0, atol=4 * EPS32)
    np.testing.assert_allclose(DCT8_BASIS @ DCT8_BASIS.T, np.eye(8), rtol=0, atol=8 * EPS32)


def test_zigzag_matches_jpeg() -> None:
    order = zigzag_order()
    assert order.shape == (64, 2)
    assert np.issubdtype(order.dtype, np.integer)
    assert (order[:, 0] * 8 + order[:, 1]).tolist() == JPEG_NATURAL_ORDER
