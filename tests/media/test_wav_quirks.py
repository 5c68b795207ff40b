"""WAV files with the quirks real writers leave behind (issue 9).

libsndfile plays WAV files whose RIFF size is wrong (0 or 0xFFFFFFFF from streaming writers,
too small after a chunk was appended, too large after a cut), whose 'data' size says "to the
end" (0xFFFFFFFF), whose odd final chunk lacks its pad byte, or that carry junk or an ID3v1 tag
after the RIFF. The label reader (``verify``) reads all of them: the label if there is one,
else none. ``tag`` writes a copy that libsndfile decodes to the same samples and that exiftool
reads without an error, or, when it cannot copy the file without guessing (a truncated chunk,
bytes the RIFF size counts that are not chunks), refuses on one line that names the chunk in
words, never as a Python bytes repr.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from marking.cli import main as cli_main
from marking.errors import InputError
from marking.pipeline.verify import verify_file
from marking.tags.aigc_label import AigcLabel
from marking.tags.containers import read_media_label, tag_media
from tests.support.audio_clips import music_like
from tests.support.commands import run_cli

RATE = 16000
LABEL = AigcLabel.create("QuirkyWriterAI", "quirk-1")
NEW = AigcLabel.create("QuirkyWriterAI", "quirk-2")
#: Bytes after a RIFF that are not a chunk (the first four are not text).
JUNK = bytes(range(200, 237))
#: An ID3v1 tag after the RIFF: "TAGS" reads as a chunk id, "ong " as a huge size.
ID3V1 = b"TAG" + b"Song title".ljust(30, b"\0") + bytes(95)


@dataclass(frozen=True)
class Parts:
    """Chunk bodies of a valid 2 s mono 16-bit WAV with a title and a label."""

    fmt: bytes
    info: bytes
    samples: bytes
    label: bytes


def chunk(name: bytes, body: bytes, *, pad: bool = True) -> bytes:
    """A chunk with its true size (and its pad byte when the size is odd, unless told not)."""
    return raw(name, len(body), body) + (b"\0" if len(body) % 2 and pad else b"")


def raw(name: bytes, declared: int, body: bytes) -> bytes:
    """A chunk header declaring ``declared`` bytes, followed by ``body`` whatever its size."""
    return name + struct.pack("<I", declared) + body


def riff(*chunks: bytes, size: int | None = None) -> bytes:
    """A RIFF WAVE file of ``chunks``, its size field ``size`` if given, else the true one."""
    body = b"".join(chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body) if size is None else size) + b"WAVE" + body


def walk(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Chunk id -> (offset of its body, declared size), read without marking.tags.containers."""
    found = {}
    position = 12
    while position + 8 <= len(data):
        name, size = struct.unpack("<4sI", data[position : position + 8])
        found.setdefault(name, (position + 8, size))
        position += 8 + size + size % 2
    return found


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    path = tmp_path_factory.mktemp("wav-quirks") / "plain.wav"
    noise = np.random.default_rng(7).uniform(-0.3, 0.3, (2 * RATE, 1)).astype(np.float32)
    with sf.SoundFile(path, "w", RATE, 1, "PCM_16") as sound:
        sound.title = "A title"  # a LIST chunk
        sound.write(noise)
    data = path.read_bytes()
    chunks = walk(data)
    body = {name: data[start : start + size] for name, (start, size) in chunks.items()}
    label = LABEL.to_json(wrapped=True).encode()
    assert len(label) % 2 == 0  # "label cut off" cuts into the text, not a pad byte
    return Parts(body[b"fmt "], body[b"LIST"], body[b"data"], label)


def _u8_odd(_: Parts) -> bytes:
    """Unsigned 8-bit mono with an odd number of frames, and no pad byte after the data."""
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE, 1, 8)
    samples = np.random.default_rng(8).integers(100, 156, 2 * RATE + 1, dtype=np.uint8)
    return riff(chunk(b"fmt ", fmt), chunk(b"data", samples.tobytes(), pad=False))


@dataclass(frozen=True)
class Quirk:
    name: str
    build: Callable[[Parts], bytes]
    #: The label the reader must find (``None``: none), or the InputError it must raise.
    label: AigcLabel | str | None
    #: None when tag must write a good copy; else the pattern of its one-line refusal.
    refusal: str | None = None
    #: Exit code of ``aigc-mark verify`` (0: AI label found, 1: none, 3: failed).
    verify: int | None = None
    #: For a label the reader refuses: what a reader that salvages (verify) gets instead,
    #: the label (or None) and the pattern of its note.
    salvaged: tuple[AigcLabel | None, str] | None = None

    def verify_code(self) -> int:
        if self.verify is not None:
            return self.verify
        return 0 if isinstance(self.label, AigcLabel) else 1


# The chunks, named by one letter so that the table below reads as their order.


def F(p: Parts) -> bytes:
    return chunk(b"fmt ", p.fmt)


def L(p: Parts) -> bytes:
    return chunk(b"LIST", p.info)


def D(p: Parts) -> bytes:
    return chunk(b"data", p.samples)


def A(p: Parts) -> bytes:
    return chunk(b"AIGC", p.label)


QUIRKS = [
    Quirk("riff-size-ffffffff", lambda p: riff(F(p), L(p), D(p), size=0xFFFFFFFF), None),
    Quirk("riff-size-0", lambda p: riff(F(p), L(p), A(p), D(p), size=0), LABEL),
    Quirk("riff-size-4", lambda p: riff(F(p), L(p), D(p), size=4), None),
    Quirk(
        "riff-size-leaves-out-the-label",
        lambda p: riff(F(p), L(p), D(p)) + A(p),
        LABEL,
    ),
    Quirk(
        "riff-size-8-too-large",
        lambda p: riff(F(p), A(p), L(p), D(p), size=4 + len(F(p) + A(p) + L(p) + D(p)) + 8),
        LABEL,
    ),
    Quirk(
        "data-size-ffffffff",
        lambda p: riff(F(p), L(p), A(p), raw(b"data", 0xFFFFFFFF, p.samples)),
        LABEL,
    ),
    Quirk(
        "data-and-riff-size-ffffffff",
        lambda p: riff(F(p), L(p), A(p), raw(b"data", 0xFFFFFFFF, p.samples), size=0xFFFFFFFF),
        LABEL,
    ),
    Quirk(
        "data-size-0-samples-follow",
        lambda p: riff(F(p), L(p), A(p), raw(b"data", 0, p.samples)),
        LABEL,
        refusal=r"the 64000 bytes after chunk 'data' \(from byte \d+\) are not RIFF chunks, "
        r"though the RIFF size counts them \(is the size of 'data', 0, wrong\?\)",
        # libsndfile plays no frames, so the watermark is not checked; the label says AI.
        verify=0,
    ),
    Quirk(
        "data-cut-at-70-percent",
        lambda p: riff(F(p), L(p), A(p), D(p))[: -len(p.samples) * 3 // 10],
        LABEL,
        refusal=r"RIFF chunk 'data' at byte \d+ runs past the end of the file "
        r"\(it declares 64000 bytes, 44800 remain\); the file is truncated",
    ),
    Quirk(
        "data-size-fffffff0",
        lambda p: riff(F(p), L(p), raw(b"data", 0xFFFFFFF0, p.samples)),
        None,
        refusal=r"RIFF chunk 'data' at byte \d+ runs past the end of the file "
        r"\(it declares 4294967280 bytes, 64000 remain\)",
    ),
    Quirk(
        "odd-final-chunk-without-pad",
        lambda p: riff(F(p), D(p), chunk(b"junk", b"abc", pad=False)),
        None,
    ),
    Quirk("odd-data-chunk-without-pad", _u8_odd, None),
    Quirk("junk-after-the-riff", lambda p: riff(F(p), L(p), D(p), A(p)) + JUNK, LABEL),
    Quirk("zeros-counted-in-the-riff", lambda p: riff(F(p), L(p), D(p), bytes(6)), None),
    Quirk("id3v1-tag-after-the-riff", lambda p: riff(F(p), L(p), D(p)) + ID3V1, None),
    Quirk(
        "label-chunk-cut-off",
        lambda p: riff(F(p), L(p), D(p), A(p))[:-5],
        r"the label is cut off: RIFF chunk 'AIGC' at byte \d+ runs past the end of the file "
        r"\(it declares \d+ bytes, \d+ remain\)",
        # verify reads the samples (no watermark here) and notes the cut label.
        verify=1,
        salvaged=(None, r"^the label is cut off: RIFF chunk 'AIGC' .*; it was not read$"),
    ),
    Quirk(
        "label-chunk-declares-3-gib",
        lambda p: riff(F(p), L(p), D(p), raw(b"AIGC", 3 << 30, p.label)),
        r"the label is cut off: RIFF chunk 'AIGC' at byte \d+ runs past the end of the file "
        r"\(it declares 3221225472 bytes, \d+ remain\)",
        verify=0,
        salvaged=(
            LABEL,
            r"^the label reads whole, but its RIFF chunk 'AIGC' at byte \d+ runs past the end "
            r"of the file \(it declares 3221225472 bytes, \d+ remain\)$",
        ),
    ),
    Quirk(
        "list-chunk-declares-3-gib-after-the-label",
        lambda p: riff(F(p), D(p), A(p), raw(b"LIST", 3 << 30, p.info)),
        LABEL,
        refusal=r"RIFF chunk 'LIST' at byte \d+ runs past the end of the file "
        r"\(it declares 3221225472 bytes, \d+ remain\); the file is truncated",
    ),
    Quirk(
        "list-chunk-cut-off",
        lambda p: riff(F(p), D(p), L(p))[:-5],
        None,
        refusal=r"RIFF chunk 'LIST' at byte \d+ runs past the end of the file",
    ),
]


def write_quirk(quirk: Quirk, parts: Parts, directory: Path) -> Path:
    path = directory / f"{quirk.name}.wav"
    path.write_bytes(quirk.build(parts))
    return path


def exiftool_view(path: Path) -> dict[str, Any]:
    """exiftool's Warning and Error for ``path`` (the tests fail, not skip, without it)."""
    found = shutil.which("exiftool")
    if found is None:
        pytest.fail("exiftool is not installed: `make test` installs it")
    command = [found, "-j", "-Warning", "-Error", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    return json.loads(result.stdout)[0]


def assert_readable_message(message: str) -> None:
    """One line, chunk ids as text: no b'...' repr, no \\x escapes."""
    assert "\n" not in message
    assert "b'" not in message
    assert 'b"' not in message
    assert "\\x" not in message


@pytest.mark.parametrize("quirk", QUIRKS, ids=lambda quirk: quirk.name)
def test_libsndfile_plays_it(quirk: Quirk, parts: Parts, tmp_path: Path) -> None:
    """The premise: every quirk here is one libsndfile accepts."""
    path = write_quirk(quirk, parts, tmp_path)
    info = sf.info(path)
    samples, _ = sf.read(path)
    assert len(samples) == info.frames
    if quirk.name != "data-size-0-samples-follow":
        assert info.frames >= RATE


@pytest.mark.parametrize("quirk", QUIRKS, ids=lambda quirk: quirk.name)
def test_the_label_is_read(quirk: Quirk, parts: Parts, tmp_path: Path) -> None:
    path = write_quirk(quirk, parts, tmp_path)
    if isinstance(quirk.label, str):
        with pytest.raises(InputError, match=quirk.label) as error:
            read_media_label(path)
        assert_readable_message(str(error.value))
    else:
        assert read_media_label(path) == quirk.label


SALVAGED = [quirk for quirk in QUIRKS if quirk.salvaged is not None]


@pytest.mark.parametrize("quirk", SALVAGED, ids=lambda quirk: quirk.name)
def test_a_reader_salvages_a_label_chunk_past_the_end(
    quirk: Quirk, parts: Parts, tmp_path: Path
) -> None:
    """Issue 15 item 6: a label chunk declaring more than remains gives what is there (the
    label when it reads whole), with a note, to a reader that salvages (verify)."""
    assert quirk.salvaged is not None
    label, note = quirk.salvaged
    path = write_quirk(quirk, parts, tmp_path)
    notes: list[str] = []
    assert read_media_label(path, notes=notes) == label
    assert len(notes) == 1, notes
    assert re.match(note, notes[0]), notes
    assert_readable_message(notes[0])
    result = verify_file(path)
    assert (result.aigc is not None) == (label is not None)
    assert any(re.match(note, line) for line in result.notes), result.notes
    assert result.watermark is not None
    assert result.watermark["checked"]


@pytest.mark.parametrize("quirk", QUIRKS, ids=lambda quirk: quirk.name)
def test_tag_writes_a_good_copy_or_refuses_on_one_line(
    quirk: Quirk, parts: Parts, tmp_path: Path
) -> None:
    source = write_quirk(quirk, parts, tmp_path)
    target = tmp_path / "out.wav"
    if quirk.refusal is not None:
        with pytest.raises(InputError, match=quirk.refusal) as error:
            tag_media(source, target, NEW)
        assert str(error.value).startswith(f"{source}: cannot rewrite this WAV file safely: ")
        assert_readable_message(str(error.value))
        assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]
        return
    tag_media(source, target, NEW)
    assert read_media_label(target) == NEW
    before, after = sf.info(source), sf.info(target)
    assert (after.format, after.subtype, after.samplerate, after.channels, after.frames) == (
        before.format,
        before.subtype,
        before.samplerate,
        before.channels,
        before.frames,
    )
    np.testing.assert_array_equal(sf.read(target)[0], sf.read(source)[0])
    data = target.read_bytes()
    chunks = walk(data)
    assert struct.unpack("<I", data[4:8])[0] <= len(data) - 8  # the RIFF size is true now
    assert chunks[b"data"][1] + chunks[b"data"][0] <= len(data)  # 'data' fits in the file
    seen = exiftool_view(target)
    assert "Error" not in seen, seen
    if "Warning" not in exiftool_view(source):
        assert "Warning" not in seen, seen


def test_junk_and_id3v1_after_the_riff_are_kept(parts: Parts, tmp_path: Path) -> None:
    for tail in (JUNK, ID3V1):
        source = tmp_path / "tail.wav"
        source.write_bytes(riff(F(parts), L(parts), D(parts)) + tail)
        target = tmp_path / "out.wav"
        tag_media(source, target, NEW)
        data = target.read_bytes()
        assert data.endswith(tail)
        assert struct.unpack("<I", data[4:8])[0] == len(data) - len(tail) - 8


def test_streaming_data_size_gets_its_real_size(parts: Parts, tmp_path: Path) -> None:
    source = tmp_path / "streamed.wav"
    source.write_bytes(
        riff(F(parts), raw(b"data", 0xFFFFFFFF, parts.samples + b"\x01"), size=0xFFFFFFFF)
    )
    target = tmp_path / "out.wav"
    tag_media(source, target, NEW)
    data = target.read_bytes()
    offset, size = walk(data)[b"data"]
    assert size == len(parts.samples) + 1
    assert data[offset + size] == 0  # the pad byte the odd size needs
    assert read_media_label(target) == NEW


def test_a_chunk_missing_its_pad_byte_mid_file_is_refused_on_one_line(
    parts: Parts, tmp_path: Path
) -> None:
    """Which libsndfile refuses too ("No 'data' chunk marker"): the chunk list is misaligned."""
    source = tmp_path / "misaligned.wav"
    source.write_bytes(riff(F(parts), chunk(b"junk", b"abc", pad=False), L(parts), D(parts)))
    with pytest.raises(sf.LibsndfileError):
        sf.info(source)
    for call in (
        lambda: read_media_label(source),
        lambda: tag_media(source, tmp_path / "o.wav", NEW),
    ):
        with pytest.raises(
            InputError, match=r"no 'data' chunk: the chunks stop after 'junk'"
        ) as error:
            call()
        assert_readable_message(str(error.value))


@pytest.mark.parametrize("quirk", QUIRKS, ids=lambda quirk: quirk.name)
def test_verify_and_tag_commands(
    quirk: Quirk, parts: Parts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_quirk(quirk, parts, tmp_path)
    target = tmp_path / "out.wav"
    runs = {
        "verify": (["verify", str(source)], quirk.verify_code()),
        "tag": (
            ["tag", str(source), "-o", str(target), "--producer", "QuirkyWriterAI"],
            0 if quirk.refusal is None else 3,
        ),
    }
    for command, (args, expected) in runs.items():
        code = cli_main.main(args)
        captured = capsys.readouterr()
        assert code == expected, (command, captured.err)
        assert_readable_message(captured.err.rstrip("\n"))
        if expected == 3:
            assert captured.err.count("\n") == 1, captured.err
            assert "error: " in captured.err
        else:
            assert captured.err == ""


# --- Issue 15: marked WAVs a reader must read although parts of them are odd -------------------

PAYLOAD = "0123456789abcdef"
#: Length of the marked WAV: a few seconds of music carry the mark plainly.
MARKED_SECONDS = 4
#: Chunks before the samples: libsndfile alone refuses the file ("No 'data' chunk marker").
MANY_CHUNKS = 5000


@pytest.fixture(scope="module")
def marked(parts: Parts, tmp_path_factory: pytest.TempPathFactory) -> Parts:
    """``parts`` with other samples (music), watermarked (PAYLOAD) by the real embedder."""
    from marking.files.audio import embed_audio_file

    directory = tmp_path_factory.mktemp("wav-marked")
    plain, out = directory / "plain.wav", directory / "marked.wav"
    mono = music_like(MARKED_SECONDS, RATE, seed=3)[:, 0]
    sf.write(plain, mono, RATE, subtype="PCM_16")
    embed_audio_file(plain, out, payload=PAYLOAD)
    data = out.read_bytes()
    offset, size = walk(data)[b"data"]
    return replace(parts, samples=data[offset : offset + size])


@pytest.mark.parametrize(
    ("name", "build", "label", "note"),
    [
        (
            "declares-3-gib",
            lambda p: riff(F(p), L(p), D(p), raw(b"AIGC", 3 << 30, p.label)),
            LABEL,
            "the label reads whole, but its RIFF chunk 'AIGC'",
        ),
        (
            "cut-off",
            lambda p: riff(F(p), L(p), D(p), A(p))[:-40],
            None,
            "the label is cut off: RIFF chunk 'AIGC'",
        ),
    ],
)
def test_verify_reads_the_mark_of_a_wav_whose_label_chunk_runs_past_the_end(
    marked: Parts, tmp_path: Path, name: str, build: Callable[[Parts], bytes], label: Any, note: str
) -> None:
    """Issue 15 item 6: verify refused the file whole ("the label is cut off") while detect
    found the mark. Now it reads the mark and what there is of the label, with a note."""
    path = tmp_path / f"{name}.wav"
    path.write_bytes(build(marked))
    result = verify_file(path)
    assert result.watermark is not None
    assert result.watermark["detected"], result.watermark
    assert result.watermark["payload"] == PAYLOAD
    assert (result.aigc is not None) == (label is not None)
    assert [line for line in result.notes if line.startswith(note)], result.notes
    assert result.ai_marked
    run = run_cli("verify", path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert note in run.stdout
    assert f"watermark {PAYLOAD}" in run.stdout


#: A LIST chunk of cue labels (as audio editors write for markers).
ADTL = chunk(b"LIST", b"adtl" + chunk(b"labl", b"\1\0\0\0a\0"))


def many_chunks(p: Parts) -> bytes:
    """A WAV with MANY_CHUNKS LIST chunks (its title, then cue labels) before 'data'."""
    return riff(F(p), L(p), *[ADTL] * (MANY_CHUNKS - 1), D(p))


def test_a_wav_with_5000_list_chunks_before_its_samples_is_read(
    marked: Parts, tmp_path: Path
) -> None:
    """Issue 15 item 16: libsndfile keeps the chunks before 'data' in a header buffer it does
    not grow past 64 KiB, so it refuses this file although players play it. The readers open
    it through a view without the chunks past 32 KiB: every verb works."""
    from marking.files.audio import detect_audio_file
    from marking.media.audio import probe_audio

    source = tmp_path / "many-lists.wav"
    source.write_bytes(many_chunks(marked))
    with pytest.raises(sf.LibsndfileError):
        sf.info(source)  # the premise
    info = probe_audio(source)
    assert (info.frames, info.samplerate, info.metadata.get("title")) == (
        MARKED_SECONDS * RATE,
        RATE,
        "A title",
    )
    found = detect_audio_file(source, speed_search=False)
    assert found["payload"] == PAYLOAD
    assert found["notes"] == []
    run = run_cli("detect", source, "--no-speed-search")
    assert run.returncode == 0, run.stderr
    assert PAYLOAD in run.stdout
    run = run_cli("verify", source)
    assert run.returncode == 0, run.stderr
    assert PAYLOAD in run.stdout

    embedded = tmp_path / "embedded.wav"
    assert cli_main.main(["embed", str(source), "-o", str(embedded), "--payload", "f" * 16]) == 0
    # embed writes what libsndfile writes for every WAV: the samples and their string tags
    # (here the title); the 5,000 LIST chunks are not copied.
    chunks = walk(embedded.read_bytes())
    assert set(chunks) <= {b"fmt ", b"data", b"LIST", b"PEAK", b"fact"}, chunks
    assert sf.info(embedded).frames == MARKED_SECONDS * RATE
    assert probe_audio(embedded).metadata.get("title") == "A title"
    assert detect_audio_file(embedded, speed_search=False)["payload"] == "f" * 16

    tagged = tmp_path / "tagged.wav"
    args = ["tag", str(source), "-o", str(tagged), "--producer", "QuirkyWriterAI"]
    assert cli_main.main(args) == 0
    data = tagged.read_bytes()
    assert data.count(b"LIST") == MANY_CHUNKS  # tag copies every chunk
    assert read_media_label(tagged) is not None
    assert verify_file(tagged).watermark["payload"] == PAYLOAD

    labelled = tmp_path / "labelled.wav"
    assert cli_main.main(["label", str(source), "-o", str(labelled)]) == 0
    assert sf.info(labelled).frames >= MARKED_SECONDS * RATE


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([chunk(b"junk", bytes(16))] * MANY_CHUNKS, id="junk"),
        pytest.param([chunk(b"LIST", b"INFOICMT\2\0\0\0a\0")] * MANY_CHUNKS, id="info"),
        pytest.param([chunk(b"smpl", bytes(36 + 24 * 5000))], id="one-big-smpl"),
    ],
)
def test_other_chunks_libsndfile_cannot_take_in_are_left_out_too(
    marked: Parts, tmp_path: Path, chunks: list[bytes]
) -> None:
    from marking.files.audio import detect_audio_file

    source = tmp_path / "chunky.wav"
    source.write_bytes(riff(F(marked), *chunks, D(marked)))
    with pytest.raises(sf.LibsndfileError):
        sf.info(source)
    found = detect_audio_file(source, speed_search=False)
    assert found["payload"] == PAYLOAD
