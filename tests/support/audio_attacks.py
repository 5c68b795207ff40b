"""Audio attacks for watermark robustness tests and the benchmark.

Every attack is a pure function ``(samples, rate) -> (samples, rate)``: it takes float32
samples of shape (n,) or (n, channels) in [-1, 1] and a sample rate, never modifies its input,
and returns new float32 samples (length, rate and, for the mono downmix, shape may change).
Lossy codecs run in memory through PyAV (never a system ffmpeg); the rest is NumPy and SciPy,
so the tests and the benchmark apply exactly the same distortions. :data:`ATTACKS` lists the
acceptance attacks of issue 5 in order, plus the 5 s excerpt goal.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

Attack = Callable[[np.ndarray, int], tuple[np.ndarray, int]]

#: PyAV encoder name -> container format written in memory.
CODEC_CONTAINERS = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}
#: Rates libopus accepts; anything else is resampled to 48 kHz by the encoder path.
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)

#: Where the excerpts start: deliberately not on any frame, hop or period boundary.
EXCERPT_10S_START = (7.3, 7)  # seconds, plus samples
EXCERPT_5S_START = (12.1, 3)


def _check(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim not in (1, 2) or array.dtype.kind != "f":
        raise ValueError(
            f"expected float samples of shape (n,) or (n, channels), got {array.dtype} "
            f"{array.shape}"
        )
    return array


def _as_2d(samples: np.ndarray) -> np.ndarray:
    return samples[:, None] if samples.ndim == 1 else samples


def _like(result: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``result`` (n, C) float, back to the original's (n,) shape for mono, as float32."""
    result = np.asarray(result, dtype=np.float32)
    return result[:, 0].copy() if original.ndim == 1 else np.ascontiguousarray(result)


def no_attack(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """The marked signal as it is (a copy)."""
    return np.array(_check(samples), dtype=np.float32), rate


def codec(samples: np.ndarray, rate: int, encoder: str, bitrate: int) -> tuple[np.ndarray, int]:
    """Encode with ``encoder`` (libmp3lame, aac, libopus) at ``bitrate`` and decode again.

    Mono and stereo only. The decoded signal keeps the codec's delay and padding, as a real
    round trip does; Opus comes back at 48 kHz (its own rate) unless the input rate is one
    Opus takes.
    """
    import av

    array = _check(samples)
    data = _as_2d(array)
    channels = data.shape[1]
    if channels not in (1, 2):
        raise ValueError(f"codec attacks take mono or stereo, got {channels} channels")
    layout = "mono" if channels == 1 else "stereo"
    coded_rate = rate if encoder != "libopus" or rate in OPUS_RATES else 48000
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=CODEC_CONTAINERS[encoder]) as container:
        stream = container.add_stream(encoder, rate=coded_rate, layout=layout)
        stream.bit_rate = bitrate
        planes = np.ascontiguousarray(np.clip(data, -1.0, 1.0).T, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = None
        # PyAV converts to the encoder's format and rate and cuts its frame size.
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buffer.seek(0)
    pieces = []
    with av.open(buffer, "r") as container:
        decoded_rate = container.streams.audio[0].rate
        for decoded in container.decode(audio=0):
            values = decoded.to_ndarray()
            values = values.T if decoded.format.is_planar else values.reshape(-1, channels)
            if values.dtype.kind in "iu":  # integer sample formats: scale to [-1, 1)
                values = values / float(2 ** (8 * values.dtype.itemsize - 1))
            pieces.append(values.astype(np.float32))
    return _like(np.concatenate(pieces), array), decoded_rate


def resample(
    samples: np.ndarray, rate: int, new_rate: int, *, mono: bool = False
) -> tuple[np.ndarray, int]:
    """Resample to ``new_rate`` (polyphase, SciPy's default Kaiser window); ``mono`` downmixes."""
    from scipy.signal import resample_poly

    array = _check(samples)
    data = _as_2d(array).astype(np.float64)
    if mono:
        data = data.mean(axis=1, keepdims=True)
    ratio = Fraction(new_rate, rate)
    if ratio != 1:
        data = resample_poly(data, ratio.numerator, ratio.denominator, axis=0)
    out = data.astype(np.float32)
    return (out[:, 0].copy() if (mono or array.ndim == 1) else out), new_rate


def speed(samples: np.ndarray, rate: int, factor: float) -> tuple[np.ndarray, int]:
    """Play ``factor`` times as fast (pitch moves too): resampled, then labelled with ``rate``."""
    from scipy.signal import resample_poly

    array = _check(samples)
    ratio = Fraction(1000, round(1000 * factor))
    data = resample_poly(
        _as_2d(array).astype(np.float64), ratio.numerator, ratio.denominator, axis=0
    )
    return _like(data, array), rate


def filter_graph(
    samples: np.ndarray, rate: int, filters: list[tuple[str, str]]
) -> tuple[np.ndarray, int]:
    """Run ``samples`` through a chain of libavfilter ``(name, arguments)`` filters (PyAV's
    filter graph, in memory) and return what comes out, at ``rate``.

    Mono and stereo only; the filters must end at the input's rate and channel layout.
    """
    import av
    import av.filter

    array = _check(samples)
    data = _as_2d(array)
    if data.shape[1] not in (1, 2):
        raise ValueError(f"filter attacks take mono or stereo, got {data.shape[1]} channels")
    layout = "mono" if data.shape[1] == 1 else "stereo"
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="fltp", sample_rate=rate, layout=layout, time_base=Fraction(1, rate)
    )
    chain = [source, *(graph.add(name, arguments) for name, arguments in filters)]
    graph.link_nodes(*chain, graph.add("abuffersink")).configure()
    planes = np.ascontiguousarray(np.clip(data, -1.0, 1.0).T, dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    graph.push(frame)
    graph.push(None)
    pieces = []
    while True:
        try:
            out = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        values = out.to_ndarray()
        pieces.append(values.T if out.format.is_planar else values.reshape(-1, data.shape[1]))
    return _like(np.concatenate(pieces), array), rate


def tempo(samples: np.ndarray, rate: int, factor: float) -> tuple[np.ndarray, int]:
    """Play ``factor`` times as fast with the pitch kept (libavfilter's ``atempo``, WSOLA, as
    ffmpeg and the short-video editors apply it)."""
    return filter_graph(samples, rate, [("atempo", f"{factor:.6f}")])


def pitch(samples: np.ndarray, rate: int, semitones: float) -> tuple[np.ndarray, int]:
    """Shift the pitch by ``semitones`` with the tempo kept: relabel the rate (pitch and tempo
    up together), resample back to ``rate``, then ``atempo`` the tempo back."""
    shifted_rate = round(rate * 2 ** (semitones / 12))
    return filter_graph(
        samples,
        rate,
        [
            ("asetrate", str(shifted_rate)),
            ("aresample", str(rate)),
            ("atempo", f"{rate / shifted_rate:.6f}"),
        ],
    )


def volume(samples: np.ndarray, rate: int, factor: float) -> tuple[np.ndarray, int]:
    """Scale by ``factor`` and clip to [-1, 1] (a gain above 1 clips the peaks)."""
    array = _check(samples)
    return np.clip(array.astype(np.float64) * factor, -1.0, 1.0).astype(np.float32), rate


def gain_db(samples: np.ndarray, rate: int, db: float) -> tuple[np.ndarray, int]:
    """Amplify by ``db`` decibels and clip to [-1, 1]."""
    return volume(samples, rate, 10 ** (db / 20))


def white_noise(
    samples: np.ndarray, rate: int, snr_db: float, seed: int = 1
) -> tuple[np.ndarray, int]:
    """Add white Gaussian noise ``snr_db`` under the signal's mean power (over all channels)."""
    array = _check(samples)
    data = array.astype(np.float64)
    power = float(np.mean(data**2))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(data.shape) * math.sqrt(power / 10 ** (snr_db / 10))
    return (data + noise).astype(np.float32), rate


def highpass(samples: np.ndarray, rate: int, cutoff: float) -> tuple[np.ndarray, int]:
    """Order-8 Butterworth highpass at ``cutoff`` Hz (causal, as an equaliser would be)."""
    from scipy.signal import butter, sosfilt

    array = _check(samples)
    sos = butter(8, cutoff, "highpass", fs=rate, output="sos")
    return sosfilt(sos, array.astype(np.float64), axis=0).astype(np.float32), rate


def excerpt(
    samples: np.ndarray, rate: int, start_seconds: float, seconds: float, extra_samples: int = 0
) -> tuple[np.ndarray, int]:
    """``seconds`` of audio from ``start_seconds`` plus ``extra_samples`` (a copy)."""
    array = _check(samples)
    start = int(start_seconds * rate) + extra_samples
    length = round(seconds * rate)
    if start + length > array.shape[0]:
        raise ValueError(
            f"a {seconds} s excerpt from {start / rate:.3f} s needs "
            f"{(start + length) / rate:.3f} s of audio, got {array.shape[0] / rate:.3f} s"
        )
    return np.array(array[start : start + length], dtype=np.float32), rate


#: The acceptance attacks of issue 5, in its order, then the 5 s excerpt (a goal), then the
#: playback speeds of issue 19.
ATTACKS: dict[str, Attack] = {
    "none": no_attack,
    "mp3-128k": lambda x, r: codec(x, r, "libmp3lame", 128_000),
    "mp3-64k": lambda x, r: codec(x, r, "libmp3lame", 64_000),
    "aac-128k": lambda x, r: codec(x, r, "aac", 128_000),
    "aac-64k": lambda x, r: codec(x, r, "aac", 64_000),
    "opus-32k": lambda x, r: codec(x, r, "libopus", 32_000),
    "resample-22.05k": lambda x, r: resample(x, r, 22050),
    "mono-16k": lambda x, r: resample(x, r, 16000, mono=True),
    "volume-x0.3": lambda x, r: volume(x, r, 0.3),
    "gain+6dB-clip": lambda x, r: gain_db(x, r, 6.0),
    "noise-20dB": lambda x, r: white_noise(x, r, 20.0),
    "highpass-1k": lambda x, r: highpass(x, r, 1000.0),
    "excerpt-10s": lambda x, r: excerpt(x, r, EXCERPT_10S_START[0], 10.0, EXCERPT_10S_START[1]),
    "excerpt-5s": lambda x, r: excerpt(x, r, EXCERPT_5S_START[0], 5.0, EXCERPT_5S_START[1]),
    "speed-0.97": lambda x, r: speed(x, r, 0.97),
    "speed-1.03": lambda x, r: speed(x, r, 1.03),
    # Issue 19: playback speed 0.8-1.25 (resampled: pitch and tempo together), also after
    # MP3 128k.
    "speed-0.8": lambda x, r: speed(x, r, 0.8),
    "speed-0.9": lambda x, r: speed(x, r, 0.9),
    "speed-1.1": lambda x, r: speed(x, r, 1.1),
    "speed-1.25": lambda x, r: speed(x, r, 1.25),
    "speed-0.8+mp3-128k": lambda x, r: codec(*speed(x, r, 0.8), "libmp3lame", 128_000),
    "speed-1.25+mp3-128k": lambda x, r: codec(*speed(x, r, 1.25), "libmp3lame", 128_000),
}

#: Issue 19: tempo 0.9-1.1 with the pitch kept, and pitch +-2 semitones with the tempo kept,
#: each extreme also after MP3 128k (tested in tests/watermark/test_audio_tempo_pitch.py).
TEMPO_PITCH_ATTACKS: dict[str, Attack] = {
    "tempo-0.9": lambda x, r: tempo(x, r, 0.9),
    "tempo-0.95": lambda x, r: tempo(x, r, 0.95),
    "tempo-1.05": lambda x, r: tempo(x, r, 1.05),
    "tempo-1.1": lambda x, r: tempo(x, r, 1.1),
    "pitch-2": lambda x, r: pitch(x, r, -2.0),
    "pitch-1": lambda x, r: pitch(x, r, -1.0),
    "pitch+1": lambda x, r: pitch(x, r, 1.0),
    "pitch+2": lambda x, r: pitch(x, r, 2.0),
    "tempo-0.9+mp3-128k": lambda x, r: codec(*tempo(x, r, 0.9), "libmp3lame", 128_000),
    "tempo-1.1+mp3-128k": lambda x, r: codec(*tempo(x, r, 1.1), "libmp3lame", 128_000),
    "pitch-2+mp3-128k": lambda x, r: codec(*pitch(x, r, -2.0), "libmp3lame", 128_000),
    "pitch+2+mp3-128k": lambda x, r: codec(*pitch(x, r, 2.0), "libmp3lame", 128_000),
}

#: Attacks that are goals rather than acceptance items.
GOAL_ATTACKS = frozenset({"excerpt-5s"})

#: Shortest clip every attack in :data:`ATTACKS` can be applied to (seconds).
MIN_CLIP_SECONDS = EXCERPT_10S_START[0] + 10.0 + 0.01


def segmental_snr(
    original: np.ndarray, marked: np.ndarray, rate: int, segment_seconds: float = 0.02
) -> float:
    """Mean segmental SNR (dB) of ``marked`` against ``original``.

    The signals are cut into ``segment_seconds`` segments (all channels together); each
    segment's SNR is clipped to [-10, 35] dB, and the mean is taken over segments with signal
    (power above -60 dB of the loudest segment: digital silence and near-silence do not count,
    as in the usual definition).
    """
    a = _as_2d(_check(original)).astype(np.float64)
    b = _as_2d(_check(marked)).astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"channel counts differ: {a.shape[1]} and {b.shape[1]}")
    size = max(1, round(segment_seconds * rate))
    n = min(a.shape[0], b.shape[0]) // size * size
    signal = (a[:n] ** 2).reshape(-1, size * a.shape[1]).sum(axis=1)
    error = ((a[:n] - b[:n]) ** 2).reshape(-1, size * a.shape[1]).sum(axis=1)
    if signal.size == 0 or signal.max() <= 0:
        raise ValueError("the original has no signal to measure against")
    active = signal > 1e-6 * signal.max()
    with np.errstate(divide="ignore"):
        snr = 10 * np.log10(signal[active] / np.maximum(error[active], 1e-300))
    return float(np.mean(np.clip(snr, -10.0, 35.0)))
