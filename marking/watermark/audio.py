"""Invisible audio watermark: a 64-bit payload in the short-time spectrum, found blindly.

How it works, in one paragraph. Audio is cut into 20 ms frames every 10 ms (50 Hz bins) at
whatever rate it comes in. A keyed pattern of 10 s (1,000 frames by the 120 bins from 300 Hz
to 6.3 kHz) gives every time-frequency slot a chip of +1 or -1; 20 % of the slots are a sync
reference, the rest carry the 282 coded bits of the payload (the image watermark's code and
CRC), each bit spread evenly over every second. Marking multiplies each slot's spectrum by
``exp(+-g)``: patchwork coding, read back as "log power above or below its neighbourhood", so
the host's own loudness and colour cancel. The gains are informed: per 2.5 s segment the
embedder measures how the host already projects onto each bit and spends gain only where the
host works against it, more on quiet slots (cheap in distortion) than on loud ones, inside a
per-frame masking budget (the mark's power stays 24 dB under the frame's). The pattern repeats
every 10 s, so the detector folds any excerpt onto one period, finds the phase by correlating
with the reference, decodes, and checks the CRC; if nothing is found it searches playback
speeds from 0.966 to 1.034. Digital silence stays exactly silent: the mark scales what is
there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from marking.kernels.spectral import (
    SILENCE_POWER,
    band_delta,
    channel_power,
    detrended_features,
    fold_features,
    frame_energy,
    informed_gains,
    interleave_sum,
    mono_band_power,
    overlap_add,
    overlap_add_pairs,
    pair_delta,
    pair_energy,
    unpaired_band,
    windowed_frames,
    windowed_pairs,
)
from marking.scheme.keys import Key, as_key
from marking.scheme.limits import FALSE_ALARM_LIMIT
from marking.scheme.payload import (
    CHECK_BITS,
    CODED_BITS,
    decode_payload,
    encode_payload,
    parse_payload,
)
from marking.scheme.results import AudioDetection

#: Frame length and hop in seconds: the grid is the same at every sample rate.
FRAME_SECONDS = 0.02
FRAMES_PER_SECOND = 100
#: The marked band in 50 Hz bins: 300 Hz up to (not including) 6.3 kHz.
FIRST_BIN = 6
BANDS = 120
#: Frames in one period of the pattern (10 s).
PERIOD = 1000
#: Frames in one block of the layout: every bit owns nearly the same number of slots in each.
LAYOUT_BLOCK = 100
#: Share of the slots that are sync reference.
REFERENCE_SHARE = 0.2
#: Frames per informed-embedding segment (2.5 s): the embedder's latency, and the span over
#: which each bit's host projection is cancelled.
SEGMENT = 250

#: The mark's power stays this far under each frame's power at strength 1 (dB).
BUDGET_DB = 24.0
#: Mean of ``sign * feature`` each bit's slots are lifted to (nats of log power).
TARGET = 0.12
#: How far a slot's feature moves per unit gain (measured: STFT smearing and the local-mean
#: subtraction keep it under the ideal 2).
RESPONSE = 0.9
#: Bounds on a group's measured response (a silent or saturated group measures nonsense).
RESPONSE_RANGE = (0.1, 1.2)
#: Largest gain on any slot: |X| changes by at most exp(0.5) = 4.3 dB (quiet slots only).
GAIN_MAX = 0.5
#: Frames whose mark uses less than this share of their budget are scaled up towards it.
FILL = 0.5
#: Refinement rounds of the informed gains (shortfall re-spread under the caps).
GAIN_ROUNDS = 3

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
#: Rates the watermark accepts.
RATE_RANGE = (8000, 192000)


# --- the keyed layout ----------------------------------------------------------------------


@dataclass(frozen=True)
class AudioLayout:
    """Where each coded bit and the sync reference sit in one period, for one key.

    ``chips`` is (PERIOD, BANDS) of +1/-1; ``owner`` gives the coded bit owning each slot, or
    -1 for the reference; ``groups`` numbers the informed-embedding groups (the bit, or one of
    the reference groups of about a bit's size).
    """

    chips: np.ndarray
    owner: np.ndarray
    groups: np.ndarray
    group_count: int
    bit_rows: np.ndarray
    bit_cols: np.ndarray
    bit_owner: np.ndarray
    reference: np.ndarray
    reference_spectrum: np.ndarray
    reference_density: np.ndarray


@lru_cache(maxsize=16)
def _layout_for(digest: bytes) -> AudioLayout:
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))
    slots_per_block = LAYOUT_BLOCK * BANDS
    reference_count = round(slots_per_block * REFERENCE_SHARE)
    data_count = slots_per_block - reference_count
    reference_groups = max(1, round(reference_count * CODED_BITS / data_count))
    owner = np.empty((PERIOD, BANDS), dtype=np.int32)
    groups = np.empty((PERIOD, BANDS), dtype=np.int32)
    for block in range(PERIOD // LAYOUT_BLOCK):
        # Each block deals the bits round-robin, starting where the last block stopped, so
        # every bit gets its share in every second of audio.
        first = block * data_count
        bits = (first + np.arange(data_count)) % CODED_BITS
        labels = np.concatenate([np.full(reference_count, -1), bits]).astype(np.int32)
        reference_group = CODED_BITS + np.arange(reference_count) % reference_groups
        group_labels = np.concatenate([reference_group, bits]).astype(np.int32)
        order = rng.permutation(slots_per_block)
        rows = slice(block * LAYOUT_BLOCK, (block + 1) * LAYOUT_BLOCK)
        owner[rows] = labels[order].reshape(LAYOUT_BLOCK, BANDS)
        groups[rows] = group_labels[order].reshape(LAYOUT_BLOCK, BANDS)
    chips = (rng.integers(0, 2, size=(PERIOD, BANDS)) * 2 - 1).astype(np.int8)
    data = owner >= 0
    order = np.argsort(owner[data], kind="stable")
    rows, cols = np.nonzero(data)
    reference = np.where(owner < 0, chips, 0).astype(np.float32)
    for array in (chips, owner, groups, reference):
        array.setflags(write=False)
    return AudioLayout(
        chips=chips,
        owner=owner,
        groups=groups,
        group_count=CODED_BITS + reference_groups,
        bit_rows=rows[order],
        bit_cols=cols[order],
        bit_owner=owner[data][order],
        reference=reference,
        reference_spectrum=scipy.fft.rfft(reference, axis=0).astype(np.complex64),
        reference_density=np.abs(reference).mean(axis=0).astype(np.float64),
    )


def audio_layout(key: Key | str | bytes | None) -> AudioLayout:
    """The layout for ``key`` (cached)."""
    return _layout_for(as_key(key).digest("audio-watermark/v1/layout"))


def _signs(layout: AudioLayout, payload: bytes) -> np.ndarray:
    """+1/-1 per slot of one period: the chip times the sign of the bit it carries."""
    bits = encode_payload(payload).astype(np.int8) * 2 - 1
    carried = np.where(layout.owner >= 0, bits[np.maximum(layout.owner, 0)], 1).astype(np.int8)
    return (layout.chips * carried).astype(np.float32)


# --- the frame grid ------------------------------------------------------------------------


def _check_rate(rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise TypeError(f"sample rate must be an integer, got {type(rate).__name__}")
    rate = int(rate)
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(
            f"sample rate {rate} Hz is outside the supported {RATE_RANGE[0]}-{RATE_RANGE[1]} Hz"
        )
    return rate


@lru_cache(maxsize=64)
def _window(length: int) -> np.ndarray:
    """Periodic sqrt-Hann: analysis times synthesis sums to 1 at a half-frame hop."""
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length))
    window = window.astype(np.float32)
    window.setflags(write=False)
    return window


def _frame_length(rate: float) -> int:
    return max(16, round(rate * FRAME_SECONDS))


def _live_bins(rate: float) -> int:
    """Bins of the band below 0.45 x the rate (what this rate can carry)."""
    top = int(0.45 * rate / (1 / FRAME_SECONDS))
    return max(0, min(BANDS, top - FIRST_BIN))


def _frame_starts(first: int, count: int, rate: int, length: int) -> np.ndarray:
    """Start sample of frames ``first..first+count-1``: centre at ``f * rate / 100``, rounded."""
    frames = np.arange(first, first + count, dtype=np.int64)
    centres = (frames * rate * 2 + FRAMES_PER_SECOND) // (2 * FRAMES_PER_SECOND)
    return centres - length // 2


# --- embedding -----------------------------------------------------------------------------


def _budget_caps(band: np.ndarray, total: np.ndarray, budget_db: float) -> np.ndarray:
    """Largest gain per frame that keeps the mark ``budget_db`` under the frame's power."""
    ratio = np.divide(total, band, out=np.zeros_like(total), where=band > 0)
    return np.sqrt(ratio * 10 ** (-budget_db / 10)).astype(np.float32)


#: How strongly a slot's gain falls with its power relative to its frame's mean.
WEIGHT_EXPONENT = 1.0


def _slot_weights(slot_power: np.ndarray) -> np.ndarray:
    """Relative gain per slot: louder slots cost more of the frame's budget, so get less."""
    mean = slot_power.mean(axis=1, keepdims=True)
    ratio = np.divide(mean, slot_power, out=np.ones_like(slot_power), where=slot_power > 0)
    return np.clip(ratio**WEIGHT_EXPONENT, 0.25, 4.0).astype(np.float32)


class AudioEmbedder:
    """Streaming embedder: push chunks of samples, get marked samples back.

    Output lags input by up to one segment (2.5 s) plus a frame; :meth:`finish` returns the
    rest. Pushing a whole signal at once and finishing gives exactly the same samples as any
    chunking. Samples are float arrays of shape (n, channels) or (n,) for mono, nominally in
    [-1, 1]; the output is float32 of the same shape, not clipped (a file writer clamps).
    """

    def __init__(
        self,
        *,
        rate: int,
        channels: int,
        payload: bytes | str | int,
        key: Key | str | bytes | None = None,
        strength: float = 1.0,
    ) -> None:
        self.rate = _check_rate(rate)
        if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
            raise ValueError(f"channels must be 1..64, got {channels!r}")
        if not (isinstance(strength, (int, float, np.floating)) and 0 < strength <= 4):
            raise ValueError(f"strength must be in (0, 4], got {strength!r}")
        self.channels = int(channels)
        self.payload = parse_payload(payload)
        self._layout = audio_layout(key)
        self._signs = _signs(self._layout, self.payload)
        self._budget_db = BUDGET_DB - 20 * math.log10(strength)
        self._length = _frame_length(rate)
        self._window = _window(self._length)
        self._scale = 1.0 / float(np.sum(self._window.astype(np.float64) ** 2))
        self._live = _live_bins(rate)
        self._response = np.full(self._layout.group_count, RESPONSE)
        # Channel-major buffers (C, n): frames read and write contiguous samples.
        self._host = np.zeros((self.channels, 0), dtype=np.float32)
        self._delta = np.zeros((self.channels, 0), dtype=np.float32)
        self._host_start = 0  # absolute index of _host[0]
        self._received = 0
        self._emitted = 0
        self._segment = 0
        self._finished = False
        self._mono_input: bool | None = None

    # Frames of segment j are j*SEGMENT .. (j+1)*SEGMENT-1; their features need two frames
    # either side, so segment j can run once frame (j+1)*SEGMENT+1 is complete.
    def _start(self, frame: int) -> int:
        return int(_frame_starts(frame, 1, self.rate, self._length)[0])

    def _ready(self, segment: int) -> bool:
        needed = self._start((segment + 1) * SEGMENT + 2) + self._length
        return self._received >= needed

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add samples; return the marked samples that are final (possibly none)."""
        if self._finished:
            raise RuntimeError("this embedder has finished; make a new one")
        block = self._as_block(chunk)
        self._host = np.concatenate([self._host, block.T], axis=1)
        self._delta = np.concatenate([self._delta, np.zeros(block.T.shape, np.float32)], axis=1)
        self._received += block.shape[0]
        while self._ready(self._segment):
            self._run_segment(self._segment)
            self._segment += 1
        return self._emit(self._start(self._segment * SEGMENT))

    def finish(self) -> np.ndarray:
        """Mark what is left and return the remaining samples."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        self._finished = True
        while self._start(self._segment * SEGMENT) < self._received:
            self._run_segment(self._segment)
            self._segment += 1
        return self._emit(self._received)

    def _as_block(self, chunk: np.ndarray) -> np.ndarray:
        array = np.asarray(chunk)
        if array.dtype.kind != "f":
            raise TypeError(f"samples must be floating point in [-1, 1], got {array.dtype}")
        mono = array.ndim == 1
        if mono:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != self.channels:
            raise ValueError(
                f"expected samples of shape (n, {self.channels}), got {np.shape(chunk)}"
            )
        if self._mono_input is None:
            self._mono_input = mono
        if not np.isfinite(array).all():
            raise ValueError("samples must be finite (found NaN or infinity)")
        return np.ascontiguousarray(array, dtype=np.float32)

    def _emit(self, until: int) -> np.ndarray:
        # Before the first segment is done nothing is final; never emit a sample twice.
        until = max(self._emitted, min(until, self._received))
        first = self._emitted - self._host_start
        last = until - self._host_start
        out = interleave_sum(self._host[:, first:last], self._delta[:, first:last])
        self._emitted = max(self._emitted, until)
        # Keep what the next segment's frames still read (two frames before it).
        keep_from = max(self._host_start, self._start(self._segment * SEGMENT - 2))
        keep_from = min(keep_from, self._emitted)
        drop = keep_from - self._host_start
        if drop > 0:
            self._host = self._host[:, drop:]
            self._delta = self._delta[:, drop:]
            self._host_start = keep_from
        return out[:, 0].copy() if self._mono_input else out

    def _run_segment(self, segment: int) -> None:
        first = max(0, segment * SEGMENT - 2)
        last = (segment + 1) * SEGMENT + 2
        starts = _frame_starts(first, last - first, self.rate, self._length) - self._host_start
        inner = slice(segment * SEGMENT - first, segment * SEGMENT - first + SEGMENT)
        if self.channels == 1:
            frames = windowed_frames(self._host, starts, self._window)
            spectra = scipy.fft.rfft(frames, axis=-1, workers=1)
            band = spectra[:, :, FIRST_BIN : FIRST_BIN + BANDS]
            energy = frame_energy(frames)
        else:  # two channels per complex FFT
            frames, live = windowed_pairs(self._host, starts, self._window)
            spectra = scipy.fft.fft(frames, axis=-1, workers=1)
            band = unpaired_band(spectra, FIRST_BIN, BANDS, self.channels)
            energy = pair_energy(frames)
        power = mono_band_power(band, 0, BANDS, self._scale)
        features = detrended_features(power, self._live)
        rows = np.arange(segment * SEGMENT, (segment + 1) * SEGMENT) % PERIOD
        signs = self._signs[rows]
        slot_power = channel_power(band[:, inner], 0, BANDS)
        # Parseval: the half spectrum holds about half of length * energy.
        budget = energy[inner] * (self._length / 2) * 10 ** (-self._budget_db / 10)
        budget[power[inner, : max(self._live, 1)].mean(axis=1) < SILENCE_POWER] = 0.0
        gains = informed_gains(
            features[inner],
            signs,
            self._layout.groups[rows],
            self._response,
            _slot_weights(slot_power),
            slot_power,
            budget,
            TARGET,
            GAIN_MAX,
            GAIN_ROUNDS,
            FILL,
        )
        if self.channels == 1:
            delta = band_delta(spectra[:, inner], gains, signs, FIRST_BIN)
            waves = scipy.fft.irfft(delta, n=self._length, axis=-1, workers=1)
            overlap_add(self._delta, waves, starts[inner], self._window)
        else:
            delta = pair_delta(spectra[:, inner], gains, signs, FIRST_BIN)
            waves = scipy.fft.ifft(delta, axis=-1, workers=1)
            overlap_add_pairs(self._delta, waves, starts[inner], self._window, live[:, inner])


def embed_audio(
    samples: np.ndarray,
    rate: int,
    payload: bytes | str | int,
    *,
    key: Key | str | bytes | None = None,
    strength: float = 1.0,
) -> np.ndarray:
    """Mark a whole signal (n,) or (n, channels); returns float32 of the same shape."""
    array = np.asarray(samples)
    channels = 1 if array.ndim == 1 else array.shape[1]
    embedder = AudioEmbedder(
        rate=rate, channels=channels, payload=payload, key=key, strength=strength
    )
    head = embedder.push(array)
    tail = embedder.finish()
    return np.concatenate([head, tail])


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
        return _frame_length(self.rate / self.speed)

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


def _features(mono: np.ndarray, starts: np.ndarray, length: int, rate: float) -> np.ndarray:
    window = _window(length)
    frames = windowed_frames(mono[None, :], starts, window)
    spectra = scipy.fft.rfft(frames, axis=-1, workers=1).astype(np.complex64, copy=False)
    scale = 1.0 / float(np.sum(window.astype(np.float64) ** 2))
    power = mono_band_power(spectra, FIRST_BIN, BANDS, scale)
    return detrended_features(power, _live_bins(rate))


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
    sums = scipy.fft.rfft(fold.sums.astype(np.float32), axis=0, workers=1)
    score = scipy.fft.irfft((layout.reference_spectrum * np.conj(sums)).sum(axis=1), n=PERIOD)
    variance = float(layout.reference_density @ fold.squares.sum(axis=0))
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
        self.rate = _check_rate(rate)
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


#: Coarse playback-speed grid of the search (normal speed is tried first, on its own).
SPEED_COARSE = tuple(float(s) for s in np.round(np.arange(0.966, 1.0345, 0.002), 4))
#: Seconds of audio the coarse speed search looks at.
SPEED_COARSE_SECONDS = 8.0
#: Candidates kept from one stage of the speed search to the next.
SPEED_KEEP = 2
#: Sub-hop offsets of the coarse speed pass: every this many (4: offset 0 only, which ranks
#: speeds as well as all four did on every test clip).
COARSE_OFFSET_STEP = 4
#: Sync score on the first seconds a speed needs before the whole input is folded at it
#: (unmarked audio tops out near 4.5 over the speed grid; marked audio scores 6 and up).
SPEED_GATE = 5.0
#: Fine steps around the best coarse speeds.
SPEED_FINE = tuple(float(s) for s in np.round(np.arange(-0.0012, 0.00121, 0.0003), 4))


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
    head = mono[: int(SPEED_COARSE_SECONDS * rate)]

    def best_on(
        signal: np.ndarray, at_rate: float, speeds: list[float], offsets: range
    ) -> list[tuple[float, float, int]]:
        found = []
        for speed in speeds:
            for offset in offsets:
                z = _sync_scores(_fold_at(signal, _Grid(speed, offset, at_rate)), layout)
                found.append((float(z.max()), speed, offset))
        return sorted(found, reverse=True)

    # The coarse pass only ranks speeds: half the rate (the band up to about 5 kHz, a quarter
    # of the FFT work) is plenty for that.
    small, small_rate = _half_rate(head, rate)
    coarse_speeds = [s for s in SPEED_COARSE if s != 1.0]
    coarse = best_on(small, small_rate, coarse_speeds, range(0, SUB_OFFSETS, COARSE_OFFSET_STEP))
    fine_speeds = sorted(
        {round(best + step, 5) for _, best, _ in coarse[:SPEED_KEEP] for step in SPEED_FINE}
    )
    fine = best_on(small, small_rate, fine_speeds, range(0, SUB_OFFSETS, 2))
    hypotheses = (len(coarse) + len(fine)) * PERIOD
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
