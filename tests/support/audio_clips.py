"""Test clips for the audio watermark: real excerpts and synthetic signals, deterministic.

Real clips come from ``samples/`` (see samples/LICENSE.md): the Italian speech recording
(16 kHz mono, 27 s) and the tabla loop (44.1 kHz stereo, 10.7 s), resampled to the rate asked
for and looped to the length asked for. Synthetic clips cover what the real ones do not:
speech-like sound with pauses of digital silence, bass-heavy music, music-like stereo, noise,
steady tones and silence. Every clip is float32 in [-1, 1], shape (n,) for mono and
(n, channels) otherwise, the same for the same arguments, and cached: :func:`clip` returns a
read-only array (copy it before changing it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SPEECH_SAMPLE = "speech-italian-male.flac"  # 16 kHz mono
MUSIC_SAMPLE = "music-tabla-loop.flac"  # 44.1 kHz stereo

Generator = Callable[[float, int, int], np.ndarray]


# --- helpers -------------------------------------------------------------------------------


def _resample(data: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if rate == new_rate:
        return data
    ratio = Fraction(new_rate, rate)
    return resample_poly(data, ratio.numerator, ratio.denominator, axis=0)


def _loop(data: np.ndarray, count: int, start: int = 0) -> np.ndarray:
    """``count`` samples of ``data`` repeated end to end, starting at sample ``start``."""
    reps = -(-(start + count) // data.shape[0])
    return np.concatenate([data] * reps)[start : start + count]


def with_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """``samples`` as ``channels`` channels: (n,) for 1, else (n, channels).

    Fewer channels are a mean downmix; more repeat the source channels with a slightly
    different gain and a few samples' delay each, so no two channels are identical.
    """
    data = samples[:, None] if samples.ndim == 1 else samples
    have = data.shape[1]
    if channels == have:
        out = data
    elif channels < have:
        out = data.mean(axis=1, keepdims=True) if channels == 1 else data[:, :channels]
    else:
        columns = []
        for c in range(channels):
            column = data[:, c % have]
            if c >= have:
                lag = 3 * c
                column = np.concatenate([np.zeros(lag, column.dtype), column[:-lag]])
                column = column * (1.0 - 0.07 * c)
            columns.append(column)
        out = np.stack(columns, axis=1)
    out = np.asarray(out, dtype=np.float32)
    return out[:, 0].copy() if channels == 1 else np.ascontiguousarray(out)


def _normalise(data: np.ndarray, peak: float) -> np.ndarray:
    top = float(np.abs(data).max()) if data.size else 0.0
    return data * (peak / top) if top > 0 else data


def _rng(kind: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, sum(kind.encode())])


# --- real excerpts -------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _sample_at(name: str, rate: int) -> np.ndarray:
    import soundfile as sf

    data, file_rate = sf.read(SAMPLES / name, dtype="float64", always_2d=True)
    return _resample(data, file_rate, rate)


def speech_sample(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """The Italian speech recording at ``rate``, looped; ``seed`` picks where it starts."""
    data = _sample_at(SPEECH_SAMPLE, rate)
    start = (seed * 3 * rate) % data.shape[0]
    return _loop(data, int(seconds * rate), start)[:, 0].astype(np.float32)


def music_sample(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """The tabla loop (stereo) at ``rate``, looped; ``seed`` picks where it starts."""
    data = _sample_at(MUSIC_SAMPLE, rate)
    start = (seed * rate // 3) % data.shape[0]
    return np.ascontiguousarray(_loop(data, int(seconds * rate), start), dtype=np.float32)


# --- synthetic clips -----------------------------------------------------------------------


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Mono voiced and unvoiced syllables with formants, and pauses of digital silence."""
    from scipy.signal import lfilter

    rng = _rng("speech", seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    t = 0
    while t < n:
        length = min(int(rng.uniform(0.08, 0.35) * rate), n - t)
        if length <= 0:
            break
        kind = rng.random()
        envelope = np.sin(np.pi * np.arange(length) / length) ** 0.6
        if kind < 0.7:
            tt = np.arange(length) / rate
            f0 = rng.uniform(90, 220) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * tt))
            phase = 2 * np.pi * np.cumsum(f0) / rate
            formants = rng.uniform([300, 900, 2200], [900, 2200, 3200])
            harmonics = np.arange(1, 60)
            freqs = harmonics * f0.mean()
            keep = freqs < min(rate / 2 - 200, 7000)
            harmonics, freqs = harmonics[keep], freqs[keep]
            amps = np.exp(-(((freqs[:, None] - formants[None, :]) / 150) ** 2)).sum(axis=1)
            amps = (amps + 0.02) / np.sqrt(harmonics)
            segment = (amps[:, None] * np.sin(harmonics[:, None] * phase[None, :])).sum(axis=0)
            out[t : t + length] = segment * envelope
        else:
            hiss = lfilter([1, -0.9], [1], rng.standard_normal(length))
            out[t : t + length] = 0.3 * hiss * envelope
        t += length
        if rng.random() < 0.3:
            t += int(rng.uniform(0.1, 0.6) * rate)  # a pause: digital silence
    return _normalise(out, 0.5).astype(np.float32)


def music_like(seconds: float, rate: int, seed: int = 0, bass: bool = False) -> np.ndarray:
    """Stereo chords with vibrato, a bass line and percussion; ``bass`` makes the low end
    dominate (a sub-bass line and kick drums well above everything from 300 Hz up)."""
    rng = _rng("bass" if bass else "music", seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    left = np.zeros(n)
    right = np.zeros(n)
    beat = 60.0 / rng.uniform(80, 140)
    bar = 2 * beat
    for k in range(int(seconds / bar) + 1):
        s, e = int(k * bar * rate), min(n, int((k + 1) * bar * rate))
        if s >= n:
            break
        tt = t[s:e] - t[s]
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        envelope = np.exp(-tt * rng.uniform(0.5, 2.0))
        for ratio, pan in ((1, 0.3), (1.25, 0.7), (1.5, 0.5), (2, 0.4)):
            f = root * ratio * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * tt))
            phase = 2 * np.pi * np.cumsum(f) / rate
            tone = sum(np.sin(h * phase) / h for h in range(1, 8) if h * root * ratio < rate / 2.2)
            left[s:e] += (1 - pan) * tone * envelope * 0.3
            right[s:e] += pan * tone * envelope * 0.3
        low = root / (4 if bass else 2)
        line = np.sin(2 * np.pi * low * tt) * np.exp(-tt * 1.0) * (2.5 if bass else 0.6)
        left[s:e] += line
        right[s:e] += line
    for k in range(int(seconds / beat) + 1):
        s = int(k * beat * rate)
        length = min(n - s, int(0.08 * rate))
        if length <= 0:
            break
        i = np.arange(length)
        burst = rng.standard_normal(length) * np.exp(-i / (0.02 * rate)) * 0.4
        if bass:
            kick = np.sin(2 * np.pi * 55 * i / rate * np.exp(-i / (0.05 * rate)))
            burst = 0.3 * burst + 1.5 * kick
        left[s : s + length] += burst
        right[s : s + length] += burst
    return _normalise(np.stack([left, right], axis=1), 0.7).astype(np.float32)


def bass_music(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Bass-heavy stereo music (most of its power under 300 Hz)."""
    return music_like(seconds, rate, seed, bass=True)


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Mono noise: white, pink-ish or brown-ish (chosen by ``seed``), at a random level."""
    from scipy.signal import lfilter

    rng = _rng("noise", seed)
    white = rng.standard_normal(int(seconds * rate))
    colour = seed % 3
    if colour == 1:
        white = lfilter([1], [1, -0.9], white)
    elif colour == 2:
        white = lfilter([1], [1, -0.995], white)
    level = 10 ** rng.uniform(-3, -0.5)
    return (level * white / (np.std(white) + 1e-12)).clip(-1, 1).astype(np.float32)


def tones(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Mono sum of one to four steady sine tones between 100 Hz and 0.4 x the rate."""
    rng = _rng("tones", seed)
    t = np.arange(int(seconds * rate)) / rate
    count = int(rng.integers(1, 5))
    freqs = rng.uniform(100, min(8000, 0.4 * rate), size=count)
    phases = rng.uniform(0, 2 * np.pi, size=count)
    out = np.zeros_like(t)
    for f, p in zip(freqs, phases, strict=True):
        out += np.sin(2 * np.pi * f * t + p)
    return (0.5 * out / count).astype(np.float32)


def silence(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Mono digital silence (``seed`` is ignored)."""
    del seed
    return np.zeros(int(seconds * rate), dtype=np.float32)


#: Every kind of clip, by name: ``generator(seconds, rate, seed)``.
CLIP_KINDS: dict[str, Generator] = {
    "speech": speech_sample,
    "music": music_sample,
    "speech-like": speech_like,
    "music-like": music_like,
    "bass-music": bass_music,
    "noise": noise,
    "tones": tones,
    "silence": silence,
}


@lru_cache(maxsize=64)
def clip(
    kind: str, seconds: float, rate: int, seed: int = 0, channels: int | None = None
) -> np.ndarray:
    """A clip of ``kind`` (see :data:`CLIP_KINDS`), cached and read-only.

    ``channels`` None keeps the kind's own layout (mono for speech, noise, tones and silence;
    stereo for music); otherwise see :func:`with_channels`.
    """
    if kind not in CLIP_KINDS:
        raise ValueError(f"unknown clip kind {kind!r}; choose from {sorted(CLIP_KINDS)}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    samples = CLIP_KINDS[kind](seconds, rate, seed)
    if channels is not None:
        samples = with_channels(samples, channels)
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    samples.setflags(write=False)
    return samples
