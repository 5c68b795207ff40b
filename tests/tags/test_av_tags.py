"""GB 45438 labels in audio and video files: written in place of the one entry, media untouched.

Every format is checked the same way: tag, read back with our reader and with an independent
one (PyAV for MP4/MOV/M4A/MKV/WebM, mutagen for ID3 and Vorbis comments, a chunk walk for WAV),
decode source and output and compare samples and frames exactly, compare stream layout,
re-tag, count the entries, and check the tags set beforehand survived.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3, TIT2, TPE1, TXXX
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from PIL import Image

from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.tags.aigc_label import AigcLabel
from marking.tags.containers import SUPPORTED, detect_format, read_media_label, tag_media

RATE = 48000
TITLE, ARTIST = "Test Title", "Test Artist"
FIRST = AigcLabel.create("001191110102MAD55U9H0F10002", "first-id")
SECOND = AigcLabel.create("001191110102MAD55U9H0F10002", "second-id")
AUDIO_FILES = {
    "wav": "tone.wav",
    "flac": "tone.flac",
    "ogg": "tone.ogg",
    "opus": "tone.opus",
    "mp3": "tone.mp3",
}
AV_FILES = {
    "mp4": "clip.mp4",
    "mov": "clip.mov",
    "m4a": "clip.m4a",
    "mkv": "clip.mkv",
    "webm": "clip.webm",
}
ALL_FILES = {**AUDIO_FILES, **AV_FILES}


# --- fixtures ----------------------------------------------------------------------------


def _tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    left = 0.3 * np.sin(2 * np.pi * 440 * t)
    right = 0.2 * np.sin(2 * np.pi * 660 * t)
    return np.stack([left, right], axis=1).astype(np.float32)


def _make_audio(directory: Path) -> None:
    samples = _tone()
    sf.write(directory / "tone.wav", samples, RATE, subtype="PCM_16")
    info = sf.info(directory / "tone.wav")
    assert info.format == "WAV"
    sf.write(directory / "tone.flac", samples, RATE)
    sf.write(directory / "tone.ogg", samples, RATE, format="OGG", subtype="VORBIS")
    sf.write(directory / "tone.opus", samples, RATE, format="OGG", subtype="OPUS")
    sf.write(directory / "tone.mp3", samples, RATE, format="MP3", subtype="MPEG_LAYER_III")
    with sf.SoundFile(directory / "tone.wav", "r+") as sound:
        sound.title, sound.artist = TITLE, ARTIST
    picture = Picture()
    cover = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(cover, format="PNG")
    picture.type, picture.mime, picture.data = 3, "image/png", cover.getvalue()
    flac = FLAC(directory / "tone.flac")
    flac["title"], flac["artist"] = TITLE, ARTIST
    flac.add_picture(picture)
    flac.save()
    for kind in (OggVorbis, OggOpus):
        ogg = kind(directory / ("tone.ogg" if kind is OggVorbis else "tone.opus"))
        ogg["title"], ogg["artist"] = TITLE, ARTIST
        ogg.save()
    tags = ID3()
    tags.add(TIT2(encoding=3, text=[TITLE]))
    tags.add(TPE1(encoding=3, text=[ARTIST]))
    tags.add(TXXX(encoding=3, desc="other", text=["kept"]))
    tags.save(directory / "tone.mp3", v2_version=3)


def _make_clip(
    path: Path, muxer: str, video: str | None, audio: str, options: dict[str, str] | None = None
) -> None:
    """One second of moving stripes (10 fps, 64x48) and a stereo tone, titled."""
    with av.open(path, "w", format=muxer, options=options or {}) as out:
        out.metadata.update({"title": TITLE, "artist": ARTIST})
        vstream = None
        if video is not None:
            vstream = out.add_stream(video, rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        astream = out.add_stream(audio, rate=RATE, layout="stereo")
        astream.metadata["language"] = "eng"
        if vstream is not None:
            for index in range(10):
                image = np.full((48, 64, 3), index * 20, np.uint8)
                image[:, index * 5 : index * 5 + 10] = 255
                frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
                frame.pts = index
                out.mux(vstream.encode(frame))
            out.mux(vstream.encode(None))
        samples = np.ascontiguousarray(_tone().T)
        size = astream.codec_context.frame_size or 1024
        for start in range(0, samples.shape[1], size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, start : start + size]),
                format="fltp",
                layout="stereo",
            )
            frame.sample_rate, frame.pts = RATE, start
            out.mux(astream.encode(frame))
        out.mux(astream.encode(None))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with one small file per supported format."""
    directory = tmp_path_factory.mktemp("media")
    _make_audio(directory)
    _make_clip(directory / "clip.mp4", "mp4", "libx264", "aac", {"movflags": "+faststart"})
    _make_clip(directory / "clip.mov", "mov", "libx264", "aac")
    _make_clip(directory / "clip.m4a", "ipod", None, "aac")
    _make_clip(directory / "clip.mkv", "matroska", "libx264", "aac")
    _make_clip(directory / "clip.webm", "webm", "libvpx-vp9", "libopus")
    return directory


# --- independent readers -----------------------------------------------------------------


def _riff_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    data = path.read_bytes()
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] + 8 == len(data)
    chunks, position = [], 12
    while position + 8 <= len(data):
        name, size = struct.unpack("<4sI", data[position : position + 8])
        chunks.append((name, data[position + 8 : position + 8 + size]))
        position += 8 + size + (size & 1)
    assert position == len(data)
    return chunks


def _independent_entries(path: Path, fmt: str) -> list[str]:
    """Every AIGC entry of the file, read without marking.tags.containers."""
    if fmt == "wav":
        return [body.decode() for name, body in _riff_chunks(path) if name == b"AIGC"]
    if fmt == "mp3":
        return [str(f.text[0]) for f in ID3(path).getall("TXXX") if f.desc == "AIGC"]
    if fmt in ("flac", "ogg", "opus"):
        kind = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[fmt]
        tags = kind(path).tags
        return [value for key, value in tags if key.upper() == "AIGC"]
    with av.open(path) as container:
        value = container.metadata.get("AIGC")
    raw = path.read_bytes()
    # MP4: a keys entry "mdta" + "AIGC"; Matroska: a TagName element (0x45A3, size 4).
    key = b"mdtaAIGC" if fmt in ("mp4", "mov", "m4a") else b"\x45\xa3\x84AIGC"
    count = raw.count(key)
    assert value is not None
    return [value] * count


def _other_tags(path: Path, fmt: str) -> dict[str, str]:
    """Title and artist as an independent reader sees them."""
    if fmt == "mp3":
        tags = ID3(path)
        assert [f.text[0] for f in tags.getall("TXXX") if f.desc == "other"] == ["kept"]
        return {"title": str(tags["TIT2"].text[0]), "artist": str(tags["TPE1"].text[0])}
    if fmt in ("flac", "ogg", "opus"):
        kind = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[fmt]
        audio = kind(path)
        if fmt == "flac":
            assert len(audio.pictures) == 1
        return {"title": audio["title"][0], "artist": audio["artist"][0]}
    if fmt == "wav":
        with sf.SoundFile(path) as sound:
            return {"title": sound.title, "artist": sound.artist}
    with av.open(path) as container:
        tags = {k.lower(): v for k, v in container.metadata.items()}
    return {"title": tags["title"], "artist": tags["artist"]}


def _decoded(path: Path) -> list[list[np.ndarray]]:
    """Every audio and video stream decoded to arrays, in stream order."""
    streams: list[list[np.ndarray]] = []
    with av.open(path) as container:
        for stream in container.streams:
            if stream.type not in ("audio", "video"):
                continue
            with av.open(path) as again:
                frames = [f.to_ndarray() for f in again.decode(again.streams[stream.index])]
            streams.append(frames)
    return streams


def _assert_same_layout(path: Path, source: Path) -> None:
    """Same streams (type, codec, frame count, rate or width) and the same duration.

    Matroska stores times in milliseconds, so a remux may move the end by a millisecond or
    two (the packets themselves are identical).
    """
    got, expected = _layout(path), _layout(source)
    assert got["streams"] == expected["streams"]
    assert got["duration"] == pytest.approx(expected["duration"], abs=0.003)


def _layout(path: Path) -> dict[str, Any]:
    with av.open(path) as container:
        return {
            "duration": (container.duration or 0) / 1e6,
            "streams": [
                (s.type, s.codec_context.name, s.frames, s.codec_context.sample_rate or 0)
                if s.type == "audio"
                else (s.type, s.codec_context.name, s.frames, s.codec_context.width)
                for s in container.streams
            ],
        }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- every format ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(ALL_FILES))
def test_tag_read_retag_keeps_media_and_tags(media: Path, tmp_path: Path, fmt: str) -> None:
    source = media / ALL_FILES[fmt]
    before = _digest(source)
    first, second = tmp_path / f"first{source.suffix}", tmp_path / f"second{source.suffix}"

    report = tag_media(source, first, FIRST)
    assert report["format"] == fmt
    assert report["replaced"] is False
    assert read_media_label(first) == FIRST
    entries = _independent_entries(first, fmt)
    assert entries == [FIRST.to_json(wrapped=True)]
    assert json.loads(entries[0])["AIGC"]["ProduceID"] == "first-id"

    assert _same_arrays(_decoded(first), _decoded(source))
    _assert_same_layout(first, source)

    report = tag_media(first, second, SECOND)
    assert report["replaced"] is True
    assert read_media_label(second) == SECOND
    assert _independent_entries(second, fmt) == [SECOND.to_json(wrapped=True)]
    assert _same_arrays(_decoded(second), _decoded(source))
    _assert_same_layout(second, source)
    assert _other_tags(second, fmt) == {"title": TITLE, "artist": ARTIST}
    assert _digest(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])


def _same_arrays(left: list[list[np.ndarray]], right: list[list[np.ndarray]]) -> bool:
    """Identical decoded streams: same count, same frames, same samples."""
    assert len(left) == len(right)
    for frames_left, frames_right in zip(left, right, strict=True):
        assert len(frames_left) == len(frames_right)
        for a, b in zip(frames_left, frames_right, strict=True):
            np.testing.assert_array_equal(a, b)
    return True


@pytest.mark.parametrize("fmt", list(ALL_FILES))
def test_untagged_file_reads_none(media: Path, fmt: str) -> None:
    assert read_media_label(media / ALL_FILES[fmt]) is None
    assert detect_format(media / ALL_FILES[fmt]) == fmt


def test_supported_lists_every_tested_format() -> None:
    assert set(ALL_FILES) <= set(SUPPORTED)


# --- format specifics --------------------------------------------------------------------


def test_mp4_keeps_faststart_and_uses_mdta_keys(media: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    tag_media(media / "clip.mp4", target, FIRST)
    raw = target.read_bytes()
    assert raw.index(b"moov") < raw.index(b"mdat")
    assert raw.count(b"mdtaAIGC") == 1
    with av.open(target) as container:
        assert container.metadata["major_brand"] == "isom"
        assert container.streams.audio[0].metadata["language"] == "eng"


def test_m4a_keeps_its_brand(media: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.m4a"
    tag_media(media / "clip.m4a", target, FIRST)
    assert target.read_bytes()[8:12] == b"M4A "


def test_reader_accepts_bare_json_and_lowercase_key(media: Path, tmp_path: Path) -> None:
    flac = tmp_path / "bare.flac"
    flac.write_bytes((media / "tone.flac").read_bytes())
    audio = FLAC(flac)
    audio["aigc"] = FIRST.to_json(wrapped=False)
    audio.save()
    assert read_media_label(flac) == FIRST
    tag_media(flac, tmp_path / "retag.flac", SECOND)
    assert _independent_entries(tmp_path / "retag.flac", "flac") == [SECOND.to_json(True)]

    mkv = tmp_path / "lower.mkv"
    with av.open(media / "clip.mkv") as src, av.open(mkv, "w", format="matroska") as out:
        out.metadata["aigc"] = FIRST.to_json(wrapped=False)
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    assert read_media_label(mkv) == FIRST


def test_wav_replaces_existing_chunk_in_place_and_pads(media: Path, tmp_path: Path) -> None:
    chunks = _riff_chunks(media / "tone.wav")
    odd_json = json.dumps({"AIGC": {"Label": "1", "ProduceID": "x"}})
    odd_json += " " * (1 - len(odd_json) % 2)  # an odd size needs a pad byte
    assert len(odd_json) % 2 == 1
    chunks.insert(1, (b"AIGC", odd_json.encode()))
    body = b"".join(
        name + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
        for name, data in chunks
    )
    source = tmp_path / "labelled.wav"
    source.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    assert read_media_label(source) == AigcLabel(produce_id="x")
    target = tmp_path / "out.wav"
    tag_media(source, target, SECOND)
    names = [name for name, _ in _riff_chunks(target)]
    assert names.count(b"AIGC") == 1
    assert names.index(b"AIGC") == 1
    np.testing.assert_array_equal(sf.read(target)[0], sf.read(source)[0])


def test_rf64_is_unsupported(tmp_path: Path) -> None:
    source = tmp_path / "big.wav"
    sf.write(source, _tone(0.1), RATE, format="RF64")
    with pytest.raises(UnsupportedInputError, match="RF64"):
        tag_media(source, tmp_path / "out.wav", FIRST)
    assert not (tmp_path / "out.wav").exists()


def test_kind_must_match_content(media: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not MP3"):
        tag_media(media / "tone.flac", tmp_path / "x.flac", FIRST, kind="mp3")
    report = tag_media(media / "clip.mp4", tmp_path / "x.mov", FIRST, kind="mov")
    assert report["format"] == "mov"
    with av.open(tmp_path / "x.mov") as container:
        assert container.metadata["major_brand"].strip() == "qt"


def test_refuses_to_overwrite_the_input(media: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes((media / "tone.wav").read_bytes())
    with pytest.raises(OutputError, match="overwrite the input"):
        tag_media(source, source, FIRST)


# --- bad inputs --------------------------------------------------------------------------


def _assert_one_line_error(error: pytest.ExceptionInfo[Exception], directory: Path) -> None:
    assert "\n" not in str(error.value)
    assert not any(p.name.startswith("out") or p.suffix == ".part" for p in directory.iterdir())


@pytest.mark.parametrize("fmt", list(ALL_FILES))
def test_truncated_input_is_refused(media: Path, tmp_path: Path, fmt: str) -> None:
    source = media / ALL_FILES[fmt]
    data = source.read_bytes()
    # MP3 audio declares no length: cut it inside the ID3 tag instead.
    cut = data[:40] if fmt == "mp3" else data[: int(len(data) * 0.6)]
    broken = tmp_path / f"broken{source.suffix}"
    broken.write_bytes(cut)
    with pytest.raises(InputError, match=r"\S") as error:
        tag_media(broken, tmp_path / f"out{source.suffix}", FIRST)
    _assert_one_line_error(error, tmp_path)


@pytest.mark.parametrize(
    ("content", "error_type", "message"),
    [
        (b"", InputError, "empty"),
        (b"hello, this is plain text, not media\n" * 4, UnsupportedInputError, "not a supp"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), UnsupportedInputError, "not a supp"),
        (
            b"OggS" + bytes(23) + b"\x01\x1e" + b"\x80theora" + bytes(40),
            UnsupportedInputError,
            "Ogg",
        ),
    ],
)
def test_bad_inputs_give_one_line_errors(
    tmp_path: Path, content: bytes, error_type: type[Exception], message: str
) -> None:
    source = tmp_path / "input.bin"
    source.write_bytes(content)
    with pytest.raises(error_type, match=message) as error:
        tag_media(source, tmp_path / "out.bin", FIRST)
    _assert_one_line_error(error, tmp_path)
    with pytest.raises(error_type, match=message):
        read_media_label(source)


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        tag_media(tmp_path / "nope.wav", tmp_path / "out.wav", FIRST)


def test_mp3_without_id3_gets_a_new_tag(tmp_path: Path) -> None:
    source = tmp_path / "bare.mp3"
    sf.write(source, _tone(0.5), RATE, format="MP3", subtype="MPEG_LAYER_III")
    if source.read_bytes().startswith(b"ID3"):
        ID3(source).delete()
    assert not source.read_bytes().startswith(b"ID3")
    target = tmp_path / "out.mp3"
    tag_media(source, target, FIRST)
    assert _independent_entries(target, "mp3") == [FIRST.to_json(wrapped=True)]
    assert _same_arrays(_decoded(target), _decoded(source))


def test_vorbis_comment_length_past_its_page_is_one_input_error(tmp_path: Path) -> None:
    """A Vorbis comment whose length runs past its packet made mutagen raise IndexError, which
    reached the command line as an unexpected error (found by the hypothesis fuzz test)."""
    from tests.support.fuzz_seeds import media_seed

    data = bytearray(media_seed("ogg", tmp_path))
    length_at = data.index(b"ENCODER=") - 4  # the little-endian length of the first comment
    data[length_at] = min(255, data[length_at] + 117)
    damaged = tmp_path / "damaged.ogg"
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match="not a readable OGG file") as caught:
        read_media_label(damaged)
    assert "\n" not in str(caught.value)


def test_a_file_that_ends_inside_its_id3_tag_is_called_truncated(tmp_path: Path) -> None:
    """Whether MP3 or FLAC followed the tag cannot be told, so it is neither called MP3."""
    cut = tmp_path / "cut.flac"
    cut.write_bytes(b"ID3\x04\x00\x00\x00\x00\x07\x68" + bytes(40))  # declares 1000 bytes
    with pytest.raises(InputError, match=r"cut\.flac: truncated: the file ends inside its ID3"):
        detect_format(cut)


def test_tags_never_open_media_with_a_codec_library() -> None:
    """marking.tags works on bytes and containers through marking.media: no module of it
    imports PyAV or soundfile itself, at the top or inside a function (the import-linter
    contract in pyproject.toml says the same)."""
    import ast

    import marking.tags

    folder = Path(marking.tags.__file__).parent
    found = []
    for module in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [
                f"{module.name}: {name}"
                for name in names
                if name.split(".")[0] in ("av", "soundfile")
            ]
    assert found == []
