"""Audio kernels (marking.kernels.spectral) against their NumPy twins
(tests/support/naive/spectral.py).

Random inputs of the dtypes the watermark passes, plus the edges: frames hanging over either
end of the buffer or wholly outside it, silent frames, fewer live bins than bins, a band
running past the spectrum's end, zero budgets, folds wrapping more than once.
"""

from __future__ import annotations

import numpy as np
import pytest

from marking.kernels import spectral
from marking.kernels.spectral import FEATURE_CLIP, SILENCE_POWER
from tests.support.naive import spectral as naive

EPS32 = float(np.finfo(np.float32).eps)


def _tolerance(reference: np.ndarray, scale: float = 1.0) -> float:
    """Absolute tolerance for a float32 kernel against a float64 twin (2**8 ulps of the data)."""
    top = float(np.abs(reference).max()) if np.size(reference) else 0.0
    return 2**8 * EPS32 * max(1.0, top) * scale


def _close(got: np.ndarray, expected: np.ndarray, scale: float = 1.0) -> None:
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tolerance(expected, scale))


def _sqrt_hann(length: int) -> np.ndarray:
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)


def _spectra(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    return (values * 10 ** rng.uniform(-3, 1, size=(*shape[:2], 1))).astype(np.complex64)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240605)


# --- framing and overlap-add ---------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 5])
@pytest.mark.parametrize("length", [16, 320, 441])
def test_windowed_frames_matches_twin(rng: np.random.Generator, channels: int, length: int) -> None:
    count = 3 * length + 17
    samples = rng.uniform(-1, 1, size=(channels, count)).astype(np.float32)
    window = _sqrt_hann(length)
    starts = np.array(
        [
            -length - 5,  # wholly before the buffer
            -length + 1,  # one sample inside
            -length // 2,  # hanging over the start
            0,
            length // 2,
            count - length,  # ends exactly at the end
            count - length // 3,  # hanging over the end
            count - 1,
            count,  # wholly after
            count + 7,
        ],
        dtype=np.int64,
    )
    got = spectral.windowed_frames(samples, starts, window)
    assert got.dtype == np.float32
    _close(got, naive.windowed_frames(samples, starts, window))
    assert np.all(got[:, 0] == 0)
    assert np.all(got[:, -2:] == 0)


def test_windowed_frames_of_a_strided_view(rng: np.random.Generator) -> None:
    """The embedder frames a view into its buffer (``host[:, drop:]``), not a fresh array."""
    buffer = rng.uniform(-1, 1, size=(2, 2000)).astype(np.float32)
    view = buffer[:, 123:]
    window = _sqrt_hann(320)
    starts = np.arange(-160, 1900, 160, dtype=np.int64)
    got = spectral.windowed_frames(view, starts, window)
    _close(got, naive.windowed_frames(np.ascontiguousarray(view), starts, window))


def test_windowed_frames_with_no_frames() -> None:
    got = spectral.windowed_frames(
        np.ones((2, 50), np.float32), np.zeros(0, np.int64), _sqrt_hann(16)
    )
    assert got.shape == (2, 0, 16)


@pytest.mark.parametrize("channels", [1, 3])
def test_frame_energy_matches_twin(rng: np.random.Generator, channels: int) -> None:
    frames = rng.uniform(-1, 1, size=(channels, 40, 320)).astype(np.float32)
    frames[:, 5] = 0.0  # a silent frame
    frames[:, 6] *= 1e-6
    got = spectral.frame_energy(frames)
    expected = naive.frame_energy(frames)
    assert got.dtype == np.float64
    assert got[5] == 0.0
    np.testing.assert_allclose(got, expected, rtol=2**8 * EPS32)


@pytest.mark.parametrize("channels", [1, 2])
def test_overlap_add_matches_twin(rng: np.random.Generator, channels: int) -> None:
    length, count = 320, 1000
    window = _sqrt_hann(length)
    target = rng.uniform(-1, 1, size=(channels, count)).astype(np.float32)
    starts = np.array([-400, -100, 0, 160, 333, count - 200, count - 1, count + 50], np.int64)
    frames = rng.normal(size=(channels, starts.size, length)).astype(np.float32)
    expected = naive.overlap_add(target, frames, starts, window)
    spectral.overlap_add(target, frames, starts, window)
    _close(target, expected)


def test_overlap_add_into_a_view_leaves_the_rest_alone(rng: np.random.Generator) -> None:
    buffer = np.zeros((2, 900), np.float32)
    view = buffer[:, 100:600]
    window = _sqrt_hann(160)
    starts = np.array([-80, 200, 420], np.int64)
    frames = rng.normal(size=(2, 3, 160)).astype(np.float32)
    expected = naive.overlap_add(np.zeros((2, 500)), frames, starts, window)
    spectral.overlap_add(view, frames, starts, window)
    _close(buffer[:, 100:600], expected)
    assert np.all(buffer[:, :100] == 0)
    assert np.all(buffer[:, 600:] == 0)


def test_frames_and_overlap_add_reconstruct(rng: np.random.Generator) -> None:
    """sqrt-Hann analysis times synthesis at a half-frame hop gives the signal back."""
    length, hop = 320, 160
    signal = rng.uniform(-1, 1, size=(2, 4000)).astype(np.float32)
    window = _sqrt_hann(length)
    starts = np.arange(-hop, signal.shape[1], hop, dtype=np.int64)
    frames = spectral.windowed_frames(signal, starts, window)
    rebuilt = np.zeros_like(signal)
    spectral.overlap_add(rebuilt, frames, starts, window)
    np.testing.assert_allclose(rebuilt, signal, atol=1e-5)


@pytest.mark.parametrize("channels", [1, 2])
def test_interleave_sum_matches_twin(rng: np.random.Generator, channels: int) -> None:
    first = rng.uniform(-1, 1, size=(channels, 777)).astype(np.float32)
    second = rng.uniform(-1, 1, size=(channels, 777)).astype(np.float32)
    got = spectral.interleave_sum(first, second)
    assert got.dtype == np.float32
    assert got.flags.c_contiguous
    _close(got, naive.interleave_sum(first, second))


# --- band power ----------------------------------------------------------------------------


# (first_bin, bins, spectrum bins K): inside, running past the end, starting past the end.
BAND_CASES = [(6, 120, 161), (6, 120, 81), (6, 120, 6), (0, 10, 9), (6, 120, 3)]


@pytest.mark.parametrize("channels", [1, 2, 5])
@pytest.mark.parametrize(("first_bin", "bins", "available"), BAND_CASES)
def test_mono_band_power_matches_twin(
    rng: np.random.Generator, channels: int, first_bin: int, bins: int, available: int
) -> None:
    spectra = _spectra(rng, (channels, 30, available))
    spectra[:, 3] = 0  # a silent frame
    got = spectral.mono_band_power(spectra, first_bin, bins, 0.25)
    expected = naive.mono_band_power(spectra, first_bin, bins, 0.25)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2**8 * EPS32, atol=1e-30)
    assert np.all(got[:, max(0, available - first_bin) :] == 0)


def test_mono_band_power_cancels_opposite_channels(rng: np.random.Generator) -> None:
    one = _spectra(rng, (1, 10, 161))
    assert np.all(spectral.mono_band_power(np.concatenate([one, -one]), 6, 120, 1.0) == 0)


@pytest.mark.parametrize("channels", [1, 2, 5])
@pytest.mark.parametrize(("first_bin", "bins", "available"), BAND_CASES)
def test_channel_power_matches_twin(
    rng: np.random.Generator, channels: int, first_bin: int, bins: int, available: int
) -> None:
    spectra = _spectra(rng, (channels, 30, available))
    got = spectral.channel_power(spectra, first_bin, bins)
    expected = naive.channel_power(spectra, first_bin, bins)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2**8 * EPS32, atol=1e-30)


# --- features ------------------------------------------------------------------------------


def _power(rng: np.random.Generator, frames: int, bins: int) -> np.ndarray:
    """Log-normal band power with a per-frame level over 60 dB, like real spectra."""
    level = 10 ** rng.uniform(-8, -2, size=(frames, 1))
    return (level * rng.lognormal(0, 1.5, size=(frames, bins))).astype(np.float32)


def _check_features(power: np.ndarray, live: int) -> np.ndarray:
    got = spectral.detrended_features(power, live)
    expected = naive.detrended_features(power, live)
    assert got.dtype == np.float32
    assert got.shape == power.shape
    # log power is tens of nats; the local means are sums of up to 35 of them in float32.
    top = float(np.abs(np.log(power[power > 0].astype(np.float64))).max()) if power.any() else 1
    np.testing.assert_allclose(got, expected, rtol=0, atol=2**8 * EPS32 * max(1.0, top))
    assert np.all(np.abs(got) <= FEATURE_CLIP)
    return got


@pytest.mark.parametrize(("frames", "bins", "live"), [(60, 120, 120), (60, 120, 73), (9, 20, 20)])
def test_detrended_features_match_twin(
    rng: np.random.Generator, frames: int, bins: int, live: int
) -> None:
    got = _check_features(_power(rng, frames, bins), live)
    assert np.all(got[:, live:] == 0)


def test_detrended_features_with_silent_frames(rng: np.random.Generator) -> None:
    power = _power(rng, 50, 120)
    power[[0, 1, 10, 11, 12, 30, 49]] = 0.0  # digital silence, at the ends and inside
    power[20] = SILENCE_POWER * 1e-3  # near-silence below the threshold
    power[21, :10] = 1.0  # loud in a few bins only: not silent
    power[21, 10:] = 0.0
    got = _check_features(power, 120)
    silent = [0, 1, 10, 11, 12, 20, 30, 49]
    assert np.all(got[silent] == 0)
    assert np.any(got[21] != 0)


def test_detrended_features_with_silence_above_live_bins(rng: np.random.Generator) -> None:
    """A frame whose power is all above the live bins is silent where it counts."""
    power = _power(rng, 20, 120)
    power[7, :40] = 0.0
    got = _check_features(power, 40)
    assert np.all(got[7] == 0)
    assert np.all(got[:, 40:] == 0)


@pytest.mark.parametrize("live", [0, -3])
def test_detrended_features_with_no_live_bins(rng: np.random.Generator, live: int) -> None:
    assert np.all(_check_features(_power(rng, 10, 120), live) == 0)


def test_detrended_features_with_more_live_bins_than_bins(rng: np.random.Generator) -> None:
    _check_features(_power(rng, 12, 30), 500)


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_detrended_features_shorter_than_the_box(rng: np.random.Generator, frames: int) -> None:
    _check_features(_power(rng, frames, 120), 120)


def test_detrended_features_cancel_a_smooth_host() -> None:
    """A power that is a product of a time envelope and a spectral tilt gives features near 0
    away from the edges: the host cancels."""
    envelope = np.exp(np.linspace(-3, 0, 40))[:, None]
    tilt = np.exp(np.linspace(0, -1, 120))[None, :]
    got = spectral.detrended_features((envelope * tilt).astype(np.float32), 120)
    assert np.abs(got[3:-3, 4:-4]).max() < 1e-3


@pytest.mark.parametrize(("box_frames", "box_bins"), [(8, 6), (0, 0), (1, 9), (30, 2)])
def test_boxed_features_match_twin(
    rng: np.random.Generator, box_frames: int, box_bins: int
) -> None:
    """The fine-grid detrend (the speed search's spectrogram): other box sizes, silent frames,
    a box longer than the input."""
    power = _power(rng, 40, 50)
    power[[0, 5, 6, 39]] = 0.0
    got = spectral.boxed_features(power, 45, box_frames, box_bins)
    expected = naive.boxed_features(power, 45, box_frames, box_bins)
    assert got.dtype == np.float32
    top = float(np.abs(np.log(power[power > 0].astype(np.float64))).max())
    np.testing.assert_allclose(got, expected, rtol=0, atol=2**8 * EPS32 * top)
    assert np.all(got[:, 45:] == 0)
    assert np.all(got[[0, 5, 6, 39]] == 0)


def test_detrended_features_are_the_watermark_box(rng: np.random.Generator) -> None:
    power = _power(rng, 30, 120)
    np.testing.assert_array_equal(
        spectral.detrended_features(power, 100),
        spectral.boxed_features(power, 100, spectral.DETREND_FRAMES, spectral.DETREND_BINS),
    )


@pytest.mark.parametrize(("count", "width"), [(50, 40), (1, 7), (6, 1), (1, 1)])
def test_resample_grid_matches_twin(rng: np.random.Generator, count: int, width: int) -> None:
    values = rng.uniform(-2.5, 2.5, size=(count, width)).astype(np.float32)
    # Inside, on the last row and column exactly, before the first and after the last, NaN.
    rows = np.concatenate(
        [rng.uniform(0, count - 1, 30), [0.0, count - 1, -0.01, count - 0.99, np.nan]]
    )
    cols = np.concatenate(
        [rng.uniform(0, width - 1, 20), [0.0, width - 1, -1.0, width + 0.5, np.nan]]
    )
    got = spectral.resample_grid(values, rows, cols)
    assert got.dtype == np.float32
    _close(got, naive.resample_grid(values, rows, cols), scale=4.0)
    assert np.all(got[-3:] == 0)
    assert np.all(got[:, -3:] == 0)


def test_resample_grid_at_whole_positions_is_the_grid(rng: np.random.Generator) -> None:
    values = rng.normal(size=(9, 11)).astype(np.float32)
    got = spectral.resample_grid(values, np.arange(9.0), np.arange(11.0))
    np.testing.assert_array_equal(got, values)


def test_resample_grid_of_a_plane_is_exact() -> None:
    """Bilinear interpolation reproduces a function linear in row and column."""
    rows_at, cols_at = np.arange(20.0)[:, None], np.arange(30.0)[None, :]
    values = (0.1 * rows_at - 0.05 * cols_at + 0.3).astype(np.float32)
    rows, cols = np.linspace(0, 19, 47), np.linspace(0, 29, 53)
    got = spectral.resample_grid(values, rows, cols)
    np.testing.assert_allclose(got, 0.1 * rows[:, None] - 0.05 * cols[None, :] + 0.3, atol=1e-5)


@pytest.mark.parametrize("first_frame", [0, 7, 995, 2503])
@pytest.mark.parametrize("frames", [1, 10, 2345])
def test_fold_features_matches_twin(
    rng: np.random.Generator, first_frame: int, frames: int
) -> None:
    period, bins = 1000, 12
    sums = rng.normal(size=(period, bins))
    squares = rng.uniform(0, 1, size=(period, bins))
    features = rng.uniform(-2.5, 2.5, size=(frames, bins)).astype(np.float32)
    expected_sums, expected_squares = naive.fold_features(sums, squares, features, first_frame)
    spectral.fold_features(sums, squares, features, first_frame)
    # Sums are float64; each feature's square may be taken in float32.
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-12, atol=1e-9)
    _close(squares, expected_squares, scale=float(np.ceil(frames / period)))


# --- gains and the mark --------------------------------------------------------------------


def _gain_inputs(
    rng: np.random.Generator, frames: int, bins: int, groups: int, budget_scale: float
) -> dict[str, np.ndarray]:
    slot_power = _power(rng, frames, bins)
    owner = rng.integers(-1, groups, size=(frames, bins)).astype(np.int32)
    weight = np.clip(
        slot_power.mean(axis=1, keepdims=True) / np.maximum(slot_power, 1e-30), 0.25, 4.0
    ).astype(np.float32)
    budget = slot_power.sum(axis=1).astype(np.float64) * budget_scale
    return {
        "features": rng.uniform(-1.5, 1.5, size=(frames, bins)).astype(np.float32),
        "signs": (rng.integers(0, 2, size=(frames, bins)) * 2 - 1).astype(np.float32),
        "groups": owner,
        "response": rng.uniform(0.5, 1.1, size=groups),
        "slot_weight": weight,
        "slot_power": slot_power,
        "frame_budget": budget,
    }


def _check_gains(inputs: dict[str, np.ndarray], rounds: int, fill: float) -> np.ndarray:
    args = (*inputs.values(), 0.12, 0.5, rounds, fill)
    got = spectral.informed_gains(*args)
    expected = naive.informed_gains(*args)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    assert np.all((got >= 0) & (got <= 0.5))
    assert np.all(got[inputs["groups"] < 0] == 0)
    assert np.all(got[inputs["frame_budget"] <= 0] == 0)
    return got


@pytest.mark.parametrize("rounds", [1, 3])
@pytest.mark.parametrize("fill", [0.0, 0.5])
@pytest.mark.parametrize("budget_scale", [1e-3, 1e-1, 10.0])
def test_informed_gains_match_twin(
    rng: np.random.Generator, rounds: int, fill: float, budget_scale: float
) -> None:
    _check_gains(_gain_inputs(rng, 250, 120, 40, budget_scale), rounds, fill)


def test_informed_gains_with_zero_budgets(rng: np.random.Generator) -> None:
    inputs = _gain_inputs(rng, 100, 120, 30, 1e-2)
    inputs["frame_budget"][::3] = 0.0
    inputs["frame_budget"][50:70] = 0.0
    _check_gains(inputs, 3, 0.5)


def test_informed_gains_with_no_budget_at_all(rng: np.random.Generator) -> None:
    inputs = _gain_inputs(rng, 40, 120, 10, 1e-2)
    inputs["frame_budget"][:] = 0.0
    assert np.all(_check_gains(inputs, 3, 0.5) == 0)


def test_informed_gains_respect_the_budget_before_filling(rng: np.random.Generator) -> None:
    inputs = _gain_inputs(rng, 120, 120, 30, 1e-3)
    gains = _check_gains(inputs, 3, 0.0)
    used = (gains.astype(np.float64) ** 2 * inputs["slot_power"]).sum(axis=1)
    assert np.all(used <= inputs["frame_budget"] * (1 + 1e-4))


def test_informed_gains_spend_nothing_on_groups_already_past_target(
    rng: np.random.Generator,
) -> None:
    inputs = _gain_inputs(rng, 60, 120, 20, 1e-1)
    inputs["features"] = (inputs["signs"] * 0.5).astype(np.float32)  # the host already agrees
    assert np.all(_check_gains(inputs, 3, 0.0) == 0)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(("first_bin", "available"), [(6, 161), (6, 81), (6, 4)])
def test_band_delta_matches_twin(
    rng: np.random.Generator, channels: int, first_bin: int, available: int
) -> None:
    frames, bins = 25, 120
    spectra = _spectra(rng, (channels, frames, available))
    spectra[:, 4] = 0  # a silent frame
    gains = rng.uniform(0, 0.5, size=(frames, bins)).astype(np.float32)
    gains[rng.random((frames, bins)) < 0.3] = 0.0
    signs = (rng.integers(0, 2, size=(frames, bins)) * 2 - 1).astype(np.float32)
    got = spectral.band_delta(spectra, gains, signs, first_bin)
    expected = naive.band_delta(spectra, gains, signs, first_bin)
    assert got.dtype == np.complex64
    assert got.shape == spectra.shape
    # exp(g) - 1 in float32 is good to a few ulps of X, not of the (small) change itself.
    error = np.abs(got.astype(np.complex128) - expected)
    assert np.all(error <= 2**8 * EPS32 * (np.abs(spectra) + np.abs(expected)))
    # Outside the band, at zero gain and in silence the change is exactly zero.
    assert np.all(got[:, :, :first_bin] == 0)
    assert np.all(got[:, :, first_bin + bins :] == 0)
    assert np.all(got[:, 4] == 0)
    stop = max(0, min(bins, available - first_bin))
    zero = np.broadcast_to(gains[:, :stop] == 0, got[:, :, first_bin : first_bin + stop].shape)
    assert np.all(got[:, :, first_bin : first_bin + stop][zero] == 0)


# --- two channels per complex FFT ----------------------------------------------------------


@pytest.mark.parametrize("channels", [2, 3, 6])
def test_windowed_pairs_match_twin(rng: np.random.Generator, channels: int) -> None:
    length = 441
    samples = rng.uniform(-1, 1, size=(channels, 5 * length)).astype(np.float32)
    starts = np.array([-length - 3, -100, 0, 777, 5 * length - 200, 5 * length + 1], np.int64)
    window = _sqrt_hann(length)
    samples[-1, 700:1300] = 0  # a channel silent over one frame (777..1217)
    got, live = spectral.windowed_pairs(samples, starts, window)
    assert got.dtype == np.complex64
    assert got.shape == ((channels + 1) // 2, starts.size, length)
    expected, expected_live = naive.windowed_pairs(samples, starts, window)
    _close(got, expected)
    np.testing.assert_array_equal(live, expected_live)
    assert not live[-1, 3]
    assert live[0, 3]
    assert not live[:, 0].any()
    assert not live[:, -1].any()
    if channels % 2:
        assert np.all(got[-1].imag == 0)
    energy = spectral.pair_energy(got)
    np.testing.assert_allclose(energy, naive.pair_energy(got), rtol=2**8 * EPS32)
    frames = spectral.windowed_frames(samples, starts, window)
    np.testing.assert_allclose(energy, spectral.frame_energy(frames), rtol=2**8 * EPS32)


@pytest.mark.parametrize("channels", [2, 3])
@pytest.mark.parametrize(("first_bin", "length"), [(6, 882), (6, 441), (6, 160), (6, 10)])
def test_unpaired_band_is_each_channels_real_fft(
    rng: np.random.Generator, channels: int, first_bin: int, length: int
) -> None:
    bins = 120
    frames = rng.uniform(-1, 1, size=(channels, 7, length)).astype(np.float32)
    packed, _ = spectral.windowed_pairs(
        frames.reshape(channels, -1),
        np.arange(7, dtype=np.int64) * length,
        np.ones(length, np.float32),
    )
    spectra = np.fft.fft(packed, axis=-1).astype(np.complex64)
    got = spectral.unpaired_band(spectra, first_bin, bins, channels)
    assert got.dtype == np.complex64
    assert got.shape == (channels, 7, bins)
    expected = naive.unpaired_band(spectra, first_bin, bins, channels)
    _close(got, expected, scale=np.sqrt(length))
    # The same as each channel's own real FFT, bins past the spectrum's end reading zero.
    direct = naive._band(np.fft.rfft(frames.astype(np.float64), axis=-1), first_bin, bins)
    _close(got, direct, scale=np.sqrt(length))


@pytest.mark.parametrize("length", [882, 441, 160])
def test_pair_delta_matches_twin(rng: np.random.Generator, length: int) -> None:
    frames, bins, first_bin = 9, 120, 6
    spectra = np.fft.fft(
        rng.normal(size=(2, frames, length)) + 1j * rng.normal(size=(2, frames, length)), axis=-1
    ).astype(np.complex64)
    gains = rng.uniform(0, 0.5, size=(frames, bins)).astype(np.float32)
    gains[rng.random((frames, bins)) < 0.3] = 0.0
    signs = (rng.integers(0, 2, size=(frames, bins)) * 2 - 1).astype(np.float32)
    got = spectral.pair_delta(spectra, gains, signs, first_bin)
    assert got.dtype == np.complex64
    _close(got, naive.pair_delta(spectra, gains, signs, first_bin), scale=np.sqrt(length))
    # The change's inverse FFT is each channel's change: no leakage between the pair.
    assert np.all(got[:, :, :first_bin] == 0)


@pytest.mark.parametrize("channels", [2, 3])
def test_overlap_add_pairs_matches_twin(rng: np.random.Generator, channels: int) -> None:
    length, count = 320, 1000
    window = _sqrt_hann(length)
    target = rng.uniform(-1, 1, size=(channels, count)).astype(np.float32)
    starts = np.array([-400, -100, 0, 160, 333, count - 200, count - 1, count + 50], np.int64)
    pairs = (channels + 1) // 2
    frames = (
        rng.normal(size=(pairs, starts.size, length))
        + 1j * rng.normal(size=(pairs, starts.size, length))
    ).astype(np.complex64)
    live = rng.random((channels, starts.size)) < 0.7
    before = target.copy()
    expected = naive.overlap_add_pairs(target, frames, starts, window, live)
    spectral.overlap_add_pairs(target, frames, starts, window, live)
    _close(target, expected)
    silent = np.ones(target.shape[1], bool)
    for f in np.nonzero(live[-1])[0]:
        silent[max(0, starts[f]) : max(0, starts[f] + length)] = False
    assert np.array_equal(target[-1, silent], before[-1, silent])


def test_pair_path_equals_one_real_fft_per_channel(rng: np.random.Generator) -> None:
    """Framing, change and overlap-add through pairs give each channel its own real result."""
    length, hop, channels, first_bin = 882, 441, 3, 6
    signal = rng.uniform(-1, 1, size=(channels, 20 * hop)).astype(np.float32)
    window = _sqrt_hann(length)
    starts = np.arange(-hop, signal.shape[1], hop, dtype=np.int64)
    gains = rng.uniform(0, 0.5, size=(starts.size, 120)).astype(np.float32)
    signs = (rng.integers(0, 2, size=gains.shape) * 2 - 1).astype(np.float32)

    pairs, live = spectral.windowed_pairs(signal, starts, window)
    packed = np.fft.fft(pairs, axis=-1)
    paired = np.zeros_like(signal)
    change = spectral.pair_delta(packed.astype(np.complex64), gains, signs, first_bin)
    waves = np.fft.ifft(change, axis=-1).astype(np.complex64)
    spectral.overlap_add_pairs(paired, waves, starts, window, live)

    real = np.fft.rfft(spectral.windowed_frames(signal, starts, window), axis=-1)
    single = np.zeros_like(signal)
    change = spectral.band_delta(real.astype(np.complex64), gains, signs, first_bin)
    waves = np.fft.irfft(change, n=length, axis=-1).astype(np.float32)
    spectral.overlap_add(single, waves, starts, window)
    np.testing.assert_allclose(paired, single, atol=1e-5)
    assert np.abs(single).max() > 0.01
