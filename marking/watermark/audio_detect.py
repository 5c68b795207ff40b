"""Detecting the audio watermark blindly: fold any excerpt onto one period, sync, decode.

The pattern repeats every 10 s, so the detector folds the input onto one period, finds the phase
by correlating with the reference, decodes, and checks the CRC; if nothing is found it searches
playback speeds from 0.8 to 1.25 (reading them from spectrograms of the first seconds, and
framing the sound again only at the few that stand out). See :mod:`marking.watermark.audio`
for the whole scheme.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft

from marking.kernels.spectral import (
    DETREND_BINS,
    DETREND_FRAMES,
    boxed_features,
    detrended_features,
    fold_features,
    mono_band_power,
    resample_grid,
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
    FRAME_SECONDS,
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
class _Grid:
    """Frame grid of one hypothesis: speed and sub-hop offset, at the detection rate."""

    speed: float
    offset: int  # sub-hop offset index 0..SUB_OFFSETS-1
    rate: float

    @property
    def length(self) -> int:
        return frame_length(self.rate / self.speed)

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


def _band_power(
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
    power = _band_power(mono, starts, length, FIRST_BIN, BANDS, length)
    return detrended_features(power, live_bins(rate))


class _Fold:
    """Folded features of one grid, accumulated block by block."""

    def __init__(self, grid: _Grid) -> None:
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
        features = _features(mono, starts, grid.length, grid.rate / grid.speed)
        keep = features[self.done - first : stop - first]
        fold_features(self.sums, self.squares, keep, self.done)
        self.done = stop

    def needed_from(self) -> int:
        """First sample (absolute) the next :meth:`advance` will read."""
        return int(self.grid.starts(max(0, self.done - 2), 1)[0])


@dataclass
class _Peak:
    score: float
    shift: int
    fold: _Fold


def _sync_scores(fold: _Fold, layout: AudioLayout) -> np.ndarray:
    """Reference correlation z-score for every circular shift of the fold.

    Row r of the fold holds pattern row r + k for shift k, so the score is the circular
    cross-correlation of the reference with the fold, normalised by its standard deviation
    under "no mark" (random reference chips against these features). That variance barely
    changes with the shift, so its average over shifts is used: per bin, the reference's
    density times the sum of squared features.
    """
    # Bins above what the grid's rate carries hold zeros: leave them out of the FFTs.
    live = live_bins(fold.grid.rate / fold.grid.speed)
    return _sync_of(fold.sums[:, :live], fold.squares[:, :live].sum(axis=0), layout)


def _sync_of(sums: np.ndarray, squares: np.ndarray, layout: AudioLayout) -> np.ndarray:
    """:func:`_sync_scores` of a fold's first bins: ``sums`` (at most PERIOD rows; missing rows
    are zero) and the per-bin totals of squared features ``squares``."""
    live = sums.shape[1]
    spectra = scipy.fft.rfft(sums.astype(np.float32, copy=False), n=PERIOD, axis=0, workers=1)
    spectrum = layout.reference_spectrum[:, :live]
    score = scipy.fft.irfft((spectrum * np.conj(spectra)).sum(axis=1), n=PERIOD)
    variance = float(layout.reference_density[:live] @ squares)
    return score / math.sqrt(max(variance, 1e-12))


def _soft_bits(fold: _Fold, layout: AudioLayout, shift: int) -> np.ndarray:
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
        self._folds = [_Fold(_Grid(1.0, o, rate_out)) for o in range(SUB_OFFSETS)]
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
        speed_peaks, speed_hypotheses = _speed_search(head, self._decimate.rate_out, layout)
        hypotheses += speed_hypotheses
        found = _decode_peaks(speed_peaks, layout, hypotheses, self._decimate.rate_out, seconds)
        if found is not None:
            return found
        return _nothing(sorted(peaks + speed_peaks, key=lambda p: -p.score), hypotheses, seconds)


def _best_peaks(folds: list[_Fold], layout: AudioLayout) -> list[_Peak]:
    peaks = []
    for fold in folds:
        if fold.done == 0:
            continue
        z = _sync_scores(fold, layout)
        peaks.extend(_Peak(float(z[s]), int(s), fold) for s in np.argsort(z)[-DECODE_ATTEMPTS:])
    peaks.sort(key=lambda p: -p.score)
    return peaks[:DECODE_ATTEMPTS]


def _decode_peaks(
    peaks: list[_Peak], layout: AudioLayout, hypotheses: int, rate: float, seconds: float
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


def _nothing(peaks: list[_Peak], hypotheses: int, seconds: float) -> AudioDetection:
    score = peaks[0].score if peaks else 0.0
    p_sync = min(1.0, hypotheses * _normal_tail(score))
    return AudioDetection(False, None, p_sync, score, None, 1.0, seconds)


#: Slowest and fastest playback speeds searched (issue 19: 0.8x to 1.25x, pitch and tempo
#: together, as resampling or a tape-speed change gives).
SPEED_RANGE = (0.8, 1.25)
#: Relative spacing of the coarse speed grid: a speed anywhere in the range is within half of
#: it of a grid point, and the fine pass covers that half either way.
SPEED_STEP = 0.003
#: Coarse playback-speed grid of the search (normal speed is tried first, on its own):
#: geometric, from a step below the slowest speed to a step above the fastest.
SPEED_COARSE = tuple(
    float(s)
    for s in np.round(
        np.exp(
            np.arange(
                np.log(SPEED_RANGE[0]) - SPEED_STEP,
                np.log(SPEED_RANGE[1]) + 1.5 * SPEED_STEP,
                SPEED_STEP,
            )
        ),
        4,
    )
)
#: Seconds of the original the coarse speed search looks at (of the input: this over the
#: slowest speed, so a slowed-down copy shows as much of its mark).
SPEED_COARSE_SECONDS = 6.0
#: Candidates kept from one stage of the speed search to the next.
SPEED_KEEP = 2
#: Sub-hop offsets of the coarse speed pass: every this many (4: offset 0 only, which ranks
#: speeds as well as all four did on every test clip).
COARSE_OFFSET_STEP = 4
#: Sync score on the first seconds a speed needs before the whole input is folded at it
#: (unmarked audio tops out near 4.5 over the speed grid; marked audio scores 6 and up).
SPEED_GATE = 5.0
#: Fine steps around the best coarse speeds, relative (half the coarse spacing either way).
SPEED_FINE = tuple(float(s) for s in np.round(np.arange(-0.0015, 0.00151, 0.0003), 4))
#: Fine speeds framed for real: the best this many as read from spectrograms made at the best
#: coarse speeds (on the 48 speed cases, 20 s and 30 s, the full-fold scores are those of
#: framing all 22 for real).
FINE_RECHECK = 3


#: The coarse pass reads every speed from spectrograms of the head with this many frames per
#: watermark frame (a 2.5 ms hop at normal speed) ...
SPECTROGRAM_HOPS = 4
#: ... and this many bins per 50 Hz bin (the frames zero-padded to this many times their length).
SPECTROGRAM_PAD = 2
#: Playback speeds the spectrograms are made for (frame length and hop over the speed, as the
#: watermark's grid at that speed); each coarse speed is read from the nearest, so its frames
#: are at most 8 % longer or shorter than its own grid's.
SPECTROGRAM_SPEEDS = (0.862, 1.0, 1.16)


@dataclass
class _Spectrogram:
    """Detrended features of the head on a grid finer than the watermark's, made once.

    Playback at speed s stretches the watermark's grid by 1/s in time and s in frequency, so
    each speed's features are this grid read at stretched rows and columns
    (:func:`resample_grid`): one FFT pass for the whole coarse search instead of one per speed.
    The features are detrended on this grid with a box spanning what the watermark's box spans.
    """

    features: np.ndarray  # (frames, bins) float32
    rate: float
    speed: float  # the playback speed whose grid this refines
    samples: int
    fine_hop: float  # samples between fine frames
    bin_hz: float  # Hz between fine bins
    first_bin: int  # FFT bin of column 0

    @classmethod
    def of(cls, mono: np.ndarray, rate: float, speed: float) -> _Spectrogram:
        """The spectrogram of ``mono`` on the watermark's grid at ``speed``, made finer."""
        length = frame_length(rate / speed)
        hop = rate / speed / FRAMES_PER_SECOND / SPECTROGRAM_HOPS
        count = max(1, int((mono.shape[0] - length / 2) / hop) + 1)
        centres = np.arange(count, dtype=np.float64) * hop
        starts = np.floor(centres + 0.5).astype(np.int64) - length // 2
        size = SPECTROGRAM_PAD * length
        bin_hz = rate / size
        # From the lowest band edge at the slowest speed to the top of what the rate carries.
        first = max(0, int(FIRST_BIN * (1 / FRAME_SECONDS) * SPEED_RANGE[0] / bin_hz) - 1)
        top = int(0.45 * rate / bin_hz)
        power = _band_power(mono, starts, length, first, top - first, size)
        features = boxed_features(
            power,
            top - first,
            DETREND_FRAMES * SPECTROGRAM_HOPS,
            DETREND_BINS * SPECTROGRAM_PAD,
        )
        return cls(features, rate, speed, mono.shape[0], hop, bin_hz, first)

    def features_at(self, speed: float, offset: int) -> np.ndarray:
        """The head's features on the watermark's grid at ``speed`` and sub-hop ``offset``:
        (frames, bins) float32, the bins this rate carries at that speed."""
        grid = _Grid(speed, offset, self.rate)
        rows = grid.centre(np.arange(grid.frames_within(self.samples), dtype=np.float64))
        hz = (FIRST_BIN + np.arange(live_bins(self.rate / speed))) * (1 / FRAME_SECONDS) * speed
        return resample_grid(self.features, rows / self.fine_hop, hz / self.bin_hz - self.first_bin)

    def sync_peak(self, speed: float, offset: int, layout: AudioLayout) -> float:
        """The best sync score of the head at ``speed`` and sub-hop ``offset``."""
        features = self.features_at(speed, offset)
        if features.shape[0] > PERIOD:  # a head longer than a period: fold it
            sums = np.zeros((PERIOD, features.shape[1]), dtype=np.float64)
            squares = np.zeros_like(sums)
            fold_features(sums, squares, features, 0)
            return float(_sync_of(sums, squares.sum(axis=0), layout).max())
        squares = np.einsum("fb,fb->b", features, features, dtype=np.float64)
        return float(_sync_of(features, squares, layout).max())


def _fold_at(mono: np.ndarray, grid: _Grid) -> _Fold:
    fold = _Fold(grid)
    fold.advance(mono, 0, mono.shape[0], final=True)
    return fold


def _half_rate(mono: np.ndarray, rate: float) -> tuple[np.ndarray, float]:
    """``mono`` lowpassed and decimated by 2, when the rate is high enough to afford it."""
    if rate < 2 * 7000:
        return mono, rate
    from scipy.signal import butter, sosfilt

    sos = butter(8, 0.45 * rate / 2, fs=rate, output="sos")
    return sosfilt(sos, mono)[::2].astype(np.float32), rate / 2


def _speed_search(mono: np.ndarray, rate: float, layout: AudioLayout) -> tuple[list[_Peak], int]:
    """Try playback speeds: coarse then fine on the first seconds, then the best on all of it.

    Returns the best peaks and the number of hypotheses tried (for the false-alarm figure).
    """
    if mono.shape[0] < MIN_DETECT_SECONDS * rate:
        return [], 0
    # SPEED_COARSE_SECONDS of the original at the slowest speed searched.
    head = mono[: int(SPEED_COARSE_SECONDS / SPEED_RANGE[0] * rate)]

    def best_on(
        signal: np.ndarray, at_rate: float, speeds: list[float], offsets: range
    ) -> list[tuple[float, float, int]]:
        found = []
        for speed in speeds:
            for offset in offsets:
                z = _sync_scores(_fold_at(signal, _Grid(speed, offset, at_rate)), layout)
                found.append((float(z.max()), speed, offset))
        return sorted(found, reverse=True)

    def read_on(
        made: list[_Spectrogram], speeds: list[float], offsets: range
    ) -> list[tuple[float, float, int]]:
        """:func:`best_on`, each speed read from the nearest of the spectrograms ``made``."""

        def nearest(speed: float) -> _Spectrogram:
            return min(made, key=lambda spectrogram: abs(math.log(speed / spectrogram.speed)))

        found = [
            (nearest(speed).sync_peak(speed, offset, layout), speed, offset)
            for speed in speeds
            for offset in offsets
        ]
        return sorted(found, reverse=True)

    # Both passes only rank speeds: half the rate (the band up to about 5 kHz) is plenty for
    # that. The coarse pass reads every speed from the nearest of three spectrograms instead
    # of framing the sound again for each.
    small, small_rate = _half_rate(head, rate)
    spectrograms = [_Spectrogram.of(small, small_rate, speed) for speed in SPECTROGRAM_SPEEDS]
    coarse_speeds = [speed for speed in SPEED_COARSE if speed != 1.0]
    coarse = read_on(spectrograms, coarse_speeds, range(0, SUB_OFFSETS, COARSE_OFFSET_STEP))
    # The fine pass reads the speeds around the best coarse ones from spectrograms made at
    # those, then frames the sound for real at the few that rank best there.
    best = [speed for _, speed, _ in coarse[:SPEED_KEEP]]
    fine_speeds = sorted({round(speed * (1 + step), 5) for speed in best for step in SPEED_FINE})
    fine_offsets = range(0, SUB_OFFSETS, 2)
    near_best = [_Spectrogram.of(small, small_rate, speed) for speed in best]
    rough = read_on(near_best, fine_speeds, fine_offsets)
    recheck = list(dict.fromkeys(speed for _, speed, _ in rough))[:FINE_RECHECK]
    fine = best_on(small, small_rate, recheck, fine_offsets)
    hypotheses = (len(coarse) + len(rough) + len(fine)) * PERIOD
    peaks: list[_Peak] = []
    # Only speeds whose sync already stands out on the first seconds are worth a full fold.
    promising = [speed for z, speed, _ in fine[:SPEED_KEEP] if z >= SPEED_GATE]
    for speed in dict.fromkeys(promising):
        for offset in range(SUB_OFFSETS):
            fold = _fold_at(mono, _Grid(speed, offset, rate))
            z = _sync_scores(fold, layout)
            shift = int(np.argmax(z))
            peaks.append(_Peak(float(z[shift]), shift, fold))
    hypotheses += len(peaks) * PERIOD
    peaks.sort(key=lambda p: -p.score)
    return peaks[:DECODE_ATTEMPTS], hypotheses


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
