"""``aigc-mark label`` on pictures, and telling media kinds apart by content."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from marking.errors import InputError, UnsupportedInputError
from marking.media.sniffing import AUDIO, IMAGE, VIDEO, media_kind
from tests.support.commands import assert_one_error_line, run_cli, sha256
from tests.support.sample_photos import SAMPLES


def _write_video(path: Path, with_video: bool = True) -> Path:
    with av.open(str(path), "w") as container:
        if with_video:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for index in range(5):
                frame = av.VideoFrame.from_ndarray(
                    np.full((48, 64, 3), index * 40, np.uint8), format="rgb24"
                )
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        else:
            stream = container.add_stream("aac", rate=44100)
            for index in range(20):
                tone = np.sin(np.arange(1024) * 0.1 + index).astype(np.float32)[None, :]
                frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                frame.sample_rate = 44100
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    ("name", "kind"),
    [("photo.jpg", IMAGE), ("photo.png", IMAGE), ("photo.webp", IMAGE), ("photo.tif", IMAGE)],
)
def test_images_are_recognised_by_content(tmp_path: Path, name: str, kind: str) -> None:
    path = tmp_path / name
    Image.new("RGB", (32, 32), (10, 20, 30)).save(path)
    renamed = path.rename(tmp_path / "no-extension")
    assert media_kind(renamed) == kind


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3", "AIFF", "CAF", "W64", "RF64"])
def test_recordings_are_audio(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "sound"  # no suffix: the content decides
    sf.write(path, np.zeros((4410, 1), np.float32), 44100, format=fmt)
    assert media_kind(path) == AUDIO


def test_containers_are_told_apart_by_their_streams(tmp_path: Path) -> None:
    assert media_kind(_write_video(tmp_path / "clip.mp4")) == VIDEO
    assert media_kind(_write_video(tmp_path / "sound.m4a", with_video=False)) == AUDIO


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (b"", InputError, "empty"),
        (b"hello, world", UnsupportedInputError, "not a supported"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40, InputError, "cannot read"),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, error: type, match: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(error, match=match):
        media_kind(path)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        media_kind("/nonexistent/file.jpg")


def test_label_picture_from_command_line(tmp_path: Path) -> None:
    source = SAMPLES / "photo-dandelions.jpg"
    before = sha256(source)
    output = tmp_path / "labeled.jpg"
    result = run_cli("label", source, "-o", output, "--position", "top-left", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "image"
    assert record["text_height"] >= 0.05 * 900
    assert record["box"][0] < 100
    assert record["box"][1] < 100
    assert record["contrast"] >= 4.5
    with Image.open(output) as labeled:
        assert labeled.format == "JPEG"
        assert labeled.size == (1600, 900)
    assert sha256(source) == before


def test_label_preset_and_outline(tmp_path: Path) -> None:
    output = tmp_path / "labeled.png"
    result = run_cli(
        "label",
        SAMPLES / "photo-astronaut.png",
        "-o",
        output,
        "--label-preset",
        "ai-generated-en",
        "--backing",
        "outline",
        "--height",
        "0.08",
    )
    assert result.returncode == 0, result.stderr
    assert "labeled image" in result.stdout
    with Image.open(output) as labeled:
        assert labeled.mode == "RGB"


def test_label_usage_errors(tmp_path: Path) -> None:
    source = SAMPLES / "photo-astronaut.png"
    result = run_cli("label", source, "-o", tmp_path / "x.png", "--position", "middle")
    assert result.returncode == 2
    result = run_cli("label", source, "-o", tmp_path / "x.png", "--text", "AI生成 ☃")
    line = assert_one_error_line(result, exit_code=2)
    assert "no glyph" in line
    assert not (tmp_path / "x.png").exists()


def test_label_bad_input_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    result = run_cli("label", bad, "-o", tmp_path / "out.png")
    assert "not a supported" in assert_one_error_line(result)


def test_label_recording_from_command_line(tmp_path: Path) -> None:
    from marking.files.audio import detect_morse_file

    source = tmp_path / "speech.wav"
    rng = np.random.default_rng(0)
    sf.write(
        source, (rng.normal(0, 0.05, (44100 * 3, 2))).astype(np.float32), 44100, subtype="PCM_16"
    )
    output = tmp_path / "labeled.wav"
    result = run_cli("label", source, "-o", output, "--cue-at", "start,end", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "audio"
    assert [p["place"] for p in record["placements"]] == ["start", "end"]
    info = sf.info(output)
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
    hits = detect_morse_file(output)
    assert len(hits) == 2
    assert all(hit.is_ai for hit in hits)


def test_label_video_from_command_line(tmp_path: Path) -> None:
    output = tmp_path / "labeled.mp4"
    result = run_cli(
        "label", SAMPLES / "video-big-buck-bunny.mp4", "-o", output, "--duration", "3", "--json"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "video"
    assert record["intervals"] == [[0.0, 3.0]]
    assert record["frames_labeled"] == 75  # 3 s at 25 fps
    assert record["copied_streams"][0]["type"] == "audio"


def test_video_shorter_than_two_seconds_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        "label", SAMPLES / "video-big-buck-bunny.mp4", "-o", tmp_path / "x.mp4", "--duration", "1.5"
    )
    assert result.returncode == 2
    assert not (tmp_path / "x.mp4").exists()


def test_speech_cue_needs_a_file(tmp_path: Path) -> None:
    source = tmp_path / "s.wav"
    sf.write(source, np.zeros((4410, 1), np.float32), 44100)
    result = run_cli("label", source, "-o", tmp_path / "o.wav", "--cue", "speech")
    assert "--speech" in assert_one_error_line(result, exit_code=2)
