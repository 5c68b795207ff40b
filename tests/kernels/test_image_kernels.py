"""Image kernels against their NumPy twins (tests/support/naive/image_kernels.py)."""

from __future__ import annotations

import numpy as np
import pytest

from marking.kernels import luma, masking, tiling
from tests.support.naive import image_kernels as naive

EPS32 = float(np.finfo(np.float32).eps)


def _tolerance(reference: np.ndarray) -> float:
    return 2**8 * EPS32 * max(1.0, float(np.abs(reference).max()))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.mark.parametrize("shape", [(5, 7), (64, 33, 3), (31, 17, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_luma_matches_twin(rng: np.random.Generator, shape: tuple, dtype: type) -> None:
    top = 255 if dtype == np.uint8 else 65535 if dtype == np.uint16 else 1.0
    pixels = (rng.random(shape) * top).astype(dtype)
    expected = naive.luma(pixels, 0.5)
    np.testing.assert_allclose(luma.luma(pixels, 0.5), expected, atol=_tolerance(expected))


@pytest.mark.parametrize("shape", [(5, 7), (64, 33, 3), (31, 17, 4), (9, 8, 2)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_luma_squared_difference_matches_twin(
    rng: np.random.Generator, shape: tuple, dtype: type
) -> None:
    top = 255 if dtype == np.uint8 else 65535 if dtype == np.uint16 else 1.0
    first = (rng.random(shape) * top).astype(dtype)
    second = first.copy()
    second.flat[::3] = (rng.random(second.size)[::3] * top).astype(dtype)
    expected = naive.luma_squared_difference(first, second, 0.5)
    found = luma.luma_squared_difference(first, second, 0.5)
    assert found == pytest.approx(expected, rel=1e-5)  # luma differences in float32
    assert luma.luma_squared_difference(first, first.copy(), 0.5) == 0.0  # exactly


@pytest.mark.parametrize(("shape", "block"), [((64, 64), 8), ((37, 50), 8), ((100, 9), 16)])
def test_block_std_matches_twin(rng: np.random.Generator, shape: tuple, block: int) -> None:
    plane = (rng.random(shape) * 255).astype(np.float32)
    expected = naive.block_std(plane, block)
    np.testing.assert_allclose(masking.block_std(plane, block), expected, atol=1e-3)


@pytest.mark.parametrize(("shape", "block"), [((64, 64), 8), ((37, 50), 8), ((100, 9), 16)])
@pytest.mark.parametrize("row_step", [1, 2])
@pytest.mark.parametrize(("dtype", "top"), [(np.uint8, 255), (np.uint16, 1023)])
def test_block_std_of_integers_matches_twin(
    rng: np.random.Generator, shape: tuple, block: int, row_step: int, dtype: type, top: int
) -> None:
    padded = (rng.random((shape[0], shape[1] + 6)) * top).astype(dtype)
    plane = padded[:, : shape[1]]  # a decoded plane's padded rows
    expected = naive.block_std_of_integers(plane, block, row_step)
    found = masking.block_std_of_integers(plane, block, row_step)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-3)
    if row_step == 1:
        np.testing.assert_allclose(found, masking.block_std(plane.astype(np.float32), block))


def test_block_std_of_flat_plane_is_zero() -> None:
    assert np.all(masking.block_std(np.full((16, 16), 7.0, np.float32), 8) == 0)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(
    ("dtype", "value_max"), [(np.uint8, 255.0), (np.uint16, 65535.0), (np.float32, 0.0)]
)
def test_add_tiled_pattern_matches_twin(
    rng: np.random.Generator, channels: int, dtype: type, value_max: float
) -> None:
    top = value_max
    rounding = dtype != np.float32
    pixels = (rng.random((45, 70, channels)) * top).astype(dtype)
    tile = rng.normal(size=(16, 16)).astype(np.float32)
    mask = (rng.random((6, 9)) + 0.5).astype(np.float32)
    gain = 3.0 * top / 255
    got = tiling.add_tiled_pattern(pixels, tile, mask, 8, gain, value_max, rounding)
    expected = naive.add_tiled_pattern(pixels, tile, mask, 8, gain, value_max, rounding)
    assert got.dtype == pixels.dtype
    if rounding:
        # Rounding of values that sit on .5 may differ by one step between float32 and float64.
        assert np.abs(got.astype(np.int64) - expected.astype(np.int64)).max() <= 1
        assert np.mean(got != expected) < 0.01
    else:
        np.testing.assert_allclose(got, expected, atol=_tolerance(expected))
    if channels == 4:
        np.testing.assert_array_equal(got[..., 3], pixels[..., 3])


@pytest.mark.parametrize(("dtype", "value_max"), [(np.uint8, 255.0), (np.uint16, 1023.0)])
def test_add_tiled_pattern_in_place_matches_twin(
    rng: np.random.Generator, dtype: type, value_max: float
) -> None:
    # A decoded frame's plane: rows padded past the width (a strided view).
    padded = (rng.random((45, 80)) * value_max).astype(dtype)
    plane = padded[:, :70]
    before, padding = plane.copy(), padded[:, 70:].copy()
    tile = rng.normal(size=(16, 16)).astype(np.float32)
    mask = (rng.random((6, 9)) + 0.5).astype(np.float32)
    gain = 3.0 * value_max / 255
    squared = tiling.add_tiled_pattern_in_place(plane, tile, mask, 8, gain, value_max)
    expected = naive.add_tiled_pattern(before[:, :, None], tile, mask, 8, gain, value_max, True)
    expected = expected[:, :, 0]
    # Rounding of values that sit on .5 may differ by one step between float32 and float64.
    assert np.abs(plane.astype(np.int64) - expected.astype(np.int64)).max() <= 1
    assert np.mean(plane != expected) < 0.01
    np.testing.assert_array_equal(padded[:, 70:], padding)  # the padding is untouched
    change = plane.astype(np.int64) - before.astype(np.int64)
    assert squared == float(np.sum(change * change))


def test_add_tiled_pattern_in_place_keeps_padding_and_clips() -> None:
    padded = np.full((16, 24), 254, np.uint8)
    tile = np.full((8, 8), 10.0, np.float32)
    squared = tiling.add_tiled_pattern_in_place(
        padded[:, :16], tile, np.ones((2, 2), np.float32), 8, 1.0, 255.0
    )
    assert np.all(padded[:, :16] == 255)
    assert np.all(padded[:, 16:] == 254)
    assert squared == 16 * 16


def test_add_tiled_pattern_clips_to_range() -> None:
    pixels = np.full((16, 16, 3), 254, np.uint8)
    tile = np.full((8, 8), 10.0, np.float32)
    out = tiling.add_tiled_pattern(pixels, tile, np.ones((2, 2), np.float32), 8, 1.0, 255.0, True)
    assert out.max() == 255


@pytest.mark.parametrize(("shape", "period"), [((64, 64), 16), ((70, 45), 16), ((10, 10), 32)])
def test_fold_periodic_matches_twin(rng: np.random.Generator, shape: tuple, period: int) -> None:
    plane = rng.normal(size=shape).astype(np.float32)
    expected = naive.fold_periodic(plane, period)
    np.testing.assert_allclose(tiling.fold_periodic(plane, period), expected, atol=1e-4)


@pytest.mark.parametrize(("period_y", "period_x"), [(16.0, 16.0), (23.7, 19.2), (40.5, 40.5)])
def test_fold_scaled_matches_twin(
    rng: np.random.Generator, period_y: float, period_x: float
) -> None:
    plane = rng.normal(size=(90, 77)).astype(np.float32)
    expected = naive.fold_scaled(plane, period_y, period_x, 16)
    got = tiling.fold_scaled(plane, period_y, period_x, 16)
    np.testing.assert_allclose(got, expected, atol=1e-3)


def _homography(angle: float, scale_y: float, scale_x: float, tilt: float) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.array(
        [[cos / scale_y, -sin / scale_y, 3.5], [sin / scale_x, cos / scale_x, -7.25], [tilt, 0, 1]]
    )


@pytest.mark.parametrize(
    "mapping",
    [
        _homography(0.0, 1.0, 1.0, 0.0),
        _homography(0.3, 1.4, 0.9, 0.0),
        _homography(-1.2, 2.2, 2.5, 4e-4),
        np.diag([-1.0, 1.0, 1.0]),  # mirrored
    ],
)
def test_fold_mapped_matches_twin(rng: np.random.Generator, mapping: np.ndarray) -> None:
    plane = rng.normal(size=(90, 77)).astype(np.float32)
    plane[:5] = 0  # flat fill is skipped, as it adds nothing
    expected = naive.fold_mapped(plane, mapping, 16)
    np.testing.assert_allclose(tiling.fold_mapped(plane, mapping, 16), expected, atol=1e-3)
    many = tiling.fold_mapped_many(plane, np.stack([mapping, np.eye(3)]), 16)
    np.testing.assert_allclose(many[0], expected, atol=1e-3)
    np.testing.assert_allclose(many[1], naive.fold_mapped(plane, np.eye(3), 16), atol=1e-3)


def test_fold_mapped_of_a_scaling_is_the_scaled_fold(rng: np.random.Generator) -> None:
    plane = rng.normal(size=(64, 96)).astype(np.float32)
    mapping = np.diag([16 / 23.7, 16 / 19.2, 1.0])
    np.testing.assert_allclose(
        tiling.fold_mapped(plane, mapping, 16), tiling.fold_scaled(plane, 23.7, 19.2, 16), atol=1e-3
    )


def test_lattice_scores_match_twin(rng: np.random.Generator) -> None:
    magnitude = rng.random((48, 40)).astype(np.float32)
    harmonics = rng.integers(-9, 10, (30, 2)).astype(np.float64)
    maps = rng.normal(scale=0.05, size=(7, 2, 2))
    expected = naive.lattice_scores(magnitude, harmonics, maps)
    np.testing.assert_allclose(
        tiling.lattice_scores(magnitude, harmonics, maps), expected, rtol=1e-4
    )


def test_fold_scaled_at_integer_period_equals_periodic_fold(rng: np.random.Generator) -> None:
    plane = rng.normal(size=(64, 96)).astype(np.float32)
    np.testing.assert_allclose(
        tiling.fold_scaled(plane, 32.0, 32.0, 32), tiling.fold_periodic(plane, 32), atol=1e-4
    )
