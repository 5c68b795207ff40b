"""Reading and writing audio files (marking.media.audio): probing, blocks, atomic writes, memory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import time
import tracemalloc
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from marking.cli import main as cli_main
from marking.errors import (
    InputError,
    InputTooLargeError,
    UnsupportedInputError,
    UsageError,
)
from marking.files.audio import label_audio_file
from marking.labels.audio_cue import CueSettings
from marking.labels.morse_reader import detect_morse
from marking.media.audio import (
    AudioInfo,
    AudioWriter,
    DamagedAudioError,
    Salvage,
    count_frames,
    decoder_messages,
    probe_audio,
    read_audio,
    read_blocks,
    salvage_blocks,
)
from tests.support.audio_clips import music_like
from tests.support.bad_inputs import mp3_without_length_tag, noise_inside, with_id3_tag
from tests.support.commands import run_cli
from tests.support.wall_clock import bound, time_of


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def noise(frames: int, channels: int, seed: int = 0, level: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.uniform(-1, 1, (frames, channels))).astype(np.float32)


def tone_file(
    path: Path, rate: int = 44100, seconds: float = 2.0, channels: int = 2, **kwargs: str
) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    samples = (0.4 * np.sin(2 * np.pi * 330 * t)[:, None] * np.ones(channels)).astype(np.float32)
    sf.write(path, samples, rate, **kwargs)
    return samples


def test_probe_reads_the_header(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    with sf.SoundFile(path, "w", 48000, 3, "PCM_24") as sound:
        sound.title = "Test title"
        sound.write(noise(12000, 3))
    info = probe_audio(path)
    assert (info.format, info.subtype, info.samplerate, info.channels, info.frames) == (
        "WAV",
        "PCM_24",
        48000,
        3,
        12000,
    )
    assert info.duration == pytest.approx(0.25)
    assert info.metadata["title"] == "Test title"
    assert info.path == path


def make_with_pyav(path: Path, codec: str, container: str) -> None:
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=44100)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 44100), np.int16) + 1000, format="s16", layout="mono"
        )
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    """One file for each way an input can be unusable."""
    good = tmp_path / "good.wav"
    tone_file(good, seconds=0.5)
    vorbis = tmp_path / "good.ogg"
    tone_file(vorbis, seconds=2.0, format="OGG", subtype="VORBIS")
    files = {
        "missing": tmp_path / "missing.wav",
        "directory": tmp_path,
        "empty": tmp_path / "empty.wav",
        "junk": tmp_path / "junk.wav",
        "header_cut": tmp_path / "cut.wav",
        "vorbis_cut": tmp_path / "cut.ogg",
        "no_frames": tmp_path / "silence.wav",
    }
    files["empty"].write_bytes(b"")
    files["junk"].write_bytes(np.random.default_rng(0).bytes(4000))
    files["header_cut"].write_bytes(good.read_bytes()[:30])
    data = vorbis.read_bytes()
    files["vorbis_cut"].write_bytes(data[: len(data) // 2])
    sf.write(files["no_frames"], np.zeros((0, 1)), 8000)
    return files


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("empty", "file is empty"),
        ("junk", "not an audio file"),
        ("header_cut", "corrupt|truncated|not an audio file"),
        ("vorbis_cut", "no audio frames|truncated"),
        ("no_frames", "no audio frames"),
    ],
)
def test_probe_rejects_bad_inputs(tmp_path: Path, case: str, message: str) -> None:
    path = bad_inputs(tmp_path)[case]
    with pytest.raises(InputError, match=message) as caught:
        probe_audio(path)
    text = str(caught.value)
    assert "\n" not in text
    assert str(path) in text


def test_probe_names_unsupported_media(tmp_path: Path) -> None:
    path = tmp_path / "song.m4a"
    make_with_pyav(path, "aac", "mp4")
    with pytest.raises(UnsupportedInputError, match=r"MP4/M4A .* not supported"):
        probe_audio(path)
    webm = tmp_path / "voice.webm"
    webm.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(200))
    with pytest.raises(UnsupportedInputError, match="Matroska/WebM"):
        probe_audio(webm)


def test_read_blocks_reuses_one_buffer(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    samples = noise(10000, 2)
    sf.write(path, samples, 16000, subtype="PCM_24")
    expected, _ = sf.read(path, dtype="float32", always_2d=True)
    blocks = []
    previous = None
    for block in read_blocks(path, 4096):
        assert block.dtype == np.float32
        assert block.ndim == 2
        assert block.shape[1] == 2
        if previous is not None:
            assert np.shares_memory(block, previous)  # the same buffer, refilled
        previous = block
        blocks.append(block.copy())
    assert [len(block) for block in blocks] == [4096, 4096, 1808]
    assert np.array_equal(np.concatenate(blocks), expected)
    with pytest.raises(UsageError, match="block size"):
        next(read_blocks(path, 0))


def test_mp3_blocks_equal_whole_file_read(tmp_path: Path) -> None:
    """soundfile's seek after every read corrupts MP3 block reads; ours must not."""
    path = tmp_path / "a.mp3"
    tone_file(path, rate=44100, seconds=3.0, format="MP3")
    whole, _ = sf.read(path, dtype="float32", always_2d=True)
    for blocksize in (1000, 4096, 65536):
        streamed = np.concatenate([block.copy() for block in read_blocks(path, blocksize)])
        assert np.array_equal(streamed, whole)


#: MP3 damage that makes libmpg123 print its own notes on file descriptor 2.
MP3_DAMAGE = ("truncated", "garbled middle", "random tail", "random after the first header")


def damaged_mp3(path: Path, damage: str) -> Path:
    """A 3 s MP3 tone (22.05 kHz, with its Xing tag) damaged as ``damage`` says."""
    tone_file(path, rate=22050, seconds=3.0, channels=1, format="MP3")
    data = bytearray(path.read_bytes())
    size = len(data)
    seed = 3 if damage == "random tail" else 1  # noise libmpg123 notes (and resyncs past)
    noise = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    if damage == "truncated":
        del data[size // 2 :]
    elif damage == "garbled middle":
        data[size // 3 : size // 3 + 2000] = noise[:2000]
    elif damage == "random tail":
        data[size // 2 :] = noise[: size - size // 2]
    elif damage == "random after the first header":
        data[4:] = noise[: size - 4]
    else:
        raise ValueError(damage)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("damage", MP3_DAMAGE)
def test_libmpg123_prints_on_damaged_mp3(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], damage: str
) -> None:
    """The premise of the tests below: libsndfile's MP3 decoder writes to fd 2 itself."""
    path = damaged_mp3(tmp_path / "damaged.mp3", damage)
    with contextlib.suppress(sf.LibsndfileError):
        sf.read(path)
    assert re.match(r"(Note|Warning): ", capfd.readouterr().err)


@pytest.mark.parametrize("damage", MP3_DAMAGE)
def test_damaged_mp3_reads_fail_without_decoder_noise(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], damage: str
) -> None:
    path = damaged_mp3(tmp_path / "damaged.mp3", damage)
    with pytest.raises(InputError) as error:
        for _ in read_blocks(path):
            pass
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    if damage != "truncated":  # a cut file only makes the decoder warn about the Xing size
        assert "MP3 decoder: Illegal Audio-MPEG-Header 0x" in message
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_decoder_messages_keeps_decoder_lines_and_passes_the_rest(
    capfd: pytest.CaptureFixture[str],
) -> None:
    messages: list[str] = []
    with decoder_messages(messages):
        os.write(2, b"Note: Illegal Audio-MPEG-Header 0x00000000 at offset 5000.\n")
        os.write(2, b"a line from someone else\n")
        os.write(2, b"[src/libmpg123/parse.c:wetwork():1349] error: Giving up resync.\n")
        print("python's own stderr", file=sys.stderr)
        os.write(2, b"Warning: Xing stream size off by more than 1%!\nno newline")
    os.write(2, b"|after\n")
    assert messages == [
        "Illegal Audio-MPEG-Header 0x00000000 at offset 5000",
        "Giving up resync",
        "Xing stream size off by more than 1%!",
    ]
    err = capfd.readouterr().err
    assert "Note:" not in err
    assert "Warning:" not in err
    assert "libmpg123" not in err
    assert "a line from someone else\n" in err
    assert "python's own stderr\n" in err
    assert err.endswith("no newline|after\n")


def test_decoder_messages_restores_stderr_when_the_call_fails(
    capfd: pytest.CaptureFixture[str],
) -> None:
    messages: list[str] = []

    def failing_call() -> None:
        os.write(2, b"Note: Trying to resync...\n")
        with decoder_messages([]):  # nested: the inner one gives the outer one its stderr
            os.write(2, b"inner pass-through\n")
        raise ValueError("the call failed")

    with pytest.raises(ValueError, match="the call failed"), decoder_messages(messages):
        failing_call()
    os.write(2, b"stderr is back\n")
    assert messages == ["Trying to resync"]
    assert capfd.readouterr().err == "inner pass-through\nstderr is back\n"


def test_read_blocks_detects_truncated_data(tmp_path: Path) -> None:
    good = tmp_path / "good.mp3"
    tone_file(good, seconds=3.0, format="MP3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert probe_audio(cut).frames == probe_audio(good).frames  # the tag still claims 3 s
    assert probe_audio(cut).length_exact
    with pytest.raises(InputError, match="truncated"):
        for _ in read_blocks(cut, 4096):
            pass


def test_mp3_without_length_tag_is_counted_not_trusted(tmp_path: Path) -> None:
    """Without a Xing/Info tag libsndfile only estimates an MP3's length: decode to count."""
    path = tmp_path / "plain.mp3"
    rate = 44100
    with av.open(str(path), "w", format="mp3", options={"write_xing": "0"}) as output:
        stream = output.add_stream("libmp3lame", rate=rate)
        stream.layout = "stereo"
        stream.bit_rate = 128000
        samples = noise(3 * rate, 2, level=0.2).T.copy()
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    info = probe_audio(path)
    assert not info.length_exact
    decoded = sum(len(block) for block in read_blocks(path, 4096))  # no "truncated" error
    assert decoded != info.frames  # the estimate is off
    exact = count_frames(path, info=info)
    assert exact.length_exact
    assert exact.frames == decoded
    record = label_audio_file(path, tmp_path / "out.mp3", CueSettings(places={"middle"}))
    assert record["frames_in"] == decoded
    assert probe_audio(tmp_path / "out.mp3").length_exact  # libsndfile writes a LAME tag


def test_read_audio_limits_length(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    samples = tone_file(path, rate=8000, seconds=2.0, channels=1, subtype="FLOAT")
    read, rate = read_audio(path, max_seconds=5)
    assert rate == 8000
    assert np.array_equal(read, samples)
    with pytest.raises(InputTooLargeError, match="longer than"):
        read_audio(path, max_seconds=1)


def info_like(tmp_path: Path, name: str, **kwargs: str) -> AudioInfo:
    source = tmp_path / f"source-{name}"
    tone_file(source, seconds=0.1, **kwargs)
    return probe_audio(source)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("a.wav", {"subtype": "PCM_16"}),
        ("a.wav", {"subtype": "PCM_24"}),
        ("a.wav", {"subtype": "FLOAT"}),
        ("a.flac", {"subtype": "PCM_16"}),
        ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}),
        ("a.mp3", {"format": "MP3"}),
        ("a.aiff", {"format": "AIFF", "subtype": "PCM_16"}),
    ],
)
def test_writer_keeps_format(tmp_path: Path, name: str, kwargs: dict[str, str]) -> None:
    info = info_like(tmp_path, name, **kwargs)
    target = tmp_path / name
    samples = noise(20000, 2, level=0.2)
    with AudioWriter(target, info) as writer:
        writer.write(samples[:7000])
        writer.write(samples[7000:])
    assert writer.frames_written == 20000
    written = probe_audio(target)
    assert (written.format, written.subtype, written.samplerate, written.channels) == (
        info.format,
        info.subtype,
        info.samplerate,
        info.channels,
    )
    assert written.frames == 20000


def test_writer_is_atomic(tmp_path: Path) -> None:
    info = info_like(tmp_path, "a.wav", subtype="PCM_16")
    target = tmp_path / "out.wav"
    target.write_bytes(b"old contents")

    def write_then_fail() -> None:
        with AudioWriter(target, info) as writer:
            writer.write(noise(1000, 2))
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        write_then_fail()
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "source-a.wav"]
    with AudioWriter(target, info) as writer:
        writer.write(noise(1000, 2))
    assert probe_audio(target).frames == 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "source-a.wav"]


def test_writer_clamps_integer_output_and_copies_tags(tmp_path: Path) -> None:
    source = tmp_path / "source.flac"
    with sf.SoundFile(source, "w", 8000, 1, "PCM_16") as sound:
        sound.title = "Kept title"
        sound.write(np.zeros(100))
    info = probe_audio(source)
    target = tmp_path / "out.flac"
    with AudioWriter(target, info) as writer:
        writer.write(np.array([[1.5], [-1.5], [0.5]], np.float32))
    read, _ = sf.read(target, dtype="int16")
    assert list(read) == [32767, -32768, 16384]
    assert probe_audio(target).metadata["title"] == "Kept title"


def test_writer_refusals(tmp_path: Path) -> None:
    info = info_like(tmp_path, "a.wav", subtype="PCM_16")
    with pytest.raises(UsageError, match=r"suffix \.mp3"):
        AudioWriter(tmp_path / "out.mp3", info)
    layer2 = replace(info, format="MP3", subtype="MPEG_LAYER_II")
    with pytest.raises(UnsupportedInputError, match="cannot write MP3 files with MPEG_LAYER_II"):
        AudioWriter(tmp_path / "out.mp3", layer2).__enter__()
    assert not (tmp_path / "out.mp3").exists()
    with (
        pytest.raises(ValueError, match="does not fit"),
        AudioWriter(tmp_path / "out.wav", info) as writer,
    ):
        writer.write(np.zeros((10, 3), np.float32))
    assert not (tmp_path / "out.wav").exists()


def write_long_wav(path: Path, rate: int, seconds: int, channels: int) -> None:
    """A long PCM_16 file written one second at a time (never whole in memory)."""
    rng = np.random.default_rng(5)
    t = np.arange(rate) / rate
    second = (0.2 * np.sin(2 * np.pi * 220 * t))[:, None].astype(np.float32)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as sound:
        for _ in range(seconds):
            sound.write(second + 0.01 * rng.standard_normal((rate, channels), np.float32))


def test_labelling_a_long_file_uses_bounded_memory(tmp_path: Path) -> None:
    """10 minutes of 48 kHz stereo (230 MB as float32) labelled in a few MiB."""
    rate, seconds, channels = 48000, 600, 2
    src, dst = tmp_path / "long.wav", tmp_path / "long-labelled.wav"
    write_long_wav(src, rate, seconds, channels)
    decoded_bytes = rate * seconds * channels * 4
    input_hash = sha256(src)
    places = {"start", "middle", "end"}
    # A bound that grows with the machine's load: from the time reading the file through
    # takes now (tests/support/wall_clock.py).
    reading = time_of(lambda: sum(len(block) for block in read_blocks(src)))
    for mode in ("prepend", "mix"):  # mix holds back one cue length for the end
        tracemalloc.start()
        try:
            began = time.perf_counter()
            record = label_audio_file(src, dst, CueSettings(places=places, mode=mode))
            elapsed = time.perf_counter() - began
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert record["frames_in"] == rate * seconds
        assert probe_audio(dst).frames == record["frames_out"]
        # A few 64 Ki-frame blocks and the cue, nothing proportional to the file.
        assert peak < 8 * 2**20, f"{mode}: peak {peak / 2**20:.1f} MiB"
        assert peak < decoded_bytes / 25
        assert elapsed < bound(reading, 30, 60), f"{elapsed:.1f} s; reading: {reading:.2f} s"
        # The middle cue is where the record says, at full level.
        middle = record["placements"][1]
        assert middle["place"] == "middle"
        cue_s = record["cue"]["duration_s"]
        expected_start = cue_s + 0.3 + seconds / 2 + 0.3 if mode == "prepend" else 300 - cue_s / 2
        assert middle["start_s"] == pytest.approx(expected_start, abs=1 / rate)
        with sf.SoundFile(dst) as sound:
            sound.seek(round(middle["start_s"] * rate))
            cue = sound.read(round(cue_s * rate), dtype="float32")
        hits = detect_morse(cue, rate)
        assert len(hits) == 1
        assert hits[0].matches(0.1)
    assert sha256(src) == input_hash


# --- Issue 15: readers salvage damaged audio; every MPEG audio version is read ---------------

SALVAGE_PAYLOAD = "0123456789abcdef"


@dataclass(frozen=True)
class Damaged:
    """A marked recording with 4 KB of noise inserted halfway, and what a reader finds."""

    fmt: str
    subtype: str
    rate: int
    seconds: float
    #: Whether the mark is still found (a lossy format loses a whole page or frame group
    #: around the noise: too much of a short clip for the mark).
    found: bool


DAMAGED = [
    Damaged("FLAC", "PCM_16", 22050, 4.0, True),
    Damaged("MP3", "MPEG_LAYER_III", 16000, 8.0, True),
    Damaged("OGG", "VORBIS", 16000, 8.0, False),
]


def marked_with_noise_inside(case: Damaged, directory: Path) -> Path:
    """Mark a music clip with the real embedder, then insert noise in the middle."""
    from marking.files.audio import embed_audio_file

    suffix = case.fmt.lower()
    plain, marked = directory / f"plain.{suffix}", directory / f"marked.{suffix}"
    sound = music_like(case.seconds, case.rate, seed=1)[:, 0]
    sf.write(plain, sound, case.rate, format=case.fmt, subtype=case.subtype)
    embed_audio_file(plain, marked, payload=SALVAGE_PAYLOAD)
    damaged = directory / f"damaged.{suffix}"
    damaged.write_bytes(noise_inside(marked.read_bytes()))
    return damaged


@pytest.mark.parametrize("case", DAMAGED, ids=lambda case: case.fmt)
def test_readers_salvage_noise_in_the_middle_writers_refuse_it(
    case: Damaged, tmp_path: Path
) -> None:
    """Issue 15 item 6: 4 KB of noise mid-file made libsndfile stop ("flac decoder lost
    sync") and detect and verify refuse the file. They now read it again with FFmpeg, which
    resyncs, and find the mark with a note; embed still refuses damage."""
    from marking.files.audio import detect_audio_file, embed_audio_file
    from marking.pipeline.verify import verify_file

    damaged = marked_with_noise_inside(case, tmp_path)
    with pytest.raises(DamagedAudioError):  # the premise: libsndfile stops in it
        for _ in read_blocks(damaged):
            pass

    found = detect_audio_file(damaged, speed_search=False)
    assert len(found["notes"]) == 1, found["notes"]
    note = found["notes"][0]
    assert note.startswith("damaged: "), note
    assert "read again with FFmpeg" in note
    assert "\n" not in note
    assert found["duration_s"] == pytest.approx(case.seconds, abs=0.1)
    assert found["detected"] is case.found
    if case.found:
        assert found["payload"] == SALVAGE_PAYLOAD
    result = verify_file(damaged)
    assert note in result.notes
    assert result.ai_marked is case.found

    with pytest.raises(DamagedAudioError, match=r"corrupt or truncated audio|audio ends after"):
        embed_audio_file(damaged, tmp_path / f"out{damaged.suffix}")
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("out")) == []

    for command in (["detect", "--no-speed-search"], ["verify"]):
        run = run_cli(command[0], damaged, *command[1:])
        assert run.returncode == (0 if case.found else 1), run.stderr
        assert run.stderr == ""
        assert "; damaged: " in run.stdout
        assert (SALVAGE_PAYLOAD in run.stdout) is case.found


def test_too_little_decodes_to_salvage_keeps_the_error(tmp_path: Path) -> None:
    """When what FFmpeg decodes is under the detector's second, the damage is the answer."""
    from marking.files.audio import detect_audio_file

    path = tmp_path / "short.flac"
    tone_file(path, rate=16000, seconds=3.0, channels=1)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 5])
    with pytest.raises(DamagedAudioError, match=r"^\S+: audio ends after|^\S+: corrupt"):
        detect_audio_file(path)


def test_salvage_streams_in_constant_memory(tmp_path: Path) -> None:
    """FFmpeg's pass holds a block at a time, not the file: 5 minutes of audio (9.6 MB of
    float32 samples) are read again with a peak of a few hundred KB."""
    rate, seconds = 8000, 300
    path = tmp_path / "long.flac"
    t = np.arange(rate * seconds) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="PCM_16")
    path.write_bytes(noise_inside(path.read_bytes()))
    with pytest.raises(DamagedAudioError) as damage:
        for _ in read_blocks(path):
            pass
    salvage = Salvage(damage.value.problem)
    tracemalloc.start()
    try:
        frames = sum(len(block) for block in salvage_blocks(path, salvage))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames == rate * seconds
    assert peak < 2_000_000, peak
    assert len(salvage.notes) == 1


def test_salvage_fills_lost_frames_with_silence_so_what_follows_keeps_its_place(
    tmp_path: Path,
) -> None:
    """12 KB cut out of a FLAC's middle: the frames lost become silence of their length (from
    the timestamps), so the samples after the damage are where they were (sample for
    sample: FLAC is lossless), and the mark's timing with them."""
    rate = 22050
    path = tmp_path / "music.flac"
    sf.write(path, music_like(4.0, rate, seed=2)[:, :1], rate, subtype="PCM_16")
    decoded = sf.read(path, dtype="float32", always_2d=True)[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[len(data) // 2 + 12000 :])
    salvage = Salvage("test")
    salvaged = np.concatenate([block.copy() for block in salvage_blocks(path, salvage)])
    assert len(salvaged) == len(decoded)
    differ = np.flatnonzero(np.any(salvaged != decoded, axis=1))
    assert 0 < len(differ) < rate  # the frames around the cut, nothing else
    assert differ[0] > rate  # before the damage: the same samples
    assert differ[-1] < len(decoded) - rate  # after it: the same samples, in place
    silent = np.all(salvaged[differ] == 0, axis=1).sum()
    assert silent >= 4096  # at least one whole FLAC frame (4096 samples) filled
    assert f"({silent / rate:.2f} s lost, filled with silence)" in salvage.notes[0]


#: (rate, MPEG version, the sync bytes of a frame without CRC)
MPEG_VERSIONS = [
    (8000, "2.5", b"\xff\xe3"),
    (11025, "2.5", b"\xff\xe3"),
    (12000, "2.5", b"\xff\xe3"),
    (16000, "2", b"\xff\xf3"),
    (22050, "2", b"\xff\xf3"),
    (24000, "2", b"\xff\xf3"),
    (44100, "1", b"\xff\xfb"),
]


@pytest.mark.parametrize("length_tag", [True, False], ids=["xing", "no-xing"])
@pytest.mark.parametrize("id3", [False, True], ids=["bare", "id3"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(("rate", "version", "sync"), MPEG_VERSIONS)
def test_every_mpeg_version_is_recognised(
    tmp_path: Path,
    rate: int,
    version: str,
    sync: bytes,
    channels: int,
    id3: bool,
    length_tag: bool,
) -> None:
    """Issue 15 item 9: MPEG-2.5 MP3 (8-12 kHz, sync FF E3) was "not a supported image,
    audio or video file" to every verb but tag, though libsndfile reads and writes it."""
    from marking.media.sniffing import AUDIO, media_kind
    from marking.tags.containers import detect_format

    path = tmp_path / "tone.mp3"
    tone_file(path, rate=rate, seconds=0.5, channels=channels)
    data = path.read_bytes()
    assert data[:2] == sync, f"MPEG-{version}"
    if not length_tag:
        path.write_bytes(mp3_without_length_tag(data))
    if id3:
        with_id3_tag(path)
    assert media_kind(path) == AUDIO
    assert detect_format(path) == "mp3"
    info = probe_audio(path)
    assert (info.format, info.samplerate, info.channels) == ("MP3", rate, channels)
    assert info.length_exact is length_tag
    assert count_frames(path, info=info).frames > 0


@pytest.mark.parametrize(
    ("head", "mpeg"),
    [
        (b"\xff\xfb\x90", True),  # MPEG-1 layer III
        (b"\xff\xfa\x90", True),  # with CRC
        (b"\xff\xf3\x90", True),  # MPEG-2
        (b"\xff\xf2\x90", True),
        (b"\xff\xe3\x48", True),  # MPEG-2.5
        (b"\xff\xe2\x48", True),
        (b"\xff\xfd\x90", True),  # MPEG-1 layer II
        (b"\xff\xf1\x50", False),  # ADTS AAC (layer 00)
        (b"\xff\xeb\x90", False),  # version 01 is reserved
        (b"\xff\xfb\xf0", False),  # bit rate 1111 is invalid
        (b"\xff\xfb\x9c", False),  # sample rate 11 is reserved
        (b"\xff\xfb", False),
        (b"\xff\xd8\xff", False),  # JPEG
    ],
)
def test_is_mpeg_audio(head: bytes, mpeg: bool) -> None:
    from marking.media.sniffing import is_mpeg_audio

    assert is_mpeg_audio(head) is mpeg


@pytest.mark.parametrize(
    ("rate", "channels", "id3"),
    [(8000, 1, False), (11025, 2, True), (22050, 1, False)],
    ids=["mpeg2.5-8k-mono", "mpeg2.5-11k-stereo-id3", "mpeg2-22k-mono"],
)
def test_mpeg_2_and_2_5_mp3_through_every_verb(
    tmp_path: Path, rate: int, channels: int, id3: bool
) -> None:
    """embed, detect, verify and tag on MPEG-2.5 and MPEG-2 MP3. At 8 kHz the mark's band
    (300 Hz - 6.3 kHz) is cut at 3.6 kHz, 66 of its 120 bins: still found plainly."""
    from marking.files.audio import detect_audio_file
    from marking.tags.containers import read_media_label

    source = tmp_path / "plain.mp3"
    sound = music_like(8.0, rate, seed=4)[:, :channels]
    sf.write(source, sound, rate, format="MP3", subtype="MPEG_LAYER_III")
    if id3:
        with_id3_tag(source)
    marked = tmp_path / "marked.mp3"
    args = ["embed", str(source), "-o", str(marked), "--payload", SALVAGE_PAYLOAD]
    assert cli_main.main(args) == 0
    found = detect_audio_file(marked, speed_search=False)
    assert found["payload"] == SALVAGE_PAYLOAD
    assert found["notes"] == []
    tagged = tmp_path / "tagged.mp3"
    assert cli_main.main(["tag", str(marked), "-o", str(tagged), "--producer", "MpegAI"]) == 0
    assert read_media_label(tagged) is not None
    run = run_cli("verify", tagged)
    assert run.returncode == 0, run.stderr
    assert f"watermark {SALVAGE_PAYLOAD}" in run.stdout
    assert "label 1 by MpegAI" in run.stdout
