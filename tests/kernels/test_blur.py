"""The detector's Gaussian blur kernel against its twin, SciPy's ``gaussian_filter``: the same
float32 values bit for bit, on planes shorter than the filter (reflected again and again),
odd shapes, strided input and every sigma the toolkit uses and more."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from marking.kernels.blur import gaussian_blur, gaussian_weights, reflected_indices

SHAPES = [(1, 1), (1, 9), (3, 5), (7, 40), (30, 2), (64, 64), (257, 300)]


@pytest.mark.parametrize("shape", SHAPES, ids=[f"{h}x{w}" for h, w in SHAPES])
@pytest.mark.parametrize("sigma", [0.3, 1.0, 3.0, 10.0])
def test_blur_is_scipys_gaussian_filter_bit_for_bit(shape: tuple[int, int], sigma: float) -> None:
    rng = np.random.default_rng(sum(shape))
    plane = (rng.standard_normal(shape) * 50 + 100).astype(np.float32)
    expected = gaussian_filter(plane, sigma, mode="reflect")
    np.testing.assert_array_equal(gaussian_blur(plane, sigma), expected)


def test_strided_plane_is_blurred_as_its_copy() -> None:
    plane = np.random.default_rng(3).random((80, 120)).astype(np.float32)
    view = plane[::2, 1::3]
    np.testing.assert_array_equal(gaussian_blur(view, 3.0), gaussian_filter(view.copy(), 3.0))


def test_weights_and_reflection_are_scipys() -> None:
    weights = gaussian_weights(3.0)
    assert weights.size == 25  # radius int(4 * 3 + 0.5) = 12
    assert weights.sum() == pytest.approx(1.0)
    # d c b a | a b c d | d c b a | a b, for positions -6..9 of a line of 4
    expected = [2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1]
    np.testing.assert_array_equal(reflected_indices(4, 6), expected)


@pytest.mark.parametrize(
    ("plane", "sigma", "message"),
    [
        (np.zeros((4, 4), np.float64), 1.0, "float32"),
        (np.zeros((4, 4, 3), np.float32), 1.0, "2-D"),
        (np.zeros((4, 4), np.float32), 0.0, "sigma"),
        (np.zeros((4, 4), np.float32), float("nan"), "sigma"),
    ],
    ids=["float64", "3-D", "zero-sigma", "nan-sigma"],
)
def test_wrong_input_is_refused(plane: np.ndarray, sigma: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gaussian_blur(plane, sigma)
