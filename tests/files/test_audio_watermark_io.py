"""Audio watermark on files: ``embed_audio_file`` and ``detect_audio_file``, streamed.

Round trips through every format soundfile writes (WAV 16/24-bit and float, FLAC, OGG/Vorbis,
MP3), with the format, subtype, rate and channels kept and the input untouched; the result is
the same as the in-memory embedder's whatever the block size; the segmental SNR computed while
streaming is the one the watermark's tests define; memory does not grow with the length; and
every kind of bad input is one error with a one-line message, leaving nothing behind.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import marking
from marking.errors import (
    InputError,
    InputTooSmallError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.files.audio import detect_audio_file, embed_audio_file
from marking.watermark.audio import FRAMES_PER_SECOND, PERIOD, detect_audio, embed_audio
from tests.support.audio_attacks import segmental_snr
from tests.support.audio_clips import clip

KEY = "audio-file-test-key"
PAYLOAD = "00c0ffee12345678"
PERIOD_SECONDS = PERIOD / FRAMES_PER_SECOND
SECONDS = 12.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, samples: np.ndarray, rate: int, fmt: str, subtype: str) -> Path:
    sf.write(path, samples, rate, format=fmt, subtype=subtype)
    return path


def offset_error(offset: float, expected: float) -> float:
    """Distance between two period starts, modulo the period."""
    difference = (offset - expected) % PERIOD_SECONDS
    return min(difference, PERIOD_SECONDS - difference)


def _mp3_writable() -> bool:
    return bool(sf.check_format("MP3", "MPEG_LAYER_III"))


# (name, clip kind, rate, format, subtype): speech is mono, the tabla loop stereo.
FORMATS = [
    ("wav16.wav", "speech", 44100, "WAV", "PCM_16"),
    ("wav24.wav", "music", 48000, "WAV", "PCM_24"),
    ("float.wav", "speech", 48000, "WAV", "FLOAT"),
    ("music.flac", "music", 44100, "FLAC", "PCM_16"),
    ("speech.ogg", "speech", 44100, "OGG", "VORBIS"),
    pytest.param(
        "speech.mp3",
        "speech",
        44100,
        "MP3",
        "MPEG_LAYER_III",
        marks=pytest.mark.skipif(not _mp3_writable(), reason="this libsndfile cannot write MP3"),
    ),
]


@pytest.mark.parametrize(("name", "kind", "rate", "fmt", "subtype"), FORMATS)
def test_round_trip_keeps_the_format_and_finds_the_payload(
    tmp_path: Path, name: str, kind: str, rate: int, fmt: str, subtype: str
) -> None:
    original = clip(kind, SECONDS, rate)
    source = write(tmp_path / name, original, rate, fmt, subtype)
    digest = sha256(source)
    target = tmp_path / f"marked-{name}"

    record = embed_audio_file(source, target, key=KEY, payload=PAYLOAD)

    assert sha256(source) == digest
    before, after = sf.info(source), sf.info(target)
    assert (after.format, after.subtype) == (fmt, subtype)
    assert (after.samplerate, after.channels) == (before.samplerate, before.channels)
    if fmt in ("WAV", "FLAC"):
        assert after.frames == before.frames
    assert record == {
        "input": str(source),
        "output": str(target),
        "kind": "audio",
        "payload": PAYLOAD,
        "snr_db": record["snr_db"],
        "format": fmt,
        "subtype": subtype,
        "sample_rate": rate,
        "channels": before.channels,
        "duration_s": pytest.approx(before.frames / rate, abs=0.05),
    }
    assert 25.0 <= record["snr_db"] <= 35.0
    assert set(tmp_path.iterdir()) == {source, target}  # no temporary file left

    found = detect_audio_file(target, key=KEY)
    assert found["detected"] is True
    assert found["payload"] == PAYLOAD
    assert found["false_alarm"] <= 1e-6
    assert found["speed"] == 1.0
    assert offset_error(found["offset"], 0.0) < 0.05
    assert found["kind"] == "audio"
    assert found["input"] == str(target)


def test_streamed_file_equals_the_whole_signal_embedding(tmp_path: Path) -> None:
    original = np.array(clip("music", SECONDS, 48000))
    source = write(tmp_path / "in.wav", original, 48000, "WAV", "FLOAT")
    expected = embed_audio(original, 48000, PAYLOAD, key=KEY)
    for blocksize in (3000, 65536):
        target = tmp_path / f"out-{blocksize}.wav"
        record = embed_audio_file(source, target, key=KEY, payload=PAYLOAD, blocksize=blocksize)
        marked, _ = sf.read(target, dtype="float32")
        np.testing.assert_array_equal(marked, expected)
        # The SNR measured while streaming is the one the watermark's tests define.
        assert record["snr_db"] == pytest.approx(segmental_snr(original, marked, 48000), abs=1e-9)


@pytest.mark.parametrize("places", [("start",), ("start", "middle", "end")])
def test_cue_and_watermark_in_one_pass(tmp_path: Path, places: tuple[str, ...]) -> None:
    """The cue goes in first and the watermark covers it: the same samples as adding the cue
    to the whole signal and marking that, for any block size."""
    from marking.labels.audio_cue import CueSettings, add_cue

    original = np.array(clip("speech", SECONDS, 48000))
    source = write(tmp_path / "in.wav", original, 48000, "WAV", "FLOAT")
    cue = CueSettings(places=frozenset(places))
    cued, _ = add_cue(original[:, None], 48000, cue)
    cued = cued[:, 0]  # a mono file reads back as (n,)
    expected = embed_audio(cued, 48000, PAYLOAD, key=KEY)
    for blocksize in (3000, 65536):
        target = tmp_path / f"out-{blocksize}.wav"
        record = embed_audio_file(
            source, target, key=KEY, payload=PAYLOAD, blocksize=blocksize, cue=cue
        )
        marked, _ = sf.read(target, dtype="float32")
        np.testing.assert_array_equal(marked, expected)
        assert record["duration_s"] == pytest.approx(len(cued) / 48000)
        assert len(record["placements"]) == len(places)
        assert record["snr_db"] == pytest.approx(segmental_snr(cued, marked, 48000), abs=1e-9)
    assert detect_audio_file(target, key=KEY)["payload"] == PAYLOAD


def test_clip_shorter_than_the_embedder_latency(tmp_path: Path) -> None:
    original = np.array(clip("speech", 1.5, 44100))
    source = write(tmp_path / "short.wav", original, 44100, "WAV", "FLOAT")
    target = tmp_path / "short-marked.wav"
    record = embed_audio_file(source, target, key=KEY, payload=PAYLOAD, blocksize=4096)
    marked, _ = sf.read(target, dtype="float32")
    assert marked.shape == original.shape
    assert not np.array_equal(marked, original)
    assert record["snr_db"] == pytest.approx(segmental_snr(original, marked, 44100), abs=1e-9)


def test_offset_of_an_excerpt(tmp_path: Path) -> None:
    rate = 44100
    marked = embed_audio(np.array(clip("speech", 15.0, rate)), rate, PAYLOAD, key=KEY)
    start = 3.7
    excerpt = write(tmp_path / "excerpt.flac", marked[int(start * rate) :], rate, "FLAC", "PCM_16")
    found = detect_audio_file(excerpt, key=KEY)
    assert found["detected"] is True
    assert found["payload"] == PAYLOAD
    assert offset_error(found["offset"], PERIOD_SECONDS - start) < 0.05


def test_unmarked_and_wrong_key_are_not_detected(tmp_path: Path) -> None:
    rate = 48000
    original = np.array(clip("music", SECONDS, rate))
    source = write(tmp_path / "music.flac", original, rate, "FLAC", "PCM_24")
    target = tmp_path / "marked.flac"
    embed_audio_file(source, target, key=KEY, payload=PAYLOAD)
    for path, key in ((source, KEY), (target, "another key"), (target, None)):
        found = detect_audio_file(path, key=key)
        assert found["detected"] is False
        assert found["payload"] is None
        assert found["offset"] is None
        assert found["false_alarm"] > 1e-6


def test_random_payload_and_default_key(tmp_path: Path) -> None:
    source = write(tmp_path / "in.wav", clip("speech", SECONDS, 44100), 44100, "WAV", "PCM_16")
    first = embed_audio_file(source, tmp_path / "a.wav")
    second = embed_audio_file(source, tmp_path / "b.wav")
    assert first["payload"] != second["payload"]
    assert len(bytes.fromhex(first["payload"])) == 8
    assert detect_audio_file(tmp_path / "a.wav")["payload"] == first["payload"]


def test_digital_silence_stays_silent(tmp_path: Path) -> None:
    source = write(tmp_path / "silence.wav", np.zeros((3 * 16000, 2)), 16000, "WAV", "PCM_16")
    target = tmp_path / "silence-marked.wav"
    record = embed_audio_file(source, target, key=KEY)
    assert record["snr_db"] is None
    assert np.array_equal(sf.read(target, dtype="int16")[0], sf.read(source, dtype="int16")[0])


def test_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    peaks = []
    for seconds in (20, 80):
        source = write(
            tmp_path / f"{seconds}.flac", clip("speech", seconds, 16000), 16000, "FLAC", "PCM_16"
        )
        target = tmp_path / f"{seconds}-marked.flac"
        tracemalloc.start()
        try:
            embed_audio_file(source, target, blocksize=16384)
            embedding = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            assert detect_audio_file(target, blocksize=16384)["detected"]
            detecting = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        peaks.append((embedding, detecting))
    (short_embed, short_detect), (long_embed, long_detect) = peaks
    # The 80 s file decodes to 10 MB of float64; the peaks stay where the 20 s file's were.
    assert long_embed < 1.25 * short_embed + 1e6
    assert long_detect < 1.25 * short_detect + 1e6


def test_lazy_exports() -> None:
    assert marking.embed_audio_file is embed_audio_file
    assert marking.detect_audio_file is detect_audio_file
    assert marking.embed_audio is embed_audio
    assert marking.detect_audio is detect_audio
    assert marking.AudioEmbedder.__name__ == "AudioEmbedder"
    assert marking.AudioDetector.__name__ == "AudioDetector"


# --- bad input --------------------------------------------------------------------------------


@pytest.fixture
def speech_flac(tmp_path: Path) -> Path:
    return write(tmp_path / "speech.flac", clip("speech", 4.0, 16000), 16000, "FLAC", "PCM_16")


def bad_audio(tmp_path: Path, problem: str, speech_flac: Path) -> Path:
    """A file that cannot be marked, by what is wrong with it."""
    path = tmp_path / f"bad-{problem.replace(' ', '-')}"
    if problem == "missing":
        return path.with_suffix(".wav")
    if problem == "empty":
        path = path.with_suffix(".wav")
        path.touch()
    elif problem == "truncated FLAC":
        path = path.with_suffix(".flac")
        path.write_bytes(speech_flac.read_bytes()[:20000])
    elif problem == "text named .mp3":
        path = path.with_suffix(".mp3")
        path.write_text("not audio at all\n")
    return path


@pytest.mark.parametrize("problem", ["missing", "empty", "truncated FLAC", "text named .mp3"])
def test_bad_input_is_one_line_input_error(tmp_path: Path, speech_flac: Path, problem: str) -> None:
    path = bad_audio(tmp_path, problem, speech_flac)
    target = tmp_path / f"out{path.suffix}"
    for run in (
        lambda: embed_audio_file(path, target, key=KEY),
        lambda: detect_audio_file(path, key=KEY),
    ):
        with pytest.raises(InputError) as caught:
            run()
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"{path}: ")
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file


def test_too_short_and_odd_rates_are_refused(tmp_path: Path) -> None:
    short = write(tmp_path / "short.wav", clip("speech", 0.5, 16000), 16000, "WAV", "PCM_16")
    with pytest.raises(InputTooSmallError, match="too short"):
        embed_audio_file(short, tmp_path / "out.wav")
    with pytest.raises(InputTooSmallError, match="too short"):
        detect_audio_file(short)
    slow = write(tmp_path / "6k.wav", np.zeros(6000 * 3), 6000, "WAV", "PCM_16")
    with pytest.raises(UnsupportedInputError, match="6000 Hz"):
        embed_audio_file(slow, tmp_path / "out.wav")
    with pytest.raises(UnsupportedInputError, match="6000 Hz"):
        detect_audio_file(slow)
    assert not (tmp_path / "out.wav").exists()


def test_not_finite_samples_are_an_input_error(tmp_path: Path) -> None:
    samples = np.array(clip("speech", 4.0, 16000))
    samples[20000] = np.nan
    source = write(tmp_path / "nan.wav", samples, 16000, "WAV", "FLOAT")
    with pytest.raises(InputError, match="NaN"):
        embed_audio_file(source, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


def test_output_problems(tmp_path: Path, speech_flac: Path) -> None:
    digest = sha256(speech_flac)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        embed_audio_file(speech_flac, speech_flac)
    with pytest.raises(OutputError, match="does not exist"):
        embed_audio_file(speech_flac, tmp_path / "nowhere" / "out.flac")
    with pytest.raises(UsageError, match="suffix"):
        embed_audio_file(speech_flac, tmp_path / "out.wav")
    with pytest.raises(UsageError, match="payload"):
        embed_audio_file(speech_flac, tmp_path / "out.flac", payload="xyz")
    for strength in (0, -1, 4.5, float("nan")):
        with pytest.raises(UsageError, match="strength"):
            embed_audio_file(speech_flac, tmp_path / "out.flac", strength=strength)
    assert sha256(speech_flac) == digest
    assert not (tmp_path / "out.flac").exists()
