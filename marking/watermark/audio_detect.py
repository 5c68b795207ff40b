"""Detecting the audio watermark blindly: fold any excerpt onto one period, sync, decode.

The pattern repeats every 10 s, so the detector folds the input onto one period, finds the phase
by correlating with the reference, decodes, and checks the CRC; if nothing is found it searches
playback speeds from 0.8 to 1.25, tempos from 0.9 to 1.1 and pitch shifts of +-2 semitones
(:mod:`marking.watermark.audio_search`). See :mod:`marking.watermark.audio` for the whole
scheme.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft

from marking.kernels.spectral import (
    detrended_features,
    fold_features,
    mono_band_power,
    windowed_frames,
)
from marking.scheme.keys import Key
from marking.scheme.limits import FALSE_ALARM_LIMIT
from marking.scheme.payload import (
    CHECK_BITS,
    CODED_BITS,
    decode_payload,
)
from marking.scheme.results import AudioDetection
from marking.watermark.audio_layout import (
    BANDS,
    FIRST_BIN,
    FRAMES_PER_SECOND,
    PERIOD,
    AudioLayout,
    analysis_window,
    audio_layout,
    check_rate,
    frame_length,
    live_bins,
)

#: The detector works at the input rate divided by an integer, keeping at least this rate.
DETECT_MIN_RATE = 16000
#: Sub-hop offsets tried per frame grid (2.5 ms apart).
SUB_OFFSETS = 4
#: Decode attempts at the best sync peaks.
DECODE_ATTEMPTS = 3
#: Sync score a peak needs before a decode is tried.
SYNC_GATE = 4.0
#: Shortest input the detector accepts (seconds).
MIN_DETECT_SECONDS = 1.0


# --- detection -----------------------------------------------------------------------------


def _normal_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _decimation(rate: int) -> int:
    return max(1, rate // DETECT_MIN_RATE)


class _Decimator:
    """Mono downmix, anti-alias lowpass and integer decimation, with state across chunks."""

    def __init__(self, rate: int) -> None:
        from scipy.signal import butter, sosfilt_zi

        self.factor = _decimation(rate)
        self.rate_out = rate / self.factor
        self._phase = 0
        if self.factor > 1:
            self._sos = butter(8, 0.45 * self.rate_out, fs=rate, output="sos")
            self._zi = sosfilt_zi(self._sos) * 0.0
        else:
            self._sos = None

    def __call__(self, block: np.ndarray) -> np.ndarray:
        from scipy.signal import sosfilt

        mono = block.mean(axis=1, dtype=np.float64) if block.ndim == 2 else block
        mono = np.asarray(mono, dtype=np.float64)
        if self._sos is None:
            return mono.astype(np.float32)
        filtered, self._zi = sosfilt(self._sos, mono, zi=self._zi)
        first = (-self._phase) % self.factor
        out = filtered[first :: self.factor]
        self._phase = (self._phase + mono.shape[0]) % self.factor
        return out.astype(np.float32)


@dataclass
class FrameGrid:
    """Frame grid of one hypothesis: speed and sub-hop offset, at the detection rate.

    ``speed`` scales time (the hop) and ``pitch`` frequency (the frame length, so the bins):
    a playback-speed change moves both alike (``pitch`` None), a tempo change only time
    (``pitch`` 1), a pitch shift only frequency (``speed`` 1).
    """

    speed: float
    offset: int  # sub-hop offset index 0..SUB_OFFSETS-1
    rate: float
    pitch: float | None = None

    @property
    def frequency(self) -> float:
        """The factor the mark's frequencies are scaled by."""
        return self.speed if self.pitch is None else self.pitch

    @property
    def length(self) -> int:
        return frame_length(self.rate / self.frequency)

    def centre(self, frame: np.ndarray | float) -> np.ndarray | float:
        hop = self.rate / FRAMES_PER_SECOND
        return (np.asarray(frame) + self.offset / SUB_OFFSETS) * hop / self.speed

    def starts(self, first: int, count: int) -> np.ndarray:
        centres = self.centre(np.arange(first, first + count, dtype=np.float64))
        return np.floor(centres + 0.5).astype(np.int64) - self.length // 2

    def frames_within(self, samples: int) -> int:
        """Frames whose window ends inside ``samples`` samples."""
        hop = self.rate / FRAMES_PER_SECOND / self.speed
        count = max(0, int((samples - self.length / 2) / hop - self.offset / SUB_OFFSETS) + 1)
        # The estimate ignores rounding of the starts: trim to frames that really fit.
        while count > 0 and self.starts(count - 1, 1)[0] + self.length > samples:
            count -= 1
        return count


#: Frames per FFT call when computing band power (bounds the spectra held at once).
POWER_BLOCK = 512


def band_power(
    mono: np.ndarray, starts: np.ndarray, length: int, first_bin: int, bins: int, size: int
) -> np.ndarray:
    """Power in ``bins`` FFT bins from ``first_bin`` of each sqrt-Hann frame at ``starts``.

    Each frame of ``length`` samples is zero-padded to ``size`` for its FFT. (F, bins) float32,
    computed a block of frames at a time so the complex spectra stay small.
    """
    window = analysis_window(length)
    scale = 1.0 / float(np.sum(window.astype(np.float64) ** 2))
    power = np.empty((starts.shape[0], bins), dtype=np.float32)
    for first in range(0, starts.shape[0], POWER_BLOCK):
        block = starts[first : first + POWER_BLOCK]
        frames = windowed_frames(mono[None, :], block, window)
        spectra = scipy.fft.rfft(frames, n=size, axis=-1, workers=1).astype(
            np.complex64, copy=False
        )
        power[first : first + block.shape[0]] = mono_band_power(spectra, first_bin, bins, scale)
    return power


def _features(mono: np.ndarray, starts: np.ndarray, length: int, rate: float) -> np.ndarray:
    power = band_power(mono, starts, length, FIRST_BIN, BANDS, length)
    return detrended_features(power, live_bins(rate))


class FrameFold:
    """Folded features of one grid, accumulated block by block."""

    def __init__(self, grid: FrameGrid) -> None:
        self.grid = grid
        self.sums = np.zeros((PERIOD, BANDS), dtype=np.float64)
        self.squares = np.zeros((PERIOD, BANDS), dtype=np.float64)
        self.done = 0  # frames folded so far

    def advance(self, mono: np.ndarray, mono_start: int, received: int, final: bool) -> None:
        """Fold every frame (with its two-frame neighbourhood) that ``mono`` now covers.

        ``mono`` holds samples ``mono_start .. received - 1`` (absolute indices).
        """
        grid = self.grid
        ready = grid.frames_within(received)
        stop = ready if final else ready - 2
        if stop <= self.done:
            return
        first = max(0, self.done - 2)
        last = min(ready, stop + 2)
        starts = grid.starts(first, last - first) - mono_start
        features = _features(mono, starts, grid.length, grid.rate / grid.frequency)
        keep = features[self.done - first : stop - first]
        fold_features(self.sums, self.squares, keep, self.done)
        self.done = stop

    def needed_from(self) -> int:
        """First sample (absolute) the next :meth:`advance` will read."""
        return int(self.grid.starts(max(0, self.done - 2), 1)[0])


@dataclass
class SyncPeak:
    score: float
    shift: int
    fold: FrameFold


def sync_scores(fold: FrameFold, layout: AudioLayout) -> np.ndarray:
    """Reference correlation z-score for every circular shift of the fold.

    Row r of the fold holds pattern row r + k for shift k, so the score is the circular
    cross-correlation of the reference with the fold, normalised by its standard deviation
    under "no mark" (random reference chips against these features). That variance barely
    changes with the shift, so its average over shifts is used: per bin, the reference's
    density times the sum of squared features.
    """
    # Bins above what the grid's rate carries hold zeros: leave them out of the FFTs.
    live = live_bins(fold.grid.rate / fold.grid.frequency)
    return sync_of(fold.sums[:, :live], fold.squares[:, :live].sum(axis=0), layout)


def sync_of(sums: np.ndarray, squares: np.ndarray, layout: AudioLayout) -> np.ndarray:
    """:func:`sync_scores` of a fold's first bins: ``sums`` (at most PERIOD rows; missing rows
    are zero) and the per-bin totals of squared features ``squares``."""
    live = sums.shape[1]
    spectra = scipy.fft.rfft(sums.astype(np.float32, copy=False), n=PERIOD, axis=0, workers=1)
    spectrum = layout.reference_spectrum[:, :live]
    score = scipy.fft.irfft((spectrum * np.conj(spectra)).sum(axis=1), n=PERIOD)
    variance = float(layout.reference_density[:live] @ squares)
    return score / math.sqrt(max(variance, 1e-12))


def _soft_bits(fold: FrameFold, layout: AudioLayout, shift: int) -> np.ndarray:
    rows = (layout.bit_rows - shift) % PERIOD
    values = fold.sums[rows, layout.bit_cols] * layout.chips[layout.bit_rows, layout.bit_cols]
    soft = np.bincount(layout.bit_owner, weights=values, minlength=CODED_BITS)
    spread = float(np.std(soft))
    return (soft / spread if spread > 0 else soft).astype(np.float32)


class AudioDetector:
    """Streaming detector: push chunks, then :meth:`result`. Memory stays constant.

    Folds the whole stream at normal speed; keeps the first ``speed_search_seconds`` to try
    other playback speeds if nothing is found at normal speed.
    """

    def __init__(
        self,
        *,
        rate: int,
        key: Key | str | bytes | None = None,
        speed_search: bool = True,
        speed_search_seconds: float = 30.0,
    ) -> None:
        self.rate = check_rate(rate)
        self._layout = audio_layout(key)
        self._decimate = _Decimator(self.rate)
        rate_out = self._decimate.rate_out
        self._folds = [FrameFold(FrameGrid(1.0, o, rate_out)) for o in range(SUB_OFFSETS)]
        self._mono = np.zeros(0, dtype=np.float32)
        self._mono_start = 0
        self._received = 0  # decimated samples
        self._speed_search = speed_search
        self._keep = int(speed_search_seconds * rate_out) if speed_search else 0
        self._head: list[np.ndarray] = []
        self._head_size = 0
        self._input_samples = 0

    def push(self, chunk: np.ndarray) -> None:
        """Add samples (n,) or (n, channels), float in [-1, 1]."""
        array = np.asarray(chunk)
        if array.dtype.kind != "f":
            raise TypeError(f"samples must be floating point in [-1, 1], got {array.dtype}")
        if array.ndim not in (1, 2) or array.shape[0] == 0:
            if array.ndim in (1, 2):
                return
            raise ValueError(f"expected samples of shape (n,) or (n, channels), got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("samples must be finite (found NaN or infinity)")
        self._input_samples += array.shape[0]
        mono = self._decimate(array)
        if self._head_size < self._keep:
            piece = mono[: self._keep - self._head_size]
            self._head.append(piece)
            self._head_size += piece.shape[0]
        self._mono = np.concatenate([self._mono, mono])
        self._received += mono.shape[0]
        self._advance(final=False)

    def _advance(self, final: bool) -> None:
        for fold in self._folds:
            fold.advance(self._mono, self._mono_start, self._received, final)
        keep_from = min(fold.needed_from() for fold in self._folds) - 1
        drop = keep_from - self._mono_start
        if drop > 0:
            self._mono = self._mono[drop:]
            self._mono_start = keep_from

    def result(self) -> AudioDetection:
        """Finish the stream and report."""
        self._advance(final=True)
        seconds = self._input_samples / self.rate
        layout = self._layout
        peaks = _best_peaks(self._folds, layout)
        hypotheses = PERIOD * SUB_OFFSETS
        found = _decode_peaks(peaks, layout, hypotheses, self._decimate.rate_out, seconds)
        if found is not None or not self._speed_search:
            return found or _nothing(peaks, hypotheses, seconds)
        head = np.concatenate(self._head) if self._head else np.zeros(0, np.float32)
        # Imported here: the search builds on this module's grids and folds.
        from marking.watermark.audio_search import speed_search

        speed_peaks, speed_hypotheses = speed_search(head, self._decimate.rate_out, layout)
        hypotheses += speed_hypotheses
        found = _decode_peaks(speed_peaks, layout, hypotheses, self._decimate.rate_out, seconds)
        if found is not None:
            return found
        return _nothing(sorted(peaks + speed_peaks, key=lambda p: -p.score), hypotheses, seconds)


def _best_peaks(folds: list[FrameFold], layout: AudioLayout) -> list[SyncPeak]:
    peaks = []
    for fold in folds:
        if fold.done == 0:
            continue
        z = sync_scores(fold, layout)
        peaks.extend(SyncPeak(float(z[s]), int(s), fold) for s in np.argsort(z)[-DECODE_ATTEMPTS:])
    peaks.sort(key=lambda p: -p.score)
    return peaks[:DECODE_ATTEMPTS]


def _decode_peaks(
    peaks: list[SyncPeak], layout: AudioLayout, hypotheses: int, rate: float, seconds: float
) -> AudioDetection | None:
    for peak in peaks:
        if peak.score < SYNC_GATE:
            break
        decoded = decode_payload(_soft_bits(peak.fold, layout, peak.shift))
        if decoded.payload is None:
            continue
        p_sync = min(1.0, hypotheses * _normal_tail(peak.score))
        false_alarm = p_sync * 2 * DECODE_ATTEMPTS * 2.0**-CHECK_BITS
        if false_alarm <= FALSE_ALARM_LIMIT:
            grid = peak.fold.grid
            first_row_frame = (PERIOD - peak.shift) % PERIOD
            offset = float(grid.centre(first_row_frame)) / rate
            return AudioDetection(
                True,
                decoded.payload.hex(),
                false_alarm,
                peak.score,
                offset,
                grid.speed,
                seconds,
            )
    return None


def _nothing(peaks: list[SyncPeak], hypotheses: int, seconds: float) -> AudioDetection:
    score = peaks[0].score if peaks else 0.0
    p_sync = min(1.0, hypotheses * _normal_tail(score))
    return AudioDetection(False, None, p_sync, score, None, 1.0, seconds)


def detect_audio(
    samples: np.ndarray,
    rate: int,
    *,
    key: Key | str | bytes | None = None,
    speed_search: bool = True,
) -> AudioDetection:
    """Look for the watermark in a whole signal (n,) or (n, channels)."""
    detector = AudioDetector(rate=rate, key=key, speed_search=speed_search)
    detector.push(np.asarray(samples))
    return detector.result()


def iter_chunks(samples: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Split a signal into chunks of ``size`` samples (the last may be shorter)."""
    for start in range(0, samples.shape[0], size):
        yield samples[start : start + size]
