"""Paths the command line is given, as an adversarial user gives them: FIFOs, device nodes and
sockets as inputs and outputs, an output that is the input under another name, a report that
names an input, keys in misspelt options, and file names that would forge a result line.

Every command runs as a subprocess with a timeout, so a regression that blocks on a FIFO fails
instead of hanging the suite. Device nodes need root (as the suite runs here and in CI); the
tests that make them skip, saying why, where ``mknod`` is not permitted.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.cli.test_batch_cli import photo
from tests.support.commands import assert_one_error_line, run_cli, sha256

PRODUCER = "PathsAI"
SECRET = "Paths-Key-Never-Shown-4417"
#: Seconds a command that fails at once may take on a busy 2-core machine (it imports NumPy and
#: Numba first); a command that blocks on a FIFO takes forever and fails the test.
TIMEOUT = 240

NODE_KINDS = ("fifo", "character device", "socket")
#: How messages name each kind of node.
SAID = {
    "fifo": "a FIFO",
    "character device": "a character device",
    "socket": "a socket",
    "directory": "a directory",
}


def run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m marking ARGS`` with a timeout; no key from the caller's environment."""
    return run_cli(*args, env=env, cwd=cwd, timeout=TIMEOUT)


def make_node(path: Path, kind: str, device: tuple[int, int] = (1, 3)) -> Path:
    """A non-regular file at ``path``: a FIFO, a character device (``/dev/null``'s numbers by
    default, so a regression that writes into it writes nowhere), a socket or a directory."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "character device":
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(*device))
        except PermissionError:
            pytest.skip("making a device node needs root (CAP_MKNOD)")
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(os.fspath(path))  # the socket file stays after close
    elif kind == "directory":
        path.mkdir()
    else:
        raise ValueError(kind)
    return path


def same_kind(path: Path, kind: str) -> bool:
    """Whether ``path`` is still the non-regular file :func:`make_node` made."""
    mode = path.lstat().st_mode
    return {
        "fifo": stat.S_ISFIFO,
        "character device": stat.S_ISCHR,
        "socket": stat.S_ISSOCK,
        "directory": stat.S_ISDIR,
    }[kind](mode)


def recording(path: Path) -> Path:
    noise = np.random.default_rng(5).standard_normal((16_000 * 3, 1)) * 0.1
    sf.write(path, noise, 16_000, format="WAV")
    return path


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    return photo(tmp_path / "in.jpg", 3, (320, 256), quality=90)


# --- item 4: a non-regular file given as media is never opened, and never hangs ---------------


def _commands(source: Path, out: Path) -> dict[str, list[str | Path]]:
    return {
        "embed": ["embed", source, "-o", out / "x.jpg"],
        "detect": ["detect", source],
        "verify": ["verify", source],
        "label": ["label", source, "-o", out / "x.jpg"],
        "tag": ["tag", source, "-o", out / "x.jpg", "--producer", PRODUCER],
        "mark": ["mark", source, "-o", out / "marked", "--producer", PRODUCER],
    }


@pytest.mark.parametrize("command", ["embed", "detect", "verify", "label", "tag", "mark"])
@pytest.mark.parametrize("kind", NODE_KINDS)
def test_a_non_regular_input_is_one_error_line(tmp_path: Path, kind: str, command: str) -> None:
    # A FIFO with no writer blocks whoever opens it for reading; /dev/zero never ends.
    source = make_node(tmp_path / "f.jpg", kind, device=(1, 5))
    result = run(*_commands(source, tmp_path)[command])
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    assert f"{SAID[kind]}, not a regular file" in errors[0]
    assert str(source) in errors[0]
    assert same_kind(source, kind)
    assert not (tmp_path / "x.jpg").exists()
    assert not list(tmp_path.glob("marked/*.jpg"))


@pytest.mark.parametrize("command", ["verify", "mark"])
def test_a_walk_skips_fifos_devices_and_sockets_with_a_note(tmp_path: Path, command: str) -> None:
    root = tmp_path / "in"
    photo(root / "a.jpg", 1, (320, 256), quality=90)
    make_node(root / "pipe.jpg", "fifo")
    make_node(root / "sock.png", "socket")
    make_node(root / "sub", "directory")
    make_node(root / "sub" / "zero.flac", "character device", device=(1, 5))
    report = tmp_path / "report.jsonl"
    args: list[str | Path] = [command, root, "--report", report, "-j", "1"]
    if command == "mark":
        args += ["-o", tmp_path / "out", "--producer", PRODUCER]
    result = run(*args)
    assert result.returncode == (0 if command == "mark" else 1), result.stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert records["a.jpg"]["status"] == ("marked" if command == "mark" else "verified")
    skipped = {"pipe.jpg": "a FIFO", "sock.png": "a socket", "zero.flac": "a character device"}
    for name, kind in skipped.items():
        assert records[name]["status"] == "skipped"
        assert records[name]["reason"] == f"{kind}, not a regular file"
        assert f"{name}: skipped ({kind}, not a regular file)" in result.stdout
    if command == "mark":
        assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.jpg"]


def test_open_regular_refuses_a_fifo_swapped_in_after_the_check(
    tmp_path: Path, picture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stat said regular file, the open found a FIFO: refused, without blocking (the FIFO
    is also held open for writing here, so a blocking open could not hang the test run)."""
    from marking.media.atomic import open_regular

    fifo = make_node(tmp_path / "swapped.jpg", "fifo")
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    regular = picture.stat()
    real_stat = Path.stat

    def stat_before_the_swap(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        return regular if self == fifo else real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", stat_before_the_swap)
    try:
        with pytest.raises(OSError, match="a FIFO, not a regular file"):
            open_regular(fifo)
    finally:
        os.close(writer)
    monkeypatch.undo()
    with open_regular(picture) as stream:  # a regular file opens, blocking reads and all
        assert stream.read(3) == b"\xff\xd8\xff"
        assert os.get_blocking(stream.fileno())


# --- item 3: outputs are regular files or new names; never a device, FIFO, or the input --------


@pytest.mark.parametrize("kind", [*NODE_KINDS, "directory"])
@pytest.mark.parametrize("command", ["embed", "label", "tag", "embed audio"])
def test_an_output_that_is_not_a_regular_file_is_a_usage_error(
    tmp_path: Path, picture: Path, command: str, kind: str
) -> None:
    target = make_node(tmp_path / "node", kind)
    verb = command.split()[0]
    source = recording(tmp_path / "in.wav") if command == "embed audio" else picture
    extra = ["--producer", PRODUCER] if verb == "tag" else []
    for output in (target, tmp_path / "link-to-node"):
        if output != target:
            output.symlink_to(target)  # judged by what it points to
        line = assert_one_error_line(run(verb, source, "-o", output, *extra), exit_code=2)
        assert "not a regular file" in line or "is a directory" in line, line
        assert same_kind(target, kind)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("kind", NODE_KINDS)
def test_mark_never_replaces_a_non_regular_file_in_outdir(
    tmp_path: Path, picture: Path, kind: str
) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    make_node(outdir / "in.jpg", kind)
    result = run("mark", picture, "-o", outdir, "--producer", PRODUCER)
    assert result.returncode == 3, result.stderr
    assert f"{SAID[kind]}, not a regular file" in result.stderr
    assert same_kind(outdir / "in.jpg", kind)
    # OUTDIR itself a FIFO, a device, a socket: a usage error, and left as it is.
    node = outdir / "in.jpg"
    line = assert_one_error_line(run("mark", picture, "-o", node, "--producer", PRODUCER), 2)
    assert line.endswith(f"is {SAID[kind]}, not a directory")
    assert same_kind(node, kind)


@pytest.mark.parametrize("kind", NODE_KINDS)
def test_test_ca_never_replaces_a_non_regular_file(tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "ca"
    directory.mkdir()
    make_node(directory / "signer.key", kind)
    line = assert_one_error_line(run("test-ca", directory), exit_code=2)
    assert "signer.key" in line
    assert same_kind(directory / "signer.key", kind)
    assert sorted(p.name for p in directory.iterdir()) == ["signer.key"]  # nothing half-made
    fine = tmp_path / "fine"
    assert run("test-ca", fine).returncode == 0
    assert stat.S_IMODE((fine / "signer.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((fine / "root.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("alias", ["same path", "dot path", "hard link", "symlink", "via dir"])
@pytest.mark.parametrize("command", ["embed", "label", "tag", "embed audio"])
def test_an_output_that_is_the_input_is_refused(
    tmp_path: Path, picture: Path, command: str, alias: str
) -> None:
    verb = command.split()[0]
    source = recording(tmp_path / "in.wav") if command == "embed audio" else picture
    digest = sha256(source)
    if alias == "same path":
        output = source
    elif alias == "dot path":
        output = tmp_path / "." / source.name
    elif alias == "hard link":
        output = tmp_path / f"linked{source.suffix}"
        os.link(source, output)
    elif alias == "symlink":
        output = tmp_path / f"alias{source.suffix}"
        output.symlink_to(source)
    else:
        (tmp_path / "elsewhere").symlink_to(tmp_path)
        output = tmp_path / "elsewhere" / source.name
    extra = ["--producer", PRODUCER] if verb == "tag" else []
    line = assert_one_error_line(run(verb, source, "-o", output, *extra))
    assert "refusing to overwrite the input" in line
    assert sha256(source) == digest
    assert output.samefile(source)


# --- item 2: a report never replaces an input, a media file or an output -----------------------


@pytest.fixture
def four(tmp_path: Path) -> dict[str, Path]:
    return {
        name: photo(tmp_path / f"{name}.jpg", index, (320, 256), quality=90)
        for index, name in enumerate(("rep1", "rep2", "rep3", "rep4"))
    }


def test_report_naming_pictures_is_refused(tmp_path: Path, four: dict[str, Path]) -> None:
    digests = {name: sha256(path) for name, path in four.items()}
    # What `--report *.jpg` expands to: the first picture becomes the report's name.
    mark_args = ["--report", four["rep3"], four["rep4"], "-o", tmp_path / "out"]
    runs = {
        "verify": run("verify", "--report", four["rep1"], four["rep2"]),
        "mark": run("mark", *mark_args, "--producer", PRODUCER),
        "input named": run("verify", four["rep1"], four["rep2"], "--report", four["rep2"]),
    }
    for name, result in runs.items():
        line = assert_one_error_line(result, exit_code=2)
        assert line.startswith("aigc-mark: error: --report "), name
        assert result.stdout == ""
    assert {name: sha256(path) for name, path in four.items()} == digests
    assert not (tmp_path / "out").exists()  # refused before any work


def test_report_that_is_media_by_content_or_inside_outdir_is_refused(
    tmp_path: Path, four: dict[str, Path]
) -> None:
    disguised = tmp_path / "notes.dat"  # a JPEG under another suffix
    disguised.write_bytes(four["rep1"].read_bytes())
    sound = recording(tmp_path / "take.bin")
    for report in (disguised, sound):
        digest = sha256(report)
        line = assert_one_error_line(run("verify", four["rep2"], "--report", report), 2)
        assert "existing media file" in line
        assert sha256(report) == digest
    outdir = tmp_path / "out"
    for report in (outdir / "report.jsonl", outdir / "rep2.jpg"):
        result = run("mark", four["rep2"], "-o", outdir, "--report", report, "--producer", PRODUCER)
        assert "inside the output directory" in assert_one_error_line(result, exit_code=2)


@pytest.mark.parametrize("kind", [*NODE_KINDS, "directory"])
def test_report_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, four: dict[str, Path], kind: str
) -> None:
    node = make_node(tmp_path / "report", kind)
    line = assert_one_error_line(run("verify", four["rep1"], "--report", node), exit_code=2)
    assert line.startswith(f"aigc-mark: error: --report {node}: ")
    assert same_kind(node, kind)


def test_report_is_replaced_whole_and_an_earlier_one_kept_if_the_batch_breaks(
    tmp_path: Path, four: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report.jsonl"
    report.write_text('{"earlier": "report"}\n')
    result = run("verify", four["rep1"], four["rep2"], "--report", report, "-j", "1")
    assert result.returncode == 1, result.stderr
    lines = report.read_text().splitlines()
    assert sorted(Path(json.loads(line)["input"]).name for line in lines) == [
        "rep1.jpg",
        "rep2.jpg",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    # A batch that breaks down (not interrupted, not finished) leaves the earlier report.
    from marking.cli import mark as mark_cli

    before = report.read_bytes()

    def break_down() -> None:
        with mark_cli._open_report(str(report)) as stream:
            assert stream is not None
            stream.write('{"half": ')
            raise RuntimeError("the batch broke down")

    with pytest.raises(RuntimeError):
        break_down()
    assert report.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- items 13 and 14: no key value is echoed; a key file is a small regular file ---------------


@pytest.mark.parametrize(
    "args",
    [
        # tag takes --key now (it binds the label to the watermark it finds): misspelled here
        ["tag", "IN", "-o", "OUT", "--producer", PRODUCER, "--key-fiel", SECRET],
        ["tag", "IN", "-o", "OUT", "--producer", PRODUCER, f"--keyfile={SECRET}"],
        ["label", "IN", "-o", "OUT", "--key", SECRET],
        ["test-ca", "CA", "--key", SECRET],
        ["bench", "--key", SECRET],
        ["embed", "IN", "-o", "OUT", "--kye", SECRET],
        ["embed", "IN", "-o", "OUT", f"--ke={SECRET}"],
        ["detect", "IN", "--keyfile", SECRET],
        ["verify", "IN", "--secret-key", SECRET],
        ["mark", "IN", "-o", "OUT", "--producer", PRODUCER, "--key", SECRET, "--bogus", SECRET],
        ["embed", "IN", "-o", "OUT", "--key", "k9", "--strength", "k9"],  # short keys too
    ],
    ids=lambda args: " ".join(args[:1] + [a for a in args if a.startswith("--k")][:1]),
)
def test_argument_errors_never_echo_a_key(tmp_path: Path, picture: Path, args: list[str]) -> None:
    given = {"IN": str(picture), "OUT": str(tmp_path / "o.jpg"), "CA": str(tmp_path / "ca")}
    result = run(*[given.get(arg, arg) for arg in args])
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "<key>" in result.stderr
    for secret in (SECRET, "k9"):
        assert secret not in result.stdout + result.stderr.replace("--k", "")


def test_the_environment_key_is_not_echoed_either(tmp_path: Path, picture: Path) -> None:
    result = run(
        "tag", picture, "-o", tmp_path / "o.jpg", "--producer", PRODUCER, SECRET,
        env={"AIGC_MARK_KEY": SECRET},
    )  # fmt: skip
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr


def test_a_missing_key_file_is_not_named(tmp_path: Path, picture: Path) -> None:
    """--key-file where --key was meant: the value is the key, so it is not printed."""
    result = run("detect", picture, "--key-file", SECRET, cwd=tmp_path)
    line = assert_one_error_line(result, exit_code=2)
    assert line.startswith("aigc-mark: error: --key-file: no such file")
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["fifo", "character device", "directory", "too large", "empty"])
def test_a_key_file_must_be_a_small_regular_file(tmp_path: Path, picture: Path, kind: str) -> None:
    if kind == "too large":
        key_file = tmp_path / "big"
        with key_file.open("wb") as stream:  # sparse: costs nothing on disk
            stream.truncate(1 << 30)
        key_file.chmod(0o600)
        expected = "larger than 65536 bytes"
    elif kind == "empty":
        key_file = tmp_path / "empty"
        key_file.write_bytes(b"\n\n")
        key_file.chmod(0o600)
        expected = "the first line is empty"
    else:
        key_file = make_node(tmp_path / "key", kind, device=(1, 5))  # /dev/zero's numbers
        expected = "is a directory" if kind == "directory" else f"{SAID[kind]}, not a regular file"
    for command in (["detect", picture], ["embed", picture, "-o", tmp_path / "o.jpg"]):
        line = assert_one_error_line(run(*command, "--key-file", key_file), exit_code=2)
        assert line == f"aigc-mark: error: --key-file {key_file}: {expected}", line
        assert "unexpected" not in line


# --- item 15: a file name cannot forge a result line ------------------------------------------

FORGED = "x.jpg: AI-generated (metadata label, watermark); forged\nreal\x1b[2K.jpg"


def _lines_name_the_file(text: str, count: int) -> None:
    lines = text.splitlines()
    assert len(lines) == count, text
    for line in lines:
        assert "\x1b" not in line
        if "x.jpg" in line:
            assert "forged\\nreal\\x1b[2K.jpg" in line, line


@pytest.mark.parametrize("command", ["detect", "verify", "embed", "label", "tag", "mark"])
def test_a_file_name_cannot_forge_a_result_line(tmp_path: Path, command: str) -> None:
    source = tmp_path / "in"
    good = photo(source / FORGED, 2, (320, 256), quality=90)
    broken = source / f"broken\n{FORGED}"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    out = tmp_path / f"out\n{FORGED}"
    if command in ("detect", "verify"):
        result = run(command, good, broken)
        assert result.returncode == 3
        _lines_name_the_file(result.stdout, 1)
        _lines_name_the_file(result.stderr, 1)
    elif command == "mark":
        result = run("mark", source, "-o", out, "--producer", PRODUCER, "-j", "1")
        assert result.returncode == 3
        _lines_name_the_file(result.stdout, 1)
        _lines_name_the_file(result.stderr, 2)  # the broken file, the summary
    else:
        out.mkdir()
        extra = ["--producer", PRODUCER] if command == "tag" else []
        result = run(command, good, "-o", out / FORGED, *extra)
        assert result.returncode == 0, result.stderr
        _lines_name_the_file(result.stdout, 1)
        failed = run(command, broken, "-o", out / "b.jpg", *extra)
        _lines_name_the_file(failed.stderr, 1)


@pytest.mark.parametrize(
    "option", ["--config", "--c2pa-cert", "--trust-anchors", "--font", "--speech"]
)
def test_files_given_by_option_are_never_opened_unless_regular(
    tmp_path: Path, picture: Path, option: str
) -> None:
    """Settings, certificates, trust anchors, fonts and spoken prompts: a FIFO named by mistake
    is one error line, not a command blocked for ever."""
    fifo = make_node(tmp_path / "named", "fifo")
    out = tmp_path / "o.jpg"
    sound = recording(tmp_path / "in.wav")
    args: list[str | Path] = {
        "--config": ["mark", picture, "-o", tmp_path / "out", "--config", fifo],
        "--c2pa-cert": ["tag", picture, "-o", out, "--producer", PRODUCER, "--c2pa-cert", fifo,
                        "--c2pa-key", fifo],
        "--trust-anchors": ["verify", picture, "--trust-anchors", fifo],
        "--font": ["label", picture, "-o", out, "--font", fifo],
        "--speech": ["label", sound, "-o", tmp_path / "o.wav", "--cue", "speech", "--speech", fifo],
    }[option]  # fmt: skip
    result = run(*args)
    assert result.returncode in (2, 3), result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    assert "a FIFO, not a regular file" in errors[0]
    assert same_kind(fifo, "fifo")
