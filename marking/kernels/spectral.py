"""Short-time spectra for the audio watermark: framing, features, gains, overlap-add, folding.

The audio watermark lives on a grid of 20 ms frames every 10 ms with 50 Hz bins, whatever the
sample rate (the speed search also works on a finer one, and reads other playback speeds' grids
from it). These kernels do everything on that grid except the FFT itself, which is
``scipy.fft`` (pocketfft): numba cannot call an FFT, and pocketfft is faster than any FFT we
would write. Every kernel is a pure function on arrays, checked against a NumPy twin in
``tests/support/naive/spectral.py``.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import FASTMATH, kernel

#: Features are clipped to this many nats, so a transient or a spectral hole cannot dominate.
FEATURE_CLIP = 2.5

#: Frames whose mean band power is below this are silent: no feature, no mark.
SILENCE_POWER = 1e-11

#: Half-size of the local-mean box that removes the host from the log spectrum (frames, bins).
DETREND_FRAMES = 2
DETREND_BINS = 3


@kernel(cache=True, fastmath=FASTMATH)
def windowed_frames(samples: np.ndarray, starts: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Frames ``samples[c, start : start + len(window)] * window``: (C, F, m) float32.

    ``samples`` is channel-major (C, N); samples outside ``0..N-1`` read as zero, so frames may
    hang over either end of the buffer.
    """
    channels, count = samples.shape
    length = window.shape[0]
    out = np.empty((channels, starts.shape[0], length), dtype=np.float32)
    for c in range(channels):
        for f in range(starts.shape[0]):
            start = starts[f]
            first = min(length, max(0, -start))
            last = max(first, min(length, count - start))
            out[c, f, :first] = 0.0
            out[c, f, last:] = 0.0
            row = samples[c, start + first : start + last]
            out[c, f, first:last] = row * window[first:last]
    return out


@kernel(cache=True, fastmath=FASTMATH)
def frame_energy(frames: np.ndarray) -> np.ndarray:
    """Sum of squares of each frame over all channels: (F,) float64 (Parseval's total power)."""
    channels, count, length = frames.shape
    out = np.zeros(count, dtype=np.float64)
    for c in range(channels):
        for f in range(count):
            s = np.float32(0.0)
            for i in range(length):
                s += frames[c, f, i] * frames[c, f, i]
            out[f] += s
    return out


@kernel(cache=True, fastmath=FASTMATH)
def mono_band_power(spectra: np.ndarray, first_bin: int, bins: int, scale: float) -> np.ndarray:
    """Power of the channel mean in ``bins`` bins from ``first_bin``: (F, bins) float32.

    ``spectra`` is (C, F, K) complex; bins at or above K read as zero power.
    """
    channels, frames, available = spectra.shape
    out = np.zeros((frames, bins), dtype=np.float32)
    inv = 1.0 / channels
    for f in range(frames):
        for b in range(bins):
            k = first_bin + b
            if k >= available:
                break
            re = 0.0
            im = 0.0
            for c in range(channels):
                re += spectra[c, f, k].real
                im += spectra[c, f, k].imag
            re *= inv
            im *= inv
            out[f, b] = (re * re + im * im) * scale
    return out


@kernel(cache=True, fastmath=FASTMATH)
def detrended_features(power: np.ndarray, live_bins: int) -> np.ndarray:
    """Log band power minus its local mean, clipped: the host cancels, the mark stays.

    ``power`` is (F, B). Only the first ``live_bins`` bins count (the rest are above the
    signal's band and read as 0). The local mean is taken over a box of
    ``2*DETREND_FRAMES+1`` frames by ``2*DETREND_BINS+1`` bins, shrunk at the edges. Silent
    frames (mean power below ``SILENCE_POWER``) give 0 and do not enter their neighbours' mean.
    """
    return boxed_features(power, live_bins, DETREND_FRAMES, DETREND_BINS)


@kernel(cache=True, fastmath=FASTMATH)
def boxed_features(power: np.ndarray, live_bins: int, box_frames: int, box_bins: int) -> np.ndarray:
    """:func:`detrended_features` with a box of ``2*box_frames+1`` by ``2*box_bins+1``.

    For a grid finer than the watermark's (the speed search's one spectrogram), where the same
    span of time and frequency is more frames and bins.
    """
    frames, bins = power.shape
    live = min(live_bins, bins)
    out = np.zeros((frames, bins), dtype=np.float32)
    if live <= 0:
        return out
    logp = np.zeros((frames, live), dtype=np.float32)
    silent = np.zeros(frames, dtype=np.bool_)
    for f in range(frames):
        mean = 0.0
        for b in range(live):
            mean += power[f, b]
        mean = mean / live
        if mean < SILENCE_POWER:
            silent[f] = True
            continue
        floor = np.float32(1e-4 * mean + 1e-20)
        for b in range(live):
            logp[f, b] = np.log(power[f, b] + floor)
    # Box sums along bins (prefix sums), then along frames, counting only non-silent frames.
    width = np.empty(live, dtype=np.float32)
    for b in range(live):
        width[b] = min(live, b + box_bins + 1) - max(0, b - box_bins)
    rows = np.zeros((frames, live), dtype=np.float32)
    prefix = np.zeros(live + 1, dtype=np.float32)
    for f in range(frames):
        if silent[f]:
            continue
        for b in range(live):
            prefix[b + 1] = prefix[b] + logp[f, b]
        for b in range(live):
            rows[f, b] = prefix[min(live, b + box_bins + 1)] - prefix[max(0, b - box_bins)]
    total = np.zeros(live, dtype=np.float32)
    for f in range(frames):
        if silent[f]:
            continue
        total[:] = 0.0
        cells = 0
        for g in range(max(0, f - box_frames), min(frames, f + box_frames + 1)):
            if silent[g]:
                continue
            cells += 1
            for b in range(live):
                total[b] += rows[g, b]
        for b in range(live):
            value = logp[f, b] - total[b] / (cells * width[b])
            out[f, b] = min(max(value, -FEATURE_CLIP), FEATURE_CLIP)
    return out


@kernel(cache=True, fastmath=FASTMATH)
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
    """Per-slot gains that lift every group's mean of ``sign * feature`` to ``target``.

    Informed embedding: a group (one coded bit's slots in one segment) whose host already
    leans the right way needs little gain; one the host works against needs more. A slot's
    gain is its group's level times ``slot_weight`` (quiet slots cost less of the budget, so
    they get more); the mark moves a slot's feature by about
    ``response[group] * gain * sign``. A frame's mark power, the sum of
    ``gain**2 * slot_power`` over its slots, may not exceed ``frame_budget`` (the masking
    budget); frames over it are scaled down, and each round re-spreads a group's shortfall
    over its other slots. Finally, frames using less than ``fill`` of their budget
    are scaled up towards it (at most 2x): spare room goes into margin. ``signs`` is +1/-1,
    ``groups`` is -1 for slots that carry nothing. Returns (F, B) float32 gains in
    ``[0, gain_max]``.
    """
    frames, bins = features.shape
    group_count = response.shape[0]
    host = np.zeros(group_count, dtype=np.float64)
    count = np.zeros(group_count, dtype=np.float64)
    for f in range(frames):
        if frame_budget[f] <= 0.0:
            continue
        for b in range(bins):
            g = groups[f, b]
            if g >= 0:
                host[g] += signs[f, b] * features[f, b]
                count[g] += 1.0
    wanted = np.zeros(group_count, dtype=np.float64)
    for g in range(group_count):
        if count[g] > 0:
            wanted[g] = max(0.0, (target - host[g] / count[g]) / response[g])
    gains = np.zeros((frames, bins), dtype=np.float32)
    for round_ in range(rounds):
        achieved = np.zeros(group_count, dtype=np.float64)
        for f in range(frames):
            budget = frame_budget[f]
            if budget <= 0.0:
                continue
            used = 0.0
            for b in range(bins):
                g = groups[f, b]
                value = min(gain_max, wanted[g] * slot_weight[f, b]) if g >= 0 else 0.0
                gains[f, b] = value
                used += value * value * slot_power[f, b]
            scale = 1.0
            if used > budget:
                scale = np.sqrt(budget / used)
            for b in range(bins):
                g = groups[f, b]
                if g < 0:
                    continue
                gains[f, b] *= scale
                achieved[g] += gains[f, b]
        if round_ == rounds - 1:
            break
        for g in range(group_count):
            if count[g] == 0:
                continue
            goal = max(0.0, (target - host[g] / count[g]) / response[g]) * count[g]
            if achieved[g] < goal - 1e-9 and achieved[g] > 0:
                wanted[g] = min(wanted[g] * goal / achieved[g], 4.0 * gain_max)
    if fill > 0.0:
        for f in range(frames):
            budget = frame_budget[f] * fill
            if budget <= 0.0:
                continue
            used = 0.0
            for b in range(bins):
                used += gains[f, b] * gains[f, b] * slot_power[f, b]
            if used <= 0.0 or used >= budget:
                continue
            scale = min(2.0, np.sqrt(budget / used))
            for b in range(bins):
                gains[f, b] = min(gain_max, gains[f, b] * scale)
    return gains


@kernel(cache=True, fastmath=FASTMATH)
def band_delta(
    spectra: np.ndarray, gains: np.ndarray, signs: np.ndarray, first_bin: int
) -> np.ndarray:
    """The change to each spectrum: ``X * (exp(gain * sign) - 1)`` in the band, 0 elsewhere.

    ``spectra`` is (C, F, K) complex64, ``gains`` and ``signs`` (F, B). Multiplying by a real
    factor keeps every bin's phase, and a silent bin stays exactly silent.
    """
    channels, frames, available = spectra.shape
    bins = gains.shape[1]
    out = np.zeros((channels, frames, available), dtype=np.complex64)
    for f in range(frames):
        for b in range(bins):
            k = first_bin + b
            if k >= available:
                break
            g = gains[f, b]
            if g == 0.0:
                continue
            # In float64, so a tiny gain keeps its relative precision.
            factor = np.float32(np.exp(np.float64(g) * signs[f, b]) - 1.0)
            for c in range(channels):
                out[c, f, k] = spectra[c, f, k] * factor
    return out


@kernel(cache=True, fastmath=FASTMATH)
def interleave_sum(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``(first + second).T`` as a contiguous (N, C) float32 array, in one pass."""
    channels, count = first.shape
    out = np.empty((count, channels), dtype=np.float32)
    for i in range(count):
        for c in range(channels):
            out[i, c] = first[c, i] + second[c, i]
    return out


@kernel(cache=True, fastmath=FASTMATH)
def overlap_add(
    target: np.ndarray, frames: np.ndarray, starts: np.ndarray, window: np.ndarray
) -> None:
    """Add each frame times ``window`` into ``target`` (C, N) at its start, in place.

    ``frames`` is (C, F, m); parts falling outside ``0..N-1`` are dropped.
    """
    channels, count = target.shape
    length = window.shape[0]
    for c in range(channels):
        for f in range(starts.shape[0]):
            start = starts[f]
            first = min(length, max(0, -start))
            last = max(first, min(length, count - start))
            target[c, start + first : start + last] += frames[c, f, first:last] * window[first:last]


@kernel(cache=True, fastmath=FASTMATH)
def fold_features(
    fold: np.ndarray, fold_squares: np.ndarray, features: np.ndarray, first_frame: int
) -> None:
    """Add frame ``first_frame + i`` of ``features`` onto row ``(first_frame + i) % P``.

    ``fold`` and ``fold_squares`` are (P, B) float64 accumulators (sums and sums of squares),
    updated in place: the periodic mark adds up coherently, the host does not.
    """
    period = fold.shape[0]
    frames, bins = features.shape
    for i in range(frames):
        row = (first_frame + i) % period
        for b in range(bins):
            v = features[i, b]
            fold[row, b] += v
            fold_squares[row, b] += v * v


@kernel(cache=True, fastmath=FASTMATH)
def resample_grid(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``values`` (T, K) read at fractional ``rows`` (F,) and ``cols`` (B,): (F, B) float32.

    Bilinear interpolation between the four neighbouring cells. A position before the first
    cell or after the last (a negative column marks one as unwanted) reads as 0. The speed
    search reads each playback speed's features from one fine spectrogram this way, rows and
    columns stretched by the speed.
    """
    count, width = values.shape
    out = np.zeros((rows.shape[0], cols.shape[0]), dtype=np.float32)
    # Where each column reads (the same on every row), worked out once.
    used = np.zeros(cols.shape[0], dtype=np.bool_)
    left = np.zeros(cols.shape[0], dtype=np.int64)
    right = np.zeros(cols.shape[0], dtype=np.int64)
    across = np.zeros(cols.shape[0], dtype=np.float32)
    for b in range(cols.shape[0]):
        c = cols[b]
        if 0.0 <= c <= width - 1:
            used[b] = True
            left[b] = min(int(c), width - 1)
            right[b] = min(left[b] + 1, width - 1)
            across[b] = c - left[b]
    for f in range(rows.shape[0]):
        r = rows[f]
        if not (0.0 <= r <= count - 1):
            continue
        i = min(int(r), count - 1)
        below = min(i + 1, count - 1)
        u = np.float32(r - i)
        for b in range(cols.shape[0]):
            if not used[b]:
                continue
            k = left[b]
            v = across[b]
            top = values[i, k] + v * (values[i, right[b]] - values[i, k])
            bottom = values[below, k] + v * (values[below, right[b]] - values[below, k])
            out[f, b] = top + u * (bottom - top)
    return out


@kernel(cache=True, fastmath=FASTMATH)
def channel_power(spectra: np.ndarray, first_bin: int, bins: int) -> np.ndarray:
    """Band power summed over channels per slot: (F, bins) float32.

    ``spectra`` is (C, F, K) complex; bins at or above K read as zero. The masking budget
    weighs what the mark adds to each slot by this power.
    """
    channels, frames, available = spectra.shape
    slots = np.zeros((frames, bins), dtype=np.float32)
    stop = min(bins, available - first_bin)
    for c in range(channels):
        for f in range(frames):
            for b in range(stop):
                x = spectra[c, f, first_bin + b]
                slots[f, b] += x.real * x.real + x.imag * x.imag
    return slots


# --- two channels per complex FFT ------------------------------------------------------------
# A real FFT per channel costs about as much as a complex FFT of a pair of channels packed as
# ``left + i * right``; unpacking the pair's spectrum and packing the change back are cheap,
# so multichannel audio goes through complex FFTs of channel pairs (about 15 % less FFT work).


@kernel(cache=True, fastmath=FASTMATH)
def windowed_pairs(samples: np.ndarray, starts: np.ndarray, window: np.ndarray) -> tuple:
    """Windowed frames of channel pairs packed as ``c[2p] + i * c[2p+1]``, and which are live.

    ``samples`` is channel-major (C, N); P = ceil(C / 2), and an odd last channel gets a zero
    imaginary part. Samples outside ``0..N-1`` read as zero. Returns the (P, F, m) complex64
    frames and a (C, F) bool array: True where the channel has a non-zero sample in the frame
    (rounding in a pair's FFT leaks a hair of one channel into the other, so a silent channel
    must be told to stay out of the overlap-add).
    """
    channels, count = samples.shape
    pairs = (channels + 1) // 2
    length = window.shape[0]
    out = np.zeros((pairs, starts.shape[0], length), dtype=np.complex64)
    live = np.zeros((channels, starts.shape[0]), dtype=np.bool_)
    for p in range(pairs):
        second = 2 * p + 1 < channels
        for f in range(starts.shape[0]):
            start = starts[f]
            first = min(length, max(0, -start))
            last = max(first, min(length, count - start))
            for i in range(first, last):
                a = samples[2 * p, start + i]
                b = samples[2 * p + 1, start + i] if second else np.float32(0.0)
                if a != 0.0:
                    live[2 * p, f] = True
                if b != 0.0:
                    live[2 * p + 1, f] = True
                out[p, f, i] = complex(a * window[i], b * window[i])
    return out, live


@kernel(cache=True, fastmath=FASTMATH)
def pair_energy(frames: np.ndarray) -> np.ndarray:
    """Sum of squares of each frame over all packed channels: (F,) float64."""
    pairs, count, length = frames.shape
    out = np.zeros(count, dtype=np.float64)
    for p in range(pairs):
        for f in range(count):
            s = np.float32(0.0)
            for i in range(length):
                x = frames[p, f, i]
                s += x.real * x.real + x.imag * x.imag
            out[f] += s
    return out


@kernel(cache=True, fastmath=FASTMATH)
def unpaired_band(spectra: np.ndarray, first_bin: int, bins: int, channels: int) -> np.ndarray:
    """Each channel's spectrum in ``bins`` bins from ``first_bin``, from packed pair spectra.

    ``spectra`` is the complex FFT (P, F, m) of :func:`windowed_pairs` frames. For real a and b
    packed as z = a + ib: A[k] = (Z[k] + conj Z[m-k]) / 2, B[k] = (Z[k] - conj Z[m-k]) / 2i.
    Returns (C, F, bins) complex64, equal to the real FFT of each channel; bins above m/2 are 0.
    """
    pairs, frames, length = spectra.shape
    out = np.zeros((channels, frames, bins), dtype=np.complex64)
    half = length // 2
    for p in range(pairs):
        second = 2 * p + 1 < channels
        for f in range(frames):
            for b in range(bins):
                k = first_bin + b
                if k > half:
                    break
                z = spectra[p, f, k]
                mirror = np.conj(spectra[p, f, (length - k) % length])
                out[2 * p, f, b] = (z + mirror) * np.float32(0.5)
                if second:
                    out[2 * p + 1, f, b] = (z - mirror) * np.complex64(-0.5j)
    return out


@kernel(cache=True, fastmath=FASTMATH)
def pair_delta(
    spectra: np.ndarray, gains: np.ndarray, signs: np.ndarray, first_bin: int
) -> np.ndarray:
    """The change to packed pair spectra: bins k and m-k times ``exp(gain * sign) - 1``.

    Scaling both mirror bins by the same real factor scales each packed channel's own
    spectrum by it, so the inverse FFT gives both channels' changes (real and imaginary part).
    ``spectra`` is (P, F, m) complex64, ``gains`` and ``signs`` (F, B); returns (P, F, m).
    """
    pairs, frames, length = spectra.shape
    bins = gains.shape[1]
    out = np.zeros((pairs, frames, length), dtype=np.complex64)
    half = length // 2
    for f in range(frames):
        for b in range(bins):
            k = first_bin + b
            if k > half:
                break
            g = gains[f, b]
            if g == 0.0:
                continue
            factor = np.float32(np.exp(np.float64(g) * signs[f, b]) - 1.0)
            mirror = (length - k) % length
            for p in range(pairs):
                out[p, f, k] = spectra[p, f, k] * factor
                if mirror != k:
                    out[p, f, mirror] = spectra[p, f, mirror] * factor
    return out


@kernel(cache=True, fastmath=FASTMATH)
def overlap_add_pairs(
    target: np.ndarray, frames: np.ndarray, starts: np.ndarray, window: np.ndarray, live: np.ndarray
) -> None:
    """Add packed pair frames times ``window`` into ``target`` (C, N), in place.

    ``frames`` is (P, F, m) complex: the real part goes to channel 2p, the imaginary part to
    channel 2p + 1 (when there is one), but only where ``live`` (C, F) says that channel had
    sound in that frame. Parts outside ``0..N-1`` are dropped.
    """
    channels, count = target.shape
    length = window.shape[0]
    for p in range(frames.shape[0]):
        for f in range(starts.shape[0]):
            start = starts[f]
            first = min(length, max(0, -start))
            last = max(first, min(length, count - start))
            if live[2 * p, f]:
                for i in range(first, last):
                    target[2 * p, start + i] += frames[p, f, i].real * window[i]
            if 2 * p + 1 < channels and live[2 * p + 1, f]:
                for i in range(first, last):
                    target[2 * p + 1, start + i] += frames[p, f, i].imag * window[i]
