"""Embedding the audio watermark: informed patchwork gains on the short-time spectrum, streamed.

Per 2.5 s segment the embedder measures how the host already projects onto each bit and spends
gain only where the host works against it, more on quiet slots than on loud ones, inside a
per-frame masking budget. See :mod:`marking.watermark.audio` for the whole scheme.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from marking.kernels.spectral import (
    SILENCE_POWER,
    band_delta,
    channel_power,
    detrended_features,
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
from marking.scheme.keys import Key
from marking.scheme.payload import (
    parse_payload,
)
from marking.watermark.audio_layout import (
    BANDS,
    FIRST_BIN,
    PERIOD,
    analysis_window,
    audio_layout,
    check_rate,
    frame_length,
    frame_starts,
    live_bins,
    slot_signs,
)

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
        self.rate = check_rate(rate)
        if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
            raise ValueError(f"channels must be 1..64, got {channels!r}")
        if not (isinstance(strength, (int, float, np.floating)) and 0 < strength <= 4):
            raise ValueError(f"strength must be in (0, 4], got {strength!r}")
        self.channels = int(channels)
        self.payload = parse_payload(payload)
        self._layout = audio_layout(key)
        self._signs = slot_signs(self._layout, self.payload)
        self._budget_db = BUDGET_DB - 20 * math.log10(strength)
        self._length = frame_length(rate)
        self._window = analysis_window(self._length)
        self._scale = 1.0 / float(np.sum(self._window.astype(np.float64) ** 2))
        self._live = live_bins(rate)
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
        return int(frame_starts(frame, 1, self.rate, self._length)[0])

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
        starts = frame_starts(first, last - first, self.rate, self._length) - self._host_start
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
