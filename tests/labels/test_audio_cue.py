"""The audible label (marking.labels.audio_cue): Morse timing, placement, mixing, speech, files."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from marking.errors import (
    InputError,
    InputTooSmallError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.files.audio import detect_morse_file, label_audio_file
from marking.labels.audio_cue import (
    MORSE_AI,
    MORSE_AI_TIMING,
    CuePlacement,
    CueSettings,
    CueWriter,
    add_cue,
    morse_cue,
    morse_timing,
    speech_cue,
)
from marking.labels.morse_reader import detect_morse

AI_PRINTED = "\u00b7\u2212 \u00b7\u00b7"  # dot dash, dot dot
EXPECTED_ON_UNITS = (1, 3, 1, 1)
EXPECTED_OFF_UNITS = (1, 3, 1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def content(rate: int, seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    """Programme-like test audio: a 220 Hz tone with a little noise, peak about 0.45."""
    rng = np.random.default_rng(seed)
    frames = round(rate * seconds)
    t = np.arange(frames) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None]
    noise = 0.03 * rng.standard_normal((frames, channels))
    return (tone + noise).astype(np.float32)


def assert_ai_rhythm(hit_on: tuple[float, ...], hit_off: tuple[float, ...], unit: float) -> None:
    """Every tone and gap within 10 % of the Morse ratios."""
    assert len(hit_on) == 4
    assert len(hit_off) == 3
    for measured, units in zip(hit_on, EXPECTED_ON_UNITS, strict=True):
        assert measured == pytest.approx(units * unit, rel=0.1)
    for measured, units in zip(hit_off, EXPECTED_OFF_UNITS, strict=True):
        assert measured == pytest.approx(units * unit, rel=0.1)


def test_morse_constants() -> None:
    assert MORSE_AI == AI_PRINTED
    assert MORSE_AI_TIMING == (
        (True, 1),
        (False, 1),
        (True, 3),
        (False, 3),
        (True, 1),
        (False, 1),
        (True, 1),
    )
    with pytest.raises(UsageError, match="unknown symbol"):
        morse_timing("x")


@pytest.mark.parametrize(
    ("rate", "unit", "channels"),
    [
        (8000, 0.05, 1),
        (8000, 0.1, 2),
        (44100, 0.1, 2),
        (44100, 0.2, 1),
        (48000, 0.03, 2),
        (48000, 0.1, 6),
        (96000, 0.05, 6),
        (96000, 0.1, 2),
    ],
)
def test_morse_reads_back_with_configured_timing(rate: int, unit: float, channels: int) -> None:
    cue_settings = CueSettings(unit_s=unit)
    samples = content(rate, 1.0, channels)
    out, placements = add_cue(samples, rate, cue_settings)
    hits = detect_morse(out, rate, cue_settings)
    assert len(hits) == 1
    (hit,) = hits
    assert hit.pattern == AI_PRINTED
    assert hit.is_ai
    assert hit.matches(unit, tolerance=0.1)
    assert_ai_rhythm(hit.on_s, hit.off_s, unit)
    # The first rise is half a ramp into the cue, the last fall half a ramp before its end.
    half_ramp = cue_settings.ramp_s / 2 * rate
    assert hit.start == pytest.approx(placements[0].start + half_ramp, abs=2 + 0.0005 * rate)
    assert hit.end == pytest.approx(placements[0].end - half_ramp, abs=2 + 0.0005 * rate)
    # Same cue on every channel.
    cue = out[placements[0].start : placements[0].end]
    assert np.array_equal(cue, np.repeat(cue[:, :1], channels, axis=1))


def test_cue_length_and_tone_frequency() -> None:
    rate, unit = 48000, 0.1
    cue_settings = CueSettings(unit_s=unit, tone_hz=1000)
    cue = morse_cue(rate, 1, cue_settings)
    assert cue.dtype == np.float32
    assert cue.shape == (round((11 * unit + cue_settings.ramp_s) * rate) + 1, 1)
    spectrum = np.abs(np.fft.rfft(cue[:, 0]))
    peak_hz = np.argmax(spectrum) * rate / len(cue)
    assert peak_hz == pytest.approx(1000, abs=2)
    # The detector is tuned: an 800 Hz reader does not hear a 1000 Hz cue, a 1000 Hz one does.
    assert detect_morse(cue, rate, CueSettings(unit_s=unit, tone_hz=800)) == []
    assert detect_morse(cue, rate, cue_settings)[0].is_ai


@pytest.mark.parametrize("level", [0.0, -6.0, -12.0, -30.0])
def test_cue_peak_level(level: float) -> None:
    cue = morse_cue(44100, 2, CueSettings(level_dbfs=level))
    amplitude = 10 ** (level / 20)
    assert np.max(np.abs(cue)) <= amplitude * (1 + 1e-6)
    assert np.max(np.abs(cue)) >= amplitude * 0.99


@pytest.mark.parametrize("rate", [8000, 48000])
def test_tones_ramp_without_clicks(rate: int) -> None:
    cue_settings = CueSettings()
    cue = morse_cue(rate, 1, cue_settings)[:, 0].astype(np.float64)
    amplitude, ramp = cue_settings.amplitude, cue_settings.ramp_s
    assert cue[0] == 0.0
    assert cue[-1] == 0.0
    # Each tone fades in from and out to zero: near every nominal edge (+-half a ramp) the
    # samples stay far below full amplitude, right at the ramp's outer end close to zero.
    edges_units = [0, 1, 2, 5, 8, 9, 10, 11]
    for units in edges_units:
        centre = round((units * cue_settings.unit_s + ramp / 2) * rate)
        outer = round(ramp / 2 * rate * 0.2)
        rising = units in (0, 2, 8, 10)
        near_zero = (
            cue[centre - outer * 5 : centre - outer * 4]
            if rising
            else cue[centre + outer * 4 : centre + outer * 5 + 1]
        )
        assert np.max(np.abs(near_zero)) < 0.03 * amplitude
    # No sample-to-sample jump larger than the tone's own slope plus the ramp's.
    slope = amplitude * (2 * np.pi * cue_settings.tone_hz + np.pi / (2 * ramp)) / rate
    assert np.max(np.abs(np.diff(cue))) <= slope * 1.01


def test_prepend_start_keeps_content() -> None:
    rate = 44100
    cue_settings = CueSettings()
    samples = content(rate, 2.0, 2)
    original = samples.copy()
    out, placements = add_cue(samples, rate, cue_settings)
    cue_len = len(morse_cue(rate, 2, cue_settings))
    gap = round(cue_settings.gap_s * rate)
    assert np.array_equal(samples, original)  # input untouched
    assert len(out) == len(samples) + cue_len + gap
    assert placements == [CuePlacement("start", 0, cue_len)]
    assert np.all(out[cue_len : cue_len + gap] == 0)
    assert np.array_equal(out[cue_len + gap :], samples)


def test_prepend_all_places() -> None:
    rate = 16000
    cue_settings = CueSettings(places={"start", "middle", "end"})
    samples = content(rate, 3.0, 1)
    n = len(samples)
    out, placements = add_cue(samples, rate, cue_settings)
    cue = morse_cue(rate, 1, cue_settings)
    cue_len, gap = len(cue), round(cue_settings.gap_s * rate)
    assert len(out) == n + 3 * cue_len + 4 * gap
    middle_start = cue_len + gap + n // 2 + gap
    end_start = len(out) - cue_len
    assert placements == [
        CuePlacement("start", 0, cue_len),
        CuePlacement("middle", middle_start, middle_start + cue_len),
        CuePlacement("end", end_start, len(out)),
    ]
    for placement in placements:
        assert np.array_equal(out[placement.start : placement.end], cue)
    # The content, split at its midpoint, with nothing covered.
    first = out[cue_len + gap : cue_len + gap + n // 2]
    second = out[middle_start + cue_len + gap : end_start - gap]
    assert np.array_equal(np.concatenate((first, second)), samples)
    hits = detect_morse(out, rate, cue_settings)
    assert [hit.is_ai for hit in hits] == [True, True, True]
    for hit, placement in zip(hits, placements, strict=True):
        assert placement.start < hit.start < hit.end < placement.end


def test_mix_keeps_length_and_covers_only_the_cue_spans() -> None:
    rate = 22050
    cue_settings = CueSettings(places={"start", "middle", "end"}, mode="mix")
    samples = content(rate, 6.0, 2)
    n = len(samples)
    out, placements = add_cue(samples, rate, cue_settings)
    cue_len = len(morse_cue(rate, 2, cue_settings))
    assert out.shape == samples.shape
    middle = n // 2 - cue_len // 2
    assert placements == [
        CuePlacement("start", 0, cue_len),
        CuePlacement("middle", middle, middle + cue_len),
        CuePlacement("end", n - cue_len, n),
    ]
    outside = np.ones(n, dtype=bool)
    for placement in placements:
        outside[placement.start : placement.end] = False
    assert np.array_equal(out[outside], samples[outside])
    hits = detect_morse(out, rate, cue_settings)
    assert len(hits) == 3
    for hit, placement in zip(hits, placements, strict=True):
        assert hit.matches(cue_settings.unit_s)
        assert placement.start < hit.start < hit.end < placement.end


def test_cue_found_among_stray_tones() -> None:
    """Content with bursts near the tone frequency right after a mixed cue (as speech has)."""
    rate = 16000
    cue_settings = CueSettings(mode="mix")
    samples = np.zeros((4 * rate, 1), np.float32)
    burst_t = np.arange(round(0.06 * rate)) / rate
    burst = 0.3 * np.sin(2 * np.pi * 790 * burst_t)
    for start_s in (1.35, 1.6, 2.5):  # 2.5 and 5 units after the cue's last tone
        start = round(start_s * rate)
        samples[start : start + len(burst), 0] = burst
    out, _ = add_cue(samples, rate, cue_settings)
    hits = detect_morse(out, rate, cue_settings)
    cues = [hit for hit in hits if hit.is_ai]
    assert len(cues) == 1
    assert cues[0].matches(cue_settings.unit_s)
    assert len(hits) > 1  # the bursts are reported too, as separate groups


@pytest.mark.parametrize("level", [0.0, -3.0, -12.0])
def test_mix_never_clips(level: float) -> None:
    rate = 8000
    cue_settings = CueSettings(places={"start", "end"}, mode="mix", level_dbfs=level)
    rng = np.random.default_rng(1)
    # Full-scale content: a square wave at +-1 with full-scale noise bursts.
    square = np.sign(np.sin(2 * np.pi * 50 * np.arange(4 * rate) / rate))
    samples = np.clip(square[:, None] + rng.uniform(-2, 2, (4 * rate, 2)), -1, 1)
    out, _ = add_cue(samples.astype(np.float32), rate, cue_settings)
    assert np.max(np.abs(out)) <= 1.0
    assert np.all(np.isfinite(out))


def test_mixed_speech_never_clips(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.wav"
    write_chirp(prompt, 16000, 0.6)
    cue_settings = CueSettings(kind="speech", speech_path=prompt, mode="mix", level_dbfs=-1)
    rate = 16000
    rng = np.random.default_rng(2)
    samples = np.clip(rng.uniform(-3, 3, (2 * rate, 1)), -1, 1).astype(np.float32)
    out, placements = add_cue(samples, rate, cue_settings)
    assert placements == [CuePlacement("start", 0, round(0.6 * rate))]
    assert np.max(np.abs(out)) <= 1.0
    assert np.array_equal(out[placements[0].end :], samples[placements[0].end :])


def test_mix_too_short_content() -> None:
    rate = 8000
    samples = content(rate, 0.5, 1)  # shorter than the 1.1 s cue
    with pytest.raises(InputTooSmallError, match="too short"):
        add_cue(samples, rate, CueSettings(mode="mix"))
    with pytest.raises(InputTooSmallError, match="too short"):
        add_cue(content(rate, 2.0, 1), rate, CueSettings(places={"start", "end"}, mode="mix"))


def test_prepend_empty_content() -> None:
    cue_settings = CueSettings(places={"start", "middle", "end"})
    out, placements = add_cue(np.zeros((0, 2), np.float32), 8000, cue_settings)
    assert [placement.place for placement in placements] == ["start", "middle", "end"]
    assert len(detect_morse(out, 8000, cue_settings)) == 3


PLACE_SETS = [{"start"}, {"middle"}, {"end"}, {"start", "end"}, {"start", "middle", "end"}]


@settings(max_examples=30, deadline=None)
@given(
    places=st.sampled_from(PLACE_SETS),
    mode=st.sampled_from(["prepend", "mix"]),
    cuts=st.lists(st.integers(0, 40000), max_size=6),
)
def test_streaming_equals_whole_array(places: set[str], mode: str, cuts: list[int]) -> None:
    rate = 8000
    cue_settings = CueSettings(places=places, mode=mode, unit_s=0.05)
    samples = content(rate, 5.0, 2, seed=3)
    expected, expected_placements = add_cue(samples, rate, cue_settings)
    writer = CueWriter(rate, 2, cue_settings, len(samples))
    edges = [0, *sorted(cuts), len(samples)]
    blocks = [samples[a:b] for a, b in itertools.pairwise(edges)]
    pieces = list(writer.stream(blocks))
    assert np.array_equal(np.concatenate(pieces), expected)
    assert writer.placements == expected_placements
    assert writer.frames_in == len(samples)
    assert writer.frames_out == len(expected)


def write_chirp(path: Path, rate: int, seconds: float, channels: int = 1) -> None:
    """A linear chirp 300 -> 3000 Hz at half scale, as a stand-in for a spoken prompt."""
    t = np.arange(round(rate * seconds)) / rate
    f0, f1 = 300.0, 3000.0
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    chirp = 0.5 * np.sin(phase)
    sf.write(path, np.repeat(chirp[:, None], channels, axis=1), rate, subtype="PCM_16")


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_speech_prompt_is_resampled_and_prepended(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.wav"
    write_chirp(prompt, 22050, 1.0)
    rate, channels = 48000, 2
    cue_settings = CueSettings(kind="speech", speech_path=prompt, level_dbfs=-6)
    cue = speech_cue(rate, channels, cue_settings)
    assert cue.shape == (48000, 2)
    # Peak scaled to the level (before the 5 ms fades, which may trim the very top).
    assert 0.97 * 10 ** (-6 / 20) <= np.max(np.abs(cue)) <= 10 ** (-6 / 20) * (1 + 1e-6)
    assert np.all(cue[0] == 0)
    assert np.all(cue[-1] == 0)
    # Resampled, not just relabelled: the chirp is at 300 + 2700 * t Hz at time t.
    for when in (0.25, 0.5, 0.75):
        segment = cue[round((when - 0.02) * rate) : round((when + 0.02) * rate), 0]
        assert dominant_hz(segment, rate) == pytest.approx(300 + 2700 * when, abs=60)
    samples = content(rate, 1.0, channels)
    out, placements = add_cue(samples, rate, cue_settings)
    gap = round(cue_settings.gap_s * rate)
    assert placements == [CuePlacement("start", 0, len(cue))]
    assert np.array_equal(out[: len(cue)], cue)
    assert np.array_equal(out[len(cue) + gap :], samples)


def test_speech_prompt_channel_matching(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.flac"
    write_chirp(prompt, 16000, 0.5, channels=2)
    cue = speech_cue(44100, 6, CueSettings(kind="speech", speech_path=prompt))
    assert cue.shape == (22050, 6)
    assert np.array_equal(cue, np.repeat(cue[:, :1], 6, axis=1))
    mono = speech_cue(8000, 1, CueSettings(kind="speech", speech_path=prompt))
    assert mono.shape == (4000, 1)


def test_speech_prompt_errors(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(8000), 8000)
    with pytest.raises(InputError, match="silent"):
        speech_cue(8000, 1, CueSettings(kind="speech", speech_path=silent))
    with pytest.raises(InputError, match="no such file"):
        speech_cue(8000, 1, CueSettings(kind="speech", speech_path=tmp_path / "missing.wav"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "beep"}, "cue kind"),
        ({"mode": "overlay"}, "cue mode"),
        ({"places": {"start", "top"}}, "places"),
        ({"places": set()}, "places"),
        ({"level_dbfs": 3.0}, "level_dbfs"),
        ({"level_dbfs": float("nan")}, "level_dbfs"),
        ({"unit_s": 0.001}, "unit_s"),
        ({"gap_s": -1.0}, "gap_s"),
        ({"unit_s": 0.01, "ramp_s": 0.008}, "half of unit_s"),
        ({"kind": "speech"}, "speech_path"),
        ({"speech_path": "x.wav"}, "speech_path"),
    ],
)
def test_settings_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CueSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_normalise_places_and_rate_limits() -> None:
    assert CueSettings(places="end").places == frozenset({"end"})
    assert CueSettings(places=["start", "end"]).places == frozenset({"start", "end"})
    with pytest.raises(UsageError, match="cannot be played"):
        morse_cue(8000, 1, CueSettings(tone_hz=5000))
    with pytest.raises(UsageError, match="total length"):
        CueWriter(8000, 1, CueSettings(places={"middle"}))
    with pytest.raises(UsageError, match="shape"):
        add_cue(np.zeros(100, np.float32), 8000, CueSettings())


# -- files -------------------------------------------------------------------------------

FILE_CASES = [
    ("wav", "WAV", "PCM_16", 44100, 2),
    ("wav", "WAV", "PCM_24", 48000, 1),
    ("wav", "WAV", "FLOAT", 96000, 6),
    ("flac", "FLAC", "PCM_16", 48000, 2),
    ("flac", "FLAC", "PCM_24", 44100, 1),
    ("ogg", "OGG", "VORBIS", 44100, 2),
    ("opus", "OGG", "OPUS", 48000, 1),
    ("mp3", "MP3", "MPEG_LAYER_III", 44100, 2),
    ("mp3", "MP3", "MPEG_LAYER_III", 22050, 1),
]
LOSSLESS = {"PCM_16", "PCM_24", "FLOAT"}


@pytest.mark.parametrize(("ext", "fmt", "subtype", "rate", "channels"), FILE_CASES)
def test_label_file_round_trip(
    tmp_path: Path, ext: str, fmt: str, subtype: str, rate: int, channels: int
) -> None:
    src, dst = tmp_path / f"in.{ext}", tmp_path / f"out.{ext}"
    sf.write(src, content(rate, 2.0, channels), rate, format=fmt, subtype=subtype)
    before = sha256(src)
    cue_settings = CueSettings(places={"start", "end"})
    record = label_audio_file(src, dst, cue_settings, blocksize=30000)
    assert sha256(src) == before
    info = sf.info(dst)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        fmt,
        subtype,
        rate,
        channels,
    )
    cue_len = len(morse_cue(rate, channels, cue_settings))
    gap = round(cue_settings.gap_s * rate)
    source_frames = sf.info(src).frames
    assert record["frames_in"] == source_frames
    assert record["frames_out"] == source_frames + 2 * (cue_len + gap)
    assert info.frames == record["frames_out"]
    assert [p["place"] for p in record["placements"]] == ["start", "end"]
    assert record["placements"][0]["start_s"] == 0.0
    assert record["placements"][1]["end_s"] == pytest.approx(record["duration_out_s"])
    assert record["duration_in_s"] == pytest.approx(source_frames / rate)
    hits = detect_morse_file(dst, cue_settings)
    assert len(hits) == 2
    for hit, placement in zip(hits, record["placements"], strict=True):
        assert hit.matches(cue_settings.unit_s)
        assert placement["start_s"] < hit.start_s < hit.end_s < placement["end_s"]
    if subtype in LOSSLESS:
        original, _ = sf.read(src, dtype="float32", always_2d=True)
        labelled, _ = sf.read(dst, dtype="float32", always_2d=True)
        assert np.array_equal(labelled[cue_len + gap : cue_len + gap + len(original)], original)


def test_label_file_mix_and_middle(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.flac", tmp_path / "out.flac"
    rate = 32000
    sf.write(src, content(rate, 8.0, 2), rate, subtype="PCM_24")
    cue_settings = CueSettings(places={"start", "middle", "end"}, mode="mix", unit_s=0.08)
    record = label_audio_file(src, dst, cue_settings, blocksize=10000)
    assert record["frames_out"] == record["frames_in"] == 8 * rate
    hits = detect_morse_file(dst, cue_settings)
    assert [hit.matches(0.08) for hit in hits] == [True, True, True]
    assert hits[1].start_s == pytest.approx(4.0 - 0.44, abs=0.01)


def test_label_file_speech(tmp_path: Path) -> None:
    prompt, src, dst = tmp_path / "prompt.wav", tmp_path / "in.wav", tmp_path / "out.wav"
    write_chirp(prompt, 16000, 0.8)
    sf.write(src, content(44100, 1.0, 2), 44100, subtype="PCM_16")
    cue_settings = CueSettings(kind="speech", speech_path=prompt)
    record = label_audio_file(src, dst, cue_settings)
    assert record["frames_out"] == 44100 + round(0.8 * 44100) + round(0.3 * 44100)
    assert record["cue"]["kind"] == "speech"
    assert record["cue"]["duration_s"] == pytest.approx(0.8)


def make_with_pyav(path: Path, codec: str, container: str, rate: int = 44100) -> None:
    """Encode one second of a tone with PyAV (formats soundfile cannot write)."""
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
        frame = av.AudioFrame.from_ndarray(
            (tone * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


def test_label_file_unwritable_format(tmp_path: Path) -> None:
    src = tmp_path / "in.mp2"
    make_with_pyav(src, "mp2", "mp2")
    assert sf.info(src).subtype == "MPEG_LAYER_II"  # readable ...
    dst = tmp_path / "out.mp2"
    with pytest.raises(UnsupportedInputError, match="cannot write MP3 files with MPEG_LAYER_II"):
        label_audio_file(src, dst)  # ... but not writable
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp2"]


def test_label_file_unreadable_format(tmp_path: Path) -> None:
    src = tmp_path / "in.m4a"
    make_with_pyav(src, "aac", "mp4")
    with pytest.raises(UnsupportedInputError, match="MP4/M4A"):
        label_audio_file(src, tmp_path / "out.m4a")


def test_label_file_output_errors(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    sf.write(src, content(8000, 1.0, 1), 8000)
    with pytest.raises(OutputError, match="overwrite the input"):
        label_audio_file(src, src)
    with pytest.raises(OutputError, match="does not exist"):
        label_audio_file(src, tmp_path / "missing" / "out.wav")
    with pytest.raises(UsageError, match=r"suffix \.flac"):
        label_audio_file(src, tmp_path / "out.flac")
    with pytest.raises(InputError, match="no such file"):
        label_audio_file(tmp_path / "nothing.wav", tmp_path / "out.wav")


def test_label_truncated_file_leaves_nothing(tmp_path: Path) -> None:
    good, src, dst = tmp_path / "good.mp3", tmp_path / "cut.mp3", tmp_path / "out.mp3"
    sf.write(good, content(44100, 3.0, 2), 44100, format="MP3")
    data = good.read_bytes()
    src.write_bytes(data[: len(data) // 2])  # the Xing header still claims 3 s
    dst.write_bytes(b"previous")
    with pytest.raises(InputError, match="truncated"):
        label_audio_file(src, dst, CueSettings(places={"start", "end"}))
    assert dst.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp3", "good.mp3", "out.mp3"]
