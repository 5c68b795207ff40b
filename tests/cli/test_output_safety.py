"""Output safety of the single-file verbs: an existing output needs ``--force``, ``-`` is
standard input or output (as in audiowmark), and an output's suffix must fit what is written.

Run as a user would (``python -m marking``), with bytes on standard input where ``-`` is read.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from marking.errors import InputError, InputTooLargeError
from tests.support.audio_clips import clip
from tests.support.commands import assert_one_error_line, run_cli, sha256
from tests.support.video_clips import clip_path

PAYLOAD = "0123456789abcdef"
RATE = 22_050
PNG_START = b"\x89PNG\r\n\x1a\n"


def run_bytes(
    *args: str | Path, cwd: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """``python -m marking ARGS`` in ``cwd`` (a test's own directory: a file named ``-`` left
    there by a broken run must not feed another), ``stdin`` its standard input, output bytes."""
    return run_cli(*args, cwd=cwd, stdin=stdin)


def one_error_line(result: subprocess.CompletedProcess[bytes], exit_code: int) -> str:
    """The one stderr line of a refused command (nothing on stdout)."""
    assert result.returncode == exit_code, result.stderr
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("output-safety")


@pytest.fixture(scope="module")
def picture(workdir: Path) -> Path:
    """A 256x256 PNG with smooth content (the watermark is found in it)."""
    ramp = np.linspace(0, 255, 256)
    pixels = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, 255 - ramp) / 2], -1)
    path = workdir / "picture.png"
    Image.fromarray(np.dstack([pixels, pixels[..., :1]]).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def recording(workdir: Path) -> Path:
    path = workdir / "take.wav"
    sf.write(path, clip("music", 12.0, RATE), RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def marked(workdir: Path, picture: Path) -> Path:
    path = workdir / "marked.png"
    assert run_cli("embed", picture, "-o", path, "--payload", PAYLOAD).returncode == 0
    return path


#: Each single-file verb, as (verb, options after INPUT -o OUTPUT).
VERBS = {
    "embed": ("--payload", PAYLOAD),
    "label": (),
    "tag": ("--producer", "AcmeAI"),
}


# --- an existing output needs --force ---------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS)
def test_existing_output_is_refused_without_force(verb: str, picture: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    output.write_bytes(b"an earlier result")
    digest = sha256(picture)

    result = run_cli(verb, picture, "-o", output, *VERBS[verb])

    line = assert_one_error_line(result, exit_code=2)
    assert line == f"aigc-mark: error: {output}: exists; add --force to overwrite it"
    assert result.stdout == ""
    assert output.read_bytes() == b"an earlier result"
    assert sha256(picture) == digest
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.png"]  # no temporary


@pytest.mark.parametrize("verb", VERBS)
def test_force_overwrites(verb: str, picture: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    output.write_bytes(b"an earlier result")

    result = run_cli(verb, picture, "-o", output, *VERBS[verb], "--force")

    assert result.returncode == 0, result.stderr
    assert output.read_bytes().startswith(PNG_START)


def test_existing_symlink_output_is_refused_and_kept(picture: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.png"
    target.write_bytes(b"kept")
    link = tmp_path / "out.png"
    link.symlink_to(target)
    result = run_cli("embed", picture, "-o", link)
    assert "--force" in assert_one_error_line(result, exit_code=2)
    assert link.is_symlink()
    assert target.read_bytes() == b"kept"


def test_output_onto_the_input_is_still_refused_as_such(picture: Path, tmp_path: Path) -> None:
    """--force never overwrites an input; without it, the message says what is wrong."""
    source = tmp_path / "in.png"
    source.write_bytes(picture.read_bytes())
    for force in ((), ("--force",)):
        result = run_cli("embed", source, "-o", source, *force)
        assert "refusing to overwrite the input" in assert_one_error_line(result)
    assert source.read_bytes() == picture.read_bytes()


def test_test_ca_refuses_existing_files_without_force(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    assert run_cli("test-ca", directory).returncode == 0
    before = {path.name: path.read_bytes() for path in directory.iterdir()}

    again = run_cli("test-ca", directory)

    assert "exists; add --force" in assert_one_error_line(again, exit_code=2)
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    forced = run_cli("test-ca", directory, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (directory / "chain.pem").read_bytes() != before["chain.pem"]


def test_test_ca_refuses_standard_output(tmp_path: Path) -> None:
    result = run_cli("test-ca", "-", cwd=tmp_path)
    assert "not -" in assert_one_error_line(result, exit_code=2)
    assert list(tmp_path.iterdir()) == []


# --- '-' is standard input and standard output --------------------------------------------------


@pytest.mark.parametrize("verb", VERBS)
def test_dash_input_reads_standard_input(verb: str, picture: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.png"

    result = run_bytes(
        verb, "-", "-o", output, *VERBS[verb], stdin=picture.read_bytes(), cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert output.read_bytes().startswith(PNG_START)
    assert b"aigc-mark-" not in result.stdout + result.stderr  # the private copy is shown as -
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_dash_output_writes_standard_output(
    verb: str, source: str, picture: Path, tmp_path: Path
) -> None:
    given = "-" if source == "stdin" else str(picture)
    stdin = picture.read_bytes() if source == "stdin" else b""

    result = run_bytes(verb, given, "-o", "-", *VERBS[verb], stdin=stdin, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(PNG_START)  # the file, and nothing else
    assert Image.open(io.BytesIO(result.stdout)).size == (256, 256)
    assert b"-> -" in result.stderr  # the summary line goes to stderr
    assert list(tmp_path.iterdir()) == []  # no file named '-'


def test_marked_on_standard_output_carries_the_mark(picture: Path, tmp_path: Path) -> None:
    result = run_bytes("embed", picture, "-o", "-", "--payload", PAYLOAD, cwd=tmp_path)
    marked = tmp_path / "piped.png"
    marked.write_bytes(result.stdout)
    detected = run_cli("detect", marked)
    assert f"payload {PAYLOAD}" in detected.stdout, detected.stderr


def test_dash_recording_in_and_out(recording: Path, tmp_path: Path) -> None:
    result = run_bytes(
        "embed", "-", "-o", "-", "--payload", PAYLOAD, stdin=recording.read_bytes(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    piped = tmp_path / "piped.wav"
    piped.write_bytes(result.stdout)
    assert sf.info(piped).format == "WAV"
    detected = run_bytes("detect", "-", stdin=result.stdout, cwd=tmp_path)
    assert f"-: watermark found, payload {PAYLOAD}".encode() in detected.stdout


def test_json_with_dash_output_is_a_usage_error(picture: Path, tmp_path: Path) -> None:
    result = run_bytes("embed", picture, "-o", "-", "--json", cwd=tmp_path)
    assert "--json" in one_error_line(result, exit_code=2)


@pytest.mark.parametrize("verb", ["detect", "verify"])
def test_detect_and_verify_read_media_on_standard_input(
    verb: str, marked: Path, tmp_path: Path
) -> None:
    """Before: detect read a stale file named '-', verify failed on an 'embedded null byte'."""
    result = run_bytes(verb, "-", "--json", stdin=marked.read_bytes(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert record.get("file", record.get("input")) == "-"
    assert json.dumps(record).count(PAYLOAD) >= 1


@pytest.mark.parametrize("verb", ["detect", "verify"])
def test_detect_and_verify_still_read_a_list_of_paths(
    verb: str, marked: Path, picture: Path, tmp_path: Path
) -> None:
    listing = f"{marked}\n{picture}\n".encode()
    result = run_bytes(verb, "-", stdin=listing, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert sorted(line.split(": ")[0] for line in lines) == sorted([str(marked), str(picture)])


def test_empty_standard_input_is_one_line(tmp_path: Path) -> None:
    result = run_bytes("embed", "-", "-o", tmp_path / "out.png", cwd=tmp_path)
    assert "standard input is empty" in one_error_line(result, exit_code=3)
    assert list(tmp_path.iterdir()) == []


def test_spooling_is_bounded_and_leaves_nothing(tmp_path: Path) -> None:
    from marking.cli import stdio

    with pytest.raises(InputTooLargeError, match="larger than"):
        stdio.spool(io.BytesIO(PNG_START + bytes(100)), str(tmp_path), limit=64)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="empty"):
        stdio.spool(io.BytesIO(b""), str(tmp_path))
    path = stdio.spool(io.BytesIO(PNG_START + bytes(100)), str(tmp_path))
    assert Path(path).name == "stdin.png"  # the suffix the content shows


def test_spooled_input_is_private_and_removed() -> None:
    from marking.cli import stdio

    with stdio.input_path("-", io.BytesIO(PNG_START + bytes(8))) as path:
        assert Path(path).parent.stat().st_mode & 0o077 == 0
        assert Path(path).read_bytes() == PNG_START + bytes(8)
    assert not Path(path).exists()


# --- an output's suffix must fit what is written ---------------------------------------------


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.wav"])
@pytest.mark.parametrize("verb", VERBS)
def test_picture_output_suffix_must_fit(
    verb: str, name: str, picture: Path, tmp_path: Path
) -> None:
    """Before, ``-o out.xyz`` wrote a JPEG or PNG named .xyz without a word."""
    result = run_cli(verb, picture, "-o", tmp_path / name, *VERBS[verb])
    line = assert_one_error_line(result, exit_code=2)
    assert ".png" in line or "means WAV" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.flac", "out.png"])
@pytest.mark.parametrize("verb", ["embed", "label"])
def test_sound_output_suffix_must_fit(
    verb: str, name: str, recording: Path, tmp_path: Path
) -> None:
    result = run_cli(verb, recording, "-o", tmp_path / name)
    line = assert_one_error_line(result, exit_code=2)
    assert "suffix" in line
    assert ".wav" in line or "means" in line
    assert list(tmp_path.iterdir()) == []


def test_sound_output_named_like_its_input_is_accepted(recording: Path, tmp_path: Path) -> None:
    """An input named against its content passes its suffix on (mark's outputs rely on it)."""
    source = tmp_path / "take.data"
    source.write_bytes(recording.read_bytes())
    result = run_cli("embed", source, "-o", tmp_path / "marked.data")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.mkv", "out.wav"])
@pytest.mark.parametrize("verb", ["embed", "label"])
def test_video_output_suffix_must_fit(verb: str, name: str, tmp_path: Path) -> None:
    video = clip_path("bbb", width=256, height=256, seconds=1.0, audio=False)
    result = run_cli(verb, video, "-o", tmp_path / name)
    line = assert_one_error_line(result, exit_code=2)
    assert ".mp4" in line or "means" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", ["mark", "verify"])
def test_media_or_nul_bytes_where_paths_are_read_is_one_usage_line(
    verb: str, marked: Path, tmp_path: Path
) -> None:
    """``mark -`` reads paths only (a batch into a directory): a picture piped in gave
    "unexpected ValueError: embedded null byte"; so did bytes that are no media to verify."""
    piped = marked.read_bytes() if verb == "mark" else b"\x00\x01 not media\n"
    options = ("-o", tmp_path / "out", "--producer", "AcmeAI") if verb == "mark" else ()
    result = run_bytes(verb, "-", *options, stdin=piped, cwd=tmp_path)
    assert "NUL byte" in one_error_line(result, exit_code=2)
    assert list(tmp_path.iterdir()) == []
