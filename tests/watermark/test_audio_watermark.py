"""The audio watermark's API: streaming equals whole-signal, shapes, silence, rates, errors.

Fast checks on short clips (3-20 s). Robustness to attacks is in test_audio_robustness.py and
false alarms in test_audio_false_alarm.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from marking.kernels.spectral import fold_features
from marking.watermark import audio_detect, audio_search
from marking.watermark.audio import (
    FALSE_ALARM_LIMIT,
    PERIOD,
    AudioDetection,
    AudioDetector,
    AudioEmbedder,
    audio_layout,
    detect_audio,
    embed_audio,
)
from tests.support.audio_clips import clip

KEY = "audio-api-test-key"
PAYLOAD = "0123456789abcdef"
PERIOD_SECONDS = PERIOD / 100  # the pattern repeats every 10 s
#: One sub-hop step of the detector's frame grid (2.5 ms): the offset's resolution.
OFFSET_TOLERANCE = 0.0025

RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000]


# --- helpers -------------------------------------------------------------------------------


def assert_found(result: AudioDetection, payload: str = PAYLOAD) -> None:
    assert result.detected, f"not detected: score {result.score:.2f}, p {result.false_alarm:.2e}"
    assert result.payload == payload
    assert 0.0 <= result.false_alarm <= FALSE_ALARM_LIMIT
    assert result.offset is not None
    assert 0.0 <= result.offset < PERIOD_SECONDS


def chunks(samples: np.ndarray, sizes: int | Sequence[int]) -> Iterator[np.ndarray]:
    """``samples`` cut into chunks of ``sizes`` (one size, or a sequence used in a cycle)."""
    cycle = [sizes] if isinstance(sizes, int) else list(sizes)
    start, i = 0, 0
    while start < samples.shape[0]:
        size = cycle[i % len(cycle)]
        yield samples[start : start + size]
        start += size
        i += 1


def embed_streaming(
    samples: np.ndarray, rate: int, sizes: int | Sequence[int], payload: str = PAYLOAD
) -> np.ndarray:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    embedder = AudioEmbedder(rate=rate, channels=channels, payload=payload, key=KEY)
    pieces = []
    pushed = emitted = 0
    for chunk in chunks(samples, sizes):
        out = embedder.push(chunk)
        pushed += chunk.shape[0]
        emitted += out.shape[0]
        # Checked on every push, so a runaway embedder fails at once instead of eating memory.
        assert emitted <= pushed, f"emitted {emitted} samples after {pushed} were pushed"
        assert out.shape[1:] == samples.shape[1:]
        pieces.append(out)
    pieces.append(embedder.finish())
    return np.concatenate(pieces)


def detect_streaming(samples: np.ndarray, rate: int, sizes: int | Sequence[int]) -> AudioDetection:
    detector = AudioDetector(rate=rate, key=KEY)
    for chunk in chunks(samples, sizes):
        detector.push(chunk)
    return detector.result()


def random_sizes(seed: int, count: int = 400, top: int = 6000) -> list[int]:
    return [int(s) for s in np.random.default_rng(seed).integers(1, top, size=count)]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def music_44k() -> tuple[np.ndarray, np.ndarray]:
    """The tabla loop, 20 s at 44.1 kHz stereo, and its marked copy."""
    original = clip("music", 20.0, 44100)
    return original, embed_audio(original, 44100, PAYLOAD, key=KEY)


@pytest.fixture(scope="module")
def speech_16k() -> tuple[np.ndarray, np.ndarray]:
    """The speech recording, 12 s at 16 kHz mono, and its marked copy."""
    original = clip("speech", 12.0, 16000)
    return original, embed_audio(original, 16000, PAYLOAD, key=KEY)


# --- streaming -----------------------------------------------------------------------------


STREAM_SIZES = {
    "100": 100,
    "4096": 4096,
    "odd-7": 7,
    "odd-1013": 1013,
    "odd-44101": 44101,
    "random": random_sizes(1),
    "whole": 10**9,
}


@pytest.mark.parametrize("sizes", list(STREAM_SIZES.values()), ids=list(STREAM_SIZES))
def test_streaming_embed_is_bit_identical_stereo(
    music_44k: tuple[np.ndarray, np.ndarray], sizes: int | list[int]
) -> None:
    original, whole = music_44k
    streamed = embed_streaming(original, 44100, sizes)
    assert streamed.dtype == np.float32
    assert streamed.shape == original.shape
    assert np.array_equal(streamed, whole)


@pytest.mark.parametrize(
    "sizes", [4096, 333, random_sizes(2, top=3000)], ids=["4096", "333", "random"]
)
def test_streaming_embed_is_bit_identical_mono(
    speech_16k: tuple[np.ndarray, np.ndarray], sizes: int | list[int]
) -> None:
    original, whole = speech_16k
    streamed = embed_streaming(original, 16000, sizes)
    assert streamed.shape == original.shape
    assert np.array_equal(streamed, whole)


def test_streaming_embed_one_sample_at_a_time() -> None:
    """Chunks of one sample, across the first segment's boundary (2.5 s) and the end."""
    original = clip("speech", 3.0, 8000)
    whole = embed_audio(original, 8000, PAYLOAD, key=KEY)
    streamed = embed_streaming(original, 8000, 1)
    assert streamed.shape == original.shape
    assert np.array_equal(streamed, whole)


def test_streaming_embed_with_empty_chunks(speech_16k: tuple[np.ndarray, np.ndarray]) -> None:
    original, whole = speech_16k
    embedder = AudioEmbedder(rate=16000, channels=1, payload=PAYLOAD, key=KEY)
    pieces = []
    for chunk in chunks(original, 5000):
        pieces.append(embedder.push(chunk))
        pieces.append(embedder.push(original[:0]))
    pieces.append(embedder.finish())
    assert np.array_equal(np.concatenate(pieces), whole)


def test_streaming_embedder_lags_by_at_most_a_segment_and_a_frame(
    speech_16k: tuple[np.ndarray, np.ndarray],
) -> None:
    """Output is final as soon as it is returned, and lags input by about 2.5 s at most."""
    original, _ = speech_16k
    embedder = AudioEmbedder(rate=16000, channels=1, payload=PAYLOAD, key=KEY)
    pushed = emitted = 0
    for chunk in chunks(original, 1600):
        emitted += embedder.push(chunk).shape[0]
        pushed += chunk.shape[0]
        assert pushed - emitted <= int((2.5 + 0.05) * 16000)


def test_embedder_refuses_use_after_finish() -> None:
    embedder = AudioEmbedder(rate=16000, channels=1, payload=PAYLOAD, key=KEY)
    embedder.push(np.zeros(100, np.float32))
    embedder.finish()
    with pytest.raises(RuntimeError):
        embedder.push(np.zeros(100, np.float32))
    with pytest.raises(RuntimeError):
        embedder.finish()


DETECT_SIZES = {
    "100": 100,
    "4096": 4096,
    "odd-12345": 12345,
    "random": random_sizes(3),
}


@pytest.mark.parametrize("sizes", list(DETECT_SIZES.values()), ids=list(DETECT_SIZES))
def test_streaming_detect_equals_whole_stereo_44k(
    music_44k: tuple[np.ndarray, np.ndarray], sizes: int | list[int]
) -> None:
    _, marked = music_44k
    whole = detect_audio(marked, 44100, key=KEY)
    assert_found(whole)
    assert detect_streaming(marked, 44100, sizes).to_dict() == whole.to_dict()


@pytest.mark.parametrize("sizes", list(DETECT_SIZES.values()), ids=list(DETECT_SIZES))
def test_streaming_detect_equals_whole_mono_16k(
    speech_16k: tuple[np.ndarray, np.ndarray], sizes: int | list[int]
) -> None:
    _, marked = speech_16k
    whole = detect_audio(marked, 16000, key=KEY)
    assert_found(whole)
    assert detect_streaming(marked, 16000, sizes).to_dict() == whole.to_dict()


def test_streaming_detect_equals_whole_unmarked(speech_16k: tuple[np.ndarray, np.ndarray]) -> None:
    """Also when nothing is found (the speed search runs on the kept head of the stream)."""
    original, _ = speech_16k
    whole = detect_audio(original, 16000, key=KEY)
    assert not whole.detected
    assert detect_streaming(original, 16000, 7777).to_dict() == whole.to_dict()


# --- shapes, dtypes, payload forms ---------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((48000,), np.float32),
        ((48000,), np.float64),
        ((48000, 1), np.float32),
        ((48000, 2), np.float64),
        ((48000, 6), np.float32),
    ],
)
def test_output_shape_and_dtype(shape: tuple[int, ...], dtype: type) -> None:
    rng = np.random.default_rng(5)
    samples = (0.1 * rng.standard_normal(shape)).astype(dtype)
    marked = embed_audio(samples, 16000, PAYLOAD, key=KEY)
    assert marked.shape == samples.shape
    assert marked.dtype == np.float32
    assert np.all(np.isfinite(marked))
    assert not np.array_equal(marked, samples.astype(np.float32))


def test_output_is_not_clipped() -> None:
    """The embedder leaves clamping to the writer: a full-scale input may come out above 1."""
    speech = clip("speech", 6.0, 16000)
    loud = (speech / np.abs(speech).max()).astype(np.float32)
    marked = embed_audio(loud, 16000, PAYLOAD, key=KEY)
    assert np.abs(marked).max() > 1.0


def test_empty_input_gives_empty_output() -> None:
    assert embed_audio(np.zeros(0, np.float32), 44100, PAYLOAD, key=KEY).shape == (0,)
    assert embed_audio(np.zeros((0, 2), np.float32), 44100, PAYLOAD, key=KEY).shape == (0, 2)


def test_payload_forms_give_the_same_mark() -> None:
    samples = clip("speech", 3.0, 16000)
    as_hex = embed_audio(samples, 16000, PAYLOAD, key=KEY)
    as_bytes = embed_audio(samples, 16000, bytes.fromhex(PAYLOAD), key=KEY)
    as_int = embed_audio(samples, 16000, int(PAYLOAD, 16), key=KEY)
    assert np.array_equal(as_hex, as_bytes)
    assert np.array_equal(as_hex, as_int)
    other = embed_audio(samples, 16000, "fedcba9876543210", key=KEY)
    assert not np.array_equal(as_hex, other)


def test_wrong_channel_count_is_refused() -> None:
    embedder = AudioEmbedder(rate=16000, channels=2, payload=PAYLOAD, key=KEY)
    with pytest.raises(ValueError, match="shape"):
        embedder.push(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="shape"):
        embedder.push(np.zeros((100, 3), np.float32))


def test_integer_samples_are_refused() -> None:
    with pytest.raises(TypeError):
        embed_audio(np.zeros(16000, np.int16), 16000, PAYLOAD, key=KEY)
    with pytest.raises(TypeError):
        detect_audio(np.zeros(16000, np.int16), 16000, key=KEY)


# --- digital silence -----------------------------------------------------------------------


def _far_from_sound(samples: np.ndarray, reach: int) -> np.ndarray:
    """Samples with no non-zero sample (in any channel) within ``reach`` either side."""
    from scipy.ndimage import maximum_filter1d

    loud = np.abs(samples) if samples.ndim == 1 else np.abs(samples).max(axis=1)
    return maximum_filter1d((loud > 0).astype(np.uint8), size=2 * reach + 1) == 0


@pytest.mark.parametrize("channels", [1, 2])
def test_silent_clip_stays_exactly_silent(channels: int) -> None:
    silent = np.zeros((int(12.5 * 44100), channels), np.float32)
    marked = embed_audio(silent if channels > 1 else silent[:, 0], 44100, PAYLOAD, key=KEY)
    assert np.all(marked == 0)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_pauses_of_digital_silence_stay_exactly_silent(rate: int) -> None:
    """Speech-like sound with pauses: every sample a frame (20 ms) away from sound stays 0."""
    speech = clip("speech-like", 12.0, rate, seed=4)
    marked = embed_audio(speech, rate, PAYLOAD, key=KEY)
    quiet = _far_from_sound(speech, reach=int(0.02 * rate))
    assert quiet.mean() > 0.1, "the clip should have pauses"
    assert np.all(marked[quiet] == 0)
    assert np.any(marked[~quiet] != speech[~quiet])


def test_silent_channel_stays_exactly_silent() -> None:
    """A stereo file with one silent channel (and one that falls silent) keeps them silent."""
    music = clip("music", 12.0, 48000)
    stereo = np.zeros((music.shape[0], 3), np.float32)
    stereo[:, 0] = music[:, 0]
    stereo[: 6 * 48000, 2] = music[: 6 * 48000, 1]  # silent from 6 s on
    marked = embed_audio(stereo, 48000, PAYLOAD, key=KEY)
    assert np.all(marked[:, 1] == 0)
    assert np.all(marked[int(6.05 * 48000) :, 2] == 0)
    assert np.any(marked[:, 0] != stereo[:, 0])
    assert_found(detect_audio(marked, 48000, key=KEY))


# --- rates and channels --------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("kind", "channels"), [("speech", 1), ("music", 2)])
def test_every_rate_embeds_and_detects(rate: int, kind: str, channels: int) -> None:
    original = clip(kind, 12.0, rate, channels=channels)
    marked = embed_audio(original, rate, PAYLOAD, key=KEY)
    assert marked.shape == original.shape
    assert_found(detect_audio(marked, rate, key=KEY))


@pytest.mark.parametrize("channels", range(1, 9))
def test_every_channel_count_embeds_and_detects(channels: int) -> None:
    original = clip("music", 12.0, 48000, channels=channels)
    marked = embed_audio(original, 48000, PAYLOAD, key=KEY)
    assert marked.shape == original.shape
    assert_found(detect_audio(marked, 48000, key=KEY))


@pytest.mark.parametrize("rate", [0, -44100, 4000, 7999, 192001, 384000])
def test_rate_out_of_range_is_refused(rate: int) -> None:
    samples = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match="rate"):
        embed_audio(samples, rate, PAYLOAD, key=KEY)
    with pytest.raises(ValueError, match="rate"):
        AudioEmbedder(rate=rate, channels=1, payload=PAYLOAD, key=KEY)
    with pytest.raises(ValueError, match="rate"):
        detect_audio(samples, rate, key=KEY)
    with pytest.raises(ValueError, match="rate"):
        AudioDetector(rate=rate, key=KEY)


def test_non_integer_rate_is_refused() -> None:
    with pytest.raises(TypeError):
        embed_audio(np.zeros(16000, np.float32), 16000.0, PAYLOAD, key=KEY)
    with pytest.raises(TypeError):
        detect_audio(np.zeros(16000, np.float32), 16000.0, key=KEY)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(bad: float) -> None:
    samples = clip("speech", 3.0, 16000).copy()
    samples[12345] = bad
    with pytest.raises(ValueError, match="finite"):
        embed_audio(samples, 16000, PAYLOAD, key=KEY)
    embedder = AudioEmbedder(rate=16000, channels=1, payload=PAYLOAD, key=KEY)
    embedder.push(samples[:10000])
    with pytest.raises(ValueError, match="finite"):
        embedder.push(samples[10000:20000])


# --- keys, offsets, false alarms -----------------------------------------------------------


@pytest.mark.parametrize("key", ["another key", "audio-api-test-keY", b"audio-api-test-key\x00"])
def test_wrong_key_is_not_detected(music_44k: tuple[np.ndarray, np.ndarray], key: str) -> None:
    _, marked = music_44k
    result = detect_audio(marked, 44100, key=key)
    assert not result.detected
    assert result.payload is None
    assert result.offset is None
    assert 0.0 <= result.false_alarm <= 1.0


def test_default_key_is_not_a_custom_key(speech_16k: tuple[np.ndarray, np.ndarray]) -> None:
    _, marked = speech_16k
    assert not detect_audio(marked, 16000).detected


def _circular_gap(a: float, b: float) -> float:
    return abs((a - b + PERIOD_SECONDS / 2) % PERIOD_SECONDS - PERIOD_SECONDS / 2)


@pytest.mark.parametrize("seconds", [0.0, 1 / 44100, 0.28, 3.21, 7.3 + 7 / 44100, 9.99])
def test_offset_of_an_excerpt_is_consistent(
    music_44k: tuple[np.ndarray, np.ndarray], seconds: float
) -> None:
    """A period starts at ``offset`` in the input: in ``x[k:]`` it is ``offset(x) - k`` mod 10 s."""
    _, marked = music_44k
    first = round(seconds * 44100)
    whole = detect_audio(marked, 44100, key=KEY)
    assert_found(whole)
    assert whole.offset is not None
    assert _circular_gap(whole.offset, 0.0) <= OFFSET_TOLERANCE  # marking starts a period
    part = detect_audio(marked[first:], 44100, key=KEY)
    assert_found(part)
    assert part.offset is not None
    expected = (whole.offset - first / 44100) % PERIOD_SECONDS
    assert _circular_gap(part.offset, expected) <= OFFSET_TOLERANCE
    assert part.speed == 1.0
    assert part.seconds == pytest.approx((marked.shape[0] - first) / 44100)


def test_detection_reports_a_small_false_alarm(music_44k: tuple[np.ndarray, np.ndarray]) -> None:
    _, marked = music_44k
    result = detect_audio(marked, 44100, key=KEY)
    assert_found(result)
    assert result.false_alarm <= 1e-6
    assert result.to_dict()["payload"] == PAYLOAD


# --- the playback-speed search -------------------------------------------------------------


def _speed(speed: float) -> audio_search._Stretch:
    """The search's hypothesis for a playback-speed change (time and pitch together)."""
    return audio_search._Stretch(speed, speed, "speed")


def test_speed_search_does_not_refold_the_signal_per_speed(
    monkeypatch: pytest.MonkeyPatch, speech_16k: tuple[np.ndarray, np.ndarray]
) -> None:
    """Unmarked audio always runs the whole speed search, so its passes (152 coarse speeds,
    then 22 fine ones) must read the speeds from spectrograms: the signal is framed and
    FFT-ed again only for the few fine speeds rechecked and the full folds."""
    folds: list[float] = []
    fold_at = audio_search.fold_at

    def counting(mono: np.ndarray, grid: object) -> object:
        folds.append(grid.speed)  # type: ignore[attr-defined]
        return fold_at(mono, grid)

    monkeypatch.setattr(audio_search, "fold_at", counting)
    original, _ = speech_16k
    assert not detect_audio(original, 16000, key=KEY).detected
    fine = audio_search.FINE_RECHECK * 2  # offsets 0 and 2
    full = audio_search.SPEED_KEEP * audio_detect.SUB_OFFSETS
    assert fine <= len(folds) <= fine + full


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("speed", [0.8, 0.862, 0.93, 1.0, 1.08, 1.25])
def test_spectrogram_reads_each_speed_as_its_own_grid(rate: int, speed: float) -> None:
    """The coarse pass's features at a speed, read from a spectrogram made for the nearest
    design speed, follow those of the watermark's own grid at that speed (same frames, same
    bins, same detrend): time and frequency are stretched the right way round."""
    samples = np.array(clip("music", 6.0, rate, channels=1))
    decimator = audio_detect._Decimator(rate)
    mono, mono_rate = audio_search.half_rate(decimator(samples), decimator.rate_out)
    nearest = min(audio_search.SPECTROGRAM_SPEEDS, key=lambda made: abs(np.log(speed / made)))
    spectrogram = audio_search._Spectrogram.of(mono, mono_rate, _speed(nearest))
    read = spectrogram.features_at(_speed(speed), 1)
    framed = audio_search.fold_at(mono, audio_detect.FrameGrid(speed, 1, mono_rate))
    live = audio_detect.live_bins(mono_rate / speed)
    assert read.shape == (framed.done, live)
    assert np.all(framed.sums[:, live:] == 0)
    together = np.corrcoef(read.ravel(), framed.sums[: framed.done, :live].ravel())[0, 1]
    assert together > 0.9


@pytest.mark.parametrize("seconds", [6.0, 12.0])
def test_sync_peak_of_a_spectrogram_is_its_folds_score(seconds: float) -> None:
    """The coarse pass scores the resampled features without building a fold: the same score
    as the fold of those features, also for a head longer than one period (which folds)."""
    rate = 16000
    mono = np.array(clip("noise", seconds, rate), dtype=np.float32)
    spectrogram = audio_search._Spectrogram.of(mono, rate, _speed(1.0))
    layout = audio_layout(KEY)
    features = spectrogram.features_at(_speed(1.03), 2)
    assert (features.shape[0] > PERIOD) == (seconds > PERIOD_SECONDS)
    fold = audio_detect.FrameFold(audio_detect.FrameGrid(1.03, 2, rate))
    fold_features(fold.sums, fold.squares, features, 0)
    expected = float(audio_detect.sync_scores(fold, layout).max())
    assert spectrogram.sync_peak(_speed(1.03), 2, layout) == pytest.approx(expected, rel=1e-5)
