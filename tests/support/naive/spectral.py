"""Slow NumPy twins of the audio kernels in marking.kernels.spectral.

Each twin says what its kernel computes in the plainest NumPy, in float64, without the
kernel's loop order or shortcuts (prefix sums, early exits). The constants are the kernel
module's own, so a retuned constant moves both sides together.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.spectral import (
    DETREND_BINS,
    DETREND_FRAMES,
    FEATURE_CLIP,
    SILENCE_POWER,
)


def windowed_frames(samples: np.ndarray, starts: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(C, F, m): ``samples[c, start + i] * window[i]``, zero outside the buffer."""
    channels, count = samples.shape
    length = window.shape[0]
    out = np.zeros((channels, len(starts), length))
    for f, start in enumerate(np.asarray(starts, dtype=np.int64)):
        index = start + np.arange(length)
        inside = (index >= 0) & (index < count)
        out[:, f, inside] = samples[:, index[inside]] * window[inside]
    return out


def frame_energy(frames: np.ndarray) -> np.ndarray:
    """(F,): sum of squares of each frame over channels and samples."""
    return (frames.astype(np.float64) ** 2).sum(axis=(0, 2))


def _band(spectra: np.ndarray, first_bin: int, bins: int) -> np.ndarray:
    """(C, F, bins) complex128: bins ``first_bin ..``, zero at or above the spectrum's end."""
    channels, frames, available = spectra.shape
    out = np.zeros((channels, frames, bins), dtype=np.complex128)
    stop = max(0, min(bins, available - first_bin))
    out[:, :, :stop] = spectra[:, :, first_bin : first_bin + stop]
    return out


def mono_band_power(spectra: np.ndarray, first_bin: int, bins: int, scale: float) -> np.ndarray:
    """(F, bins): ``|mean over channels|**2 * scale`` in the band."""
    return np.abs(_band(spectra, first_bin, bins).mean(axis=0)) ** 2 * scale


def channel_power(spectra: np.ndarray, first_bin: int, bins: int) -> np.ndarray:
    """(F, bins): ``|X|**2`` summed over channels in the band."""
    return (np.abs(_band(spectra, first_bin, bins)) ** 2).sum(axis=0)


def detrended_features(power: np.ndarray, live_bins: int) -> np.ndarray:
    """(F, B): clipped log power minus its mean over the (frames x bins) box around it.

    Only the first ``live_bins`` bins count, frames whose mean power over them is below
    SILENCE_POWER are silent (0, and left out of their neighbours' boxes).
    """
    return boxed_features(power, live_bins, DETREND_FRAMES, DETREND_BINS)


def boxed_features(power: np.ndarray, live_bins: int, box_frames: int, box_bins: int) -> np.ndarray:
    """:func:`detrended_features` over a box of ``box_frames`` and ``box_bins`` either way."""
    frames, bins = power.shape
    live = min(live_bins, bins)
    out = np.zeros((frames, bins))
    if live <= 0:
        return out
    band = power[:, :live].astype(np.float64)
    mean = band.mean(axis=1)
    silent = mean < SILENCE_POWER
    logp = np.log(band + 1e-4 * mean[:, None] + 1e-20)
    for f in range(frames):
        if silent[f]:
            continue
        near = [
            g
            for g in range(f - box_frames, f + box_frames + 1)
            if 0 <= g < frames and not silent[g]
        ]
        for b in range(live):
            box = logp[near, max(0, b - box_bins) : b + box_bins + 1]
            out[f, b] = np.clip(logp[f, b] - box.mean(), -FEATURE_CLIP, FEATURE_CLIP)
    return out


def resample_grid(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(F, B): ``values`` at fractional (row, col) by bilinear interpolation; 0 outside."""
    count, width = values.shape
    grid = values.astype(np.float64)
    out = np.zeros((len(rows), len(cols)))
    for f, r in enumerate(rows):
        for b, c in enumerate(cols):
            if not (0 <= r <= count - 1 and 0 <= c <= width - 1):
                continue
            i, k = int(np.floor(r)), int(np.floor(c))
            u, v = r - i, c - k
            i2, k2 = min(i + 1, count - 1), min(k + 1, width - 1)
            out[f, b] = (
                (1 - u) * (1 - v) * grid[i, k]
                + (1 - u) * v * grid[i, k2]
                + u * (1 - v) * grid[i2, k]
                + u * v * grid[i2, k2]
            )
    return out


def informed_gains(
    features: np.ndarray,
    signs: np.ndarray,
    groups: np.ndarray,
    response: np.ndarray,
    slot_weight: np.ndarray,
    slot_power: np.ndarray,
    frame_budget: np.ndarray,
    target: float,
    gain_max: float,
    rounds: int,
    fill: float,
) -> np.ndarray:
    """(F, B) gains: each group's level times the slot weight, capped, under the frame budgets.

    A group's wanted level is its shortfall of mean ``sign * feature`` below ``target``
    divided by its response (over frames with a budget). Each round caps the slot gains at
    ``gain_max``, scales frames over budget down to it, and raises the level of groups that
    fell short (by goal / achieved, at most 4 x gain_max). Then frames using under ``fill``
    of their budget are scaled up towards it (at most 2x, still capped).
    """
    group_count = response.shape[0]
    active = frame_budget > 0
    carries = groups >= 0
    counted = carries & active[:, None]
    owner = np.where(carries, groups, 0)
    host = np.bincount(
        groups[counted],
        weights=(signs * features)[counted].astype(np.float64),
        minlength=group_count,
    )
    count = np.bincount(groups[counted], minlength=group_count).astype(np.float64)
    mean = np.divide(host, count, out=np.zeros(group_count), where=count > 0)
    level = np.maximum(0.0, (target - mean) / response)
    wanted = np.where(count > 0, level, 0.0)
    goal = level * count
    gains = np.zeros(features.shape)
    for round_ in range(rounds):
        raw = np.where(carries, np.minimum(gain_max, wanted[owner] * slot_weight), 0.0)
        used = (raw**2 * slot_power).sum(axis=1)
        over = used > frame_budget
        scale = np.ones_like(used)
        scale[over] = np.sqrt(frame_budget[over] / used[over])
        gains = np.where(active[:, None], raw * scale[:, None], 0.0)
        if round_ == rounds - 1:
            break
        achieved = np.bincount(groups[counted], weights=gains[counted], minlength=group_count)
        short = (count > 0) & (achieved > 0) & (achieved < goal - 1e-9)
        wanted[short] = np.minimum(wanted[short] * goal[short] / achieved[short], 4.0 * gain_max)
    if fill > 0:
        budget = frame_budget * fill
        used = (gains**2 * slot_power).sum(axis=1)
        raise_ = (budget > 0) & (used > 0) & (used < budget)
        scale = np.ones_like(used)
        scale[raise_] = np.minimum(2.0, np.sqrt(budget[raise_] / used[raise_]))
        gains = np.minimum(gain_max, gains * scale[:, None])
    return gains


def band_delta(
    spectra: np.ndarray, gains: np.ndarray, signs: np.ndarray, first_bin: int
) -> np.ndarray:
    """(C, F, K): ``X * (exp(gain * sign) - 1)`` in the band's bins, 0 everywhere else."""
    available = spectra.shape[2]
    bins = gains.shape[1]
    out = np.zeros(spectra.shape, dtype=np.complex128)
    stop = max(0, min(bins, available - first_bin))
    factor = np.expm1(gains[:, :stop].astype(np.float64) * signs[:, :stop])
    out[:, :, first_bin : first_bin + stop] = spectra[:, :, first_bin : first_bin + stop] * factor
    return out


def interleave_sum(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, C): the transposed sum."""
    return (first.astype(np.float64) + second).T


def overlap_add(
    target: np.ndarray, frames: np.ndarray, starts: np.ndarray, window: np.ndarray
) -> np.ndarray:
    """A new (C, N) array: ``target`` plus every frame times ``window`` at its start."""
    count = target.shape[1]
    length = window.shape[0]
    out = target.astype(np.float64)
    for f, start in enumerate(np.asarray(starts, dtype=np.int64)):
        index = start + np.arange(length)
        inside = (index >= 0) & (index < count)
        out[:, index[inside]] += frames[:, f, inside] * window[inside]
    return out


def fold_features(
    fold: np.ndarray, fold_squares: np.ndarray, features: np.ndarray, first_frame: int
) -> tuple[np.ndarray, np.ndarray]:
    """New (P, B) sums and sums of squares with frame ``first_frame + i`` added to its row."""
    period = fold.shape[0]
    rows = (first_frame + np.arange(features.shape[0])) % period
    sums = fold.astype(np.float64)
    squares = fold_squares.astype(np.float64)
    values = features.astype(np.float64)
    np.add.at(sums, rows, values)
    np.add.at(squares, rows, values**2)
    return sums, squares


# --- two channels per complex FFT: defined by what each packed channel gets ----------------


def _pack(frames: np.ndarray) -> np.ndarray:
    """(P, F, m) complex: channel 2p as the real part, 2p + 1 (or zero) as the imaginary."""
    if frames.shape[0] % 2:
        frames = np.concatenate([frames, np.zeros_like(frames[:1])])
    return frames[0::2] + 1j * frames[1::2]


def _unpack(packed: np.ndarray, channels: int) -> np.ndarray:
    """(C, F, m) real: the inverse of :func:`_pack`."""
    both = np.stack([packed.real, packed.imag], axis=1).reshape(-1, *packed.shape[1:])
    return both[:channels]


def windowed_pairs(
    samples: np.ndarray, starts: np.ndarray, window: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(P, F, m) windowed frames packed in pairs; (C, F) whether a channel's frame has sound."""
    ones = np.ones_like(window)
    live = (windowed_frames(samples != 0, starts, ones) != 0).any(axis=2)
    return _pack(windowed_frames(samples, starts, window)), live


def pair_energy(frames: np.ndarray) -> np.ndarray:
    """(F,): sum of squares of each frame over every packed channel."""
    return (np.abs(frames.astype(np.complex128)) ** 2).sum(axis=(0, 2))


def unpaired_band(spectra: np.ndarray, first_bin: int, bins: int, channels: int) -> np.ndarray:
    """(C, F, bins): each channel's real FFT in the band, recovered from the pair spectra."""
    frames = _unpack(np.fft.ifft(spectra.astype(np.complex128), axis=-1), channels)
    return _band(np.fft.rfft(frames, axis=-1), first_bin, bins)


def pair_delta(
    spectra: np.ndarray, gains: np.ndarray, signs: np.ndarray, first_bin: int
) -> np.ndarray:
    """(P, F, m): the pair spectra of each channel's :func:`band_delta` change."""
    length = spectra.shape[2]
    channels = 2 * spectra.shape[0]
    frames = _unpack(np.fft.ifft(spectra.astype(np.complex128), axis=-1), channels)
    change = band_delta(np.fft.rfft(frames, axis=-1), gains, signs, first_bin)
    return np.fft.fft(_pack(np.fft.irfft(change, n=length, axis=-1)), axis=-1)


def overlap_add_pairs(
    target: np.ndarray,
    frames: np.ndarray,
    starts: np.ndarray,
    window: np.ndarray,
    live: np.ndarray,
) -> np.ndarray:
    """A new (C, N) array: :func:`overlap_add` of the unpacked channels' live frames."""
    unpacked = _unpack(frames, target.shape[0]) * live[:, :, None]
    return overlap_add(target, unpacked, starts, window)
