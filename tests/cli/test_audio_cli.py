"""``aigc-mark embed`` and ``detect`` on recordings, run as a user would (``python -m marking``).

The kind of media comes from the content, not the name; options, JSON fields and exit codes
are the image ones, plus the time ``offset`` where the mark was found. Images still work in
the same call (tests/cli/test_cli.py covers them in depth).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from marking.files.image import embed_file
from tests.media.test_audio_io import MP3_DAMAGE, damaged_mp3
from tests.support.audio_clips import clip
from tests.support.commands import assert_one_error_line, run_cli, sha256
from tests.support.records import AUDIO_EMBEDDING_KEYS

KEY = "Audio-Cli-Secret-4417"
PAYLOAD = "0123456789abcdef"
RATE = 44100

AUDIO_DETECT_FIELDS = {
    "input",
    "file",
    "kind",
    "detected",
    "payload",
    "false_alarm",
    "score",
    "offset",
    "speed",
    "duration_s",
    "notes",
}
AUDIO_EMBED_FIELDS = set(AUDIO_EMBEDDING_KEYS)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio-cli")


@pytest.fixture(scope="module")
def speech(workdir: Path) -> Path:
    path = workdir / "speech.flac"
    sf.write(path, clip("speech", 12.0, RATE), RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def embedded(workdir: Path, speech: Path) -> tuple[Path, dict[str, object]]:
    """The speech marked through the command line, and the JSON record it printed."""
    digest = sha256(speech)
    marked = workdir / "speech-marked.flac"
    result = run_cli("embed", speech, "-o", marked, "--payload", PAYLOAD, "--key", KEY, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sha256(speech) == digest
    return marked, json.loads(result.stdout)


def test_embed_json_record(speech: Path, embedded: tuple[Path, dict[str, object]]) -> None:
    marked, record = embedded
    assert set(record) == AUDIO_EMBED_FIELDS
    assert record["input"] == str(speech)
    assert record["output"] == str(marked)
    assert record["kind"] == "audio"
    assert record["payload"] == PAYLOAD
    assert (record["format"], record["subtype"]) == ("FLAC", "PCM_16")
    assert (record["sample_rate"], record["channels"]) == (RATE, 1)
    assert record["duration_s"] == pytest.approx(12.0)
    assert isinstance(record["snr_db"], float)
    assert record["snr_db"] >= 25.0
    info = sf.info(marked)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "FLAC",
        "PCM_16",
        RATE,
        1,
    )
    assert info.frames == sf.info(speech).frames


def test_detect_json_audio_and_image_together(
    speech: Path,
    embedded: tuple[Path, dict[str, object]],
    image_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    marked, _ = embedded
    photo = tmp_path / "photo-marked.png"
    embed_file(image_file("photo.png"), photo, key=KEY, payload=PAYLOAD)

    result = run_cli("detect", "--json", marked, photo, speech, "--key", KEY)

    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    audio, image, plain = (json.loads(line) for line in result.stdout.splitlines())
    assert set(audio) == AUDIO_DETECT_FIELDS
    assert audio["file"] == str(marked)
    assert audio["kind"] == "audio"
    assert audio["detected"] is True
    assert audio["payload"] == PAYLOAD
    assert isinstance(audio["false_alarm"], float)
    assert audio["false_alarm"] <= 1e-6
    assert isinstance(audio["offset"], float)
    assert audio["offset"] == pytest.approx(0.0, abs=0.05)
    assert audio["speed"] == 1.0
    # The image record is the one images have always had.
    assert set(image) == {
        *("input", "kind", "file"),
        *("detected", "payload", "false_alarm", "score", "transform"),
    }
    assert image["payload"] == PAYLOAD
    assert set(plain) == AUDIO_DETECT_FIELDS
    assert plain["detected"] is False
    assert plain["payload"] is None
    assert plain["offset"] is None


def test_detect_text_lines_and_exit_codes(
    speech: Path, embedded: tuple[Path, dict[str, object]]
) -> None:
    marked, _ = embedded
    found = run_cli("detect", marked, env={"AIGC_MARK_KEY": KEY})
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(f"{marked}: watermark found, payload {PAYLOAD}, false alarm ")
    assert found.stdout.rstrip().endswith(", at 0.00 s")

    unmarked = run_cli("detect", speech, "--key", KEY)
    assert unmarked.returncode == 1, unmarked.stderr
    assert unmarked.stdout.startswith(f"{speech}: no watermark (score ")


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    """A stereo 24-bit WAV with a name that says nothing; the text line and format kept."""
    source = tmp_path / "take-1.data"
    sf.write(source, clip("music", 12.0, 48000), 48000, format="WAV", subtype="PCM_24")
    marked = tmp_path / "take-1-marked.wav"

    embedded = run_cli("embed", source, "-o", marked, "--payload", PAYLOAD, "--strength", "1.5")

    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stdout.startswith(f"marked {source} -> {marked} payload={PAYLOAD} snr=")
    assert embedded.stdout.rstrip().endswith(" dB")
    info = sf.info(marked)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "WAV",
        "PCM_24",
        48000,
        2,
    )
    detected = run_cli("detect", marked)  # the public default key
    assert detected.returncode == 0, detected.stderr
    assert f"payload {PAYLOAD}" in detected.stdout


# --- errors -----------------------------------------------------------------------------------


@pytest.fixture
def bad_audio(tmp_path: Path) -> dict[str, Path]:
    truncated = tmp_path / "truncated.flac"
    sf.write(truncated, clip("speech", 4.0, 16000), 16000, subtype="PCM_16")
    truncated.write_bytes(truncated.read_bytes()[:20000])
    text = tmp_path / "text.wav"
    text.write_text("not audio at all\n")
    short = tmp_path / "short.wav"
    sf.write(short, clip("speech", 0.5, 16000), 16000, subtype="PCM_16")
    return {"truncated FLAC": truncated, "text named .wav": text, "half a second": short}


@pytest.mark.parametrize("problem", ["truncated FLAC", "text named .wav", "half a second"])
@pytest.mark.parametrize("command", ["embed", "detect"])
def test_bad_audio_is_one_error_line_exit_3(
    bad_audio: dict[str, Path], tmp_path: Path, problem: str, command: str
) -> None:
    path = bad_audio[problem]
    output = tmp_path / f"out{path.suffix}"
    args = ["embed", path, "-o", output] if command == "embed" else ["detect", path]

    result = run_cli(*args, "--key", KEY)

    line = assert_one_error_line(result)
    assert str(path) in line
    assert KEY not in line
    assert result.stdout == ""
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.fixture(scope="module")
def damaged_mp3s(workdir: Path) -> dict[str, Path]:
    """MP3s on which libmpg123 prints its own notes (tests/media/test_audio_io.py checks that)."""
    return {
        damage: damaged_mp3(workdir / f"damaged-{index}.mp3", damage)
        for index, damage in enumerate(MP3_DAMAGE)
    }


@pytest.mark.parametrize("damage", MP3_DAMAGE)
@pytest.mark.parametrize("command", ["detect", "verify", "embed"])
def test_damaged_mp3_gives_one_line_not_decoder_notes(
    damaged_mp3s: dict[str, Path], tmp_path: Path, command: str, damage: str
) -> None:
    """libmpg123's "Note: Illegal Audio-MPEG-Header ..." lines stay off stderr.

    embed refuses damage; detect and verify salvage what decodes (issue 15): they read on
    with FFmpeg and answer with a note, unless less than a second decodes.
    """
    path = damaged_mp3s[damage]
    output = tmp_path / "out.mp3"
    args = ["embed", path, "-o", output] if command == "embed" else [command, path]

    result = run_cli(*args, "--key", KEY)

    if command != "embed" and damage != "random after the first header":
        assert result.returncode == 1, result.stderr
        assert result.stderr == ""
        assert "; damaged: " in result.stdout
        assert "Note:" not in result.stdout
        return
    line = assert_one_error_line(result)
    assert str(path) in line
    assert "Note:" not in line
    assert "Warning:" not in line
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_batch_goes_on_and_json_error_has_no_file_prefix(
    bad_audio: dict[str, Path], embedded: tuple[Path, dict[str, object]]
) -> None:
    marked, _ = embedded
    truncated = bad_audio["truncated FLAC"]

    result = run_cli("detect", "--json", truncated, marked, "--key", KEY)

    assert result.returncode == 3
    failed, found = (json.loads(line) for line in result.stdout.splitlines())
    assert failed["file"] == str(truncated)
    assert failed["error"].startswith("corrupt or truncated audio")
    assert found["payload"] == PAYLOAD
    assert assert_one_error_line(result).startswith(f"{truncated}: error: corrupt or truncated")


def test_embed_usage_and_output_errors(speech: Path, tmp_path: Path) -> None:
    digest = sha256(speech)
    quality = run_cli("embed", speech, "-o", tmp_path / "q.flac", "--quality", "90")
    assert "--quality" in assert_one_error_line(quality, exit_code=2)
    onto_itself = run_cli("embed", speech, "-o", speech)
    assert "refusing to overwrite the input" in assert_one_error_line(onto_itself)
    other_format = run_cli("embed", speech, "-o", tmp_path / "out.wav")
    assert "suffix" in assert_one_error_line(other_format, exit_code=2)
    assert sha256(speech) == digest
    assert list(tmp_path.iterdir()) == []


def test_video_goes_to_the_video_detector(tmp_path: Path) -> None:
    clip_path = Path(__file__).resolve().parents[2] / "samples" / "video-big-buck-bunny.mp4"
    result = run_cli("detect", clip_path, "--json", "--no-speed-search")
    assert result.returncode == 1, result.stderr  # an unmarked video (tests/cli/test_video_cli.py)
    assert json.loads(result.stdout)["kind"] == "video"


def test_help_mentions_recordings() -> None:
    for command in ("embed", "detect"):
        result = run_cli(command, "--help")
        assert result.returncode == 0
        assert "recording" in result.stdout


def test_silent_recording_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "silence.wav"
    sf.write(source, np.zeros(3 * 16000, np.float32), 16000, subtype="PCM_16")
    result = run_cli("embed", source, "-o", tmp_path / "silence-marked.wav", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["snr_db"] is None


def test_no_speed_search_still_finds_normal_speed(
    speech: Path, embedded: tuple[Path, dict[str, object]]
) -> None:
    marked, _ = embedded
    found = run_cli("detect", marked, speech, "--key", KEY, "--no-speed-search", "--json")
    assert found.returncode == 0, found.stderr
    records = [json.loads(line) for line in found.stdout.splitlines()]
    assert [r["detected"] for r in records] == [True, False]
    assert records[0]["payload"] == PAYLOAD
    assert records[0]["speed"] == 1.0
