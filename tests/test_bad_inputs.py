"""Issue 9: every command line command on a corpus of bad inputs (tests/bad_inputs.py).

Each command must answer every file within a time bound, without a traceback, with its
errors on one line each (``aigc-mark: error: ...`` or ``FILE: error: ...``), the exact exit
code expected for the case, and no output or hidden temporary file left behind on failure.
Most runs are in-process (``main([...])``); the bombs also run as subprocesses under a 3 GiB
address-space limit, and ``mark`` runs once over the whole corpus.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marking.cli import main as cli_main
from tests.bad_inputs import Case, build_corpus

TIME_LIMIT_S = 30.0
MEMORY_LIMIT = 3 << 30
COMMANDS = ("detect", "verify", "embed", "label", "tag")

#: Exit codes that differ from the default: 3 for a bad input; for a valid file (and valid
#: content under another suffix) 0 for embed and label, 1 for detect and verify (unmarked).
#: These files are still readable, so reading them is right:
EXPECTED = {
    # libwebp decodes a VP8 bitstream of random bytes into some picture.
    "webp-garbage": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    # libsndfile reads the samples a truncated WAV holds; verify's RIFF reader refuses it.
    "wav-trunc70": {"embed": 0, "label": 0, "detect": 1},
    "wav-trunc95": {"embed": 0, "label": 0, "detect": 1},
    # Too short for the watermark (detect, embed: 3), long enough for a cue.
    "wav-trunc05": {"label": 0},
    "wav-trunc30": {"label": 0},
    # The output keeps the input's format, so an output named after the wrong suffix is a
    # usage error.
    "wav-as-flac": {"embed": 2, "label": 2},
    "mp3-as-wav": {"embed": 2, "label": 2},
    "mov-as-mp4": {"embed": 2, "label": 2},
    # Ogg pages and Matroska clusters decode up to where the file stops.
    "ogg-trunc70": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "ogg-trunc95": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "mkv-trunc95": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "webm-trunc95": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "mkv-trunc70": {"verify": 1, "detect": 1},  # embed/label: "truncated: should last 1 s"
    "webm-trunc70": {"verify": 1, "detect": 1},
    # libsndfile clamps the declared sizes to the file; verify's RIFF reader refuses them.
    "wav-data-size-huge": {"embed": 0, "label": 0, "detect": 1},
    "wav-riff-size-huge": {"embed": 0, "label": 0, "detect": 1},
    "wav-riff-size-small": {"embed": 0, "label": 0, "detect": 1},
    "wav-data-size-odd": {"embed": 0, "label": 0, "detect": 1},
    # FFmpeg finds the moov box whatever size it claims when it ends the file.
    "mp4-moov-size-huge": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "mov-moov-size-huge": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    # The metadata is readable; the watermark is "not checked" (1 Hz), so no AI mark.
    "wav-rate-1hz": {"verify": 1},
}


#: ``tag`` writes metadata without decoding the media, so it accepts whatever its container
#: parser can walk (a picture bomb, a truncated MP3, a WAV at 1 Hz): the label says what the
#: provider made, not that the file plays. It refuses a container it cannot walk, and an
#: output whose suffix names another format than the content (exit 3, one line).
TAGGED_ANYWAY = {
    "webp-garbage", "mp3-trunc05", "mp3-trunc30", "mp3-trunc70", "mp3-trunc95",
    "mp3-garbage", "mkv-trunc95", "png-bomb", "jpg-bomb", "tif-bomb", "webp-bomb",
    "wav-rate-1hz", "wav-rate-4ghz", "wav-no-samples", "mp4-moov-size-huge",
    "mov-moov-size-huge",
}  # fmt: skip
TAG_REFUSED = {"jpg-as-png", "tif-as-jpg"}


def expected_code(case: Case, command: str) -> int:
    if command == "tag":
        if case.name in TAGGED_ANYWAY:
            return 0
        if case.name in TAG_REFUSED:
            return 3
        return 0 if case.kind in ("valid", "wrong_suffix") else 3
    if case.name in EXPECTED and command in EXPECTED[case.name]:
        return EXPECTED[case.name][command]
    if case.kind in ("valid", "wrong_suffix"):
        return 1 if command in ("detect", "verify") else 0
    return 3


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("bad-inputs"))


def command_args(command: str, case: Case, out: Path) -> tuple[list[str], Path | None]:
    if command in ("embed", "label", "tag"):
        target = out / f"{case.name}{case.path.suffix}"
        producer = ["--producer", "BadInputAI"] if command == "tag" else []
        return [command, str(case.path), "-o", str(target), *producer], target
    extra = ["--no-speed-search"] if command == "detect" else []
    return [command, str(case.path), *extra], None


def check_stderr(stderr: str, code: int, command: str, case: Case) -> list[str]:
    """Problems with what a command wrote on stderr."""
    problems = []
    if "Traceback" in stderr or "unexpected" in stderr:
        problems.append(f"traceback or unexpected error: {stderr!r}")
    lines = [line for line in stderr.splitlines() if line]
    if code in (2, 3):
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr: {stderr!r}")
        prefixes = ("aigc-mark: error: ", f"{case.path}: error: ")
        if not all(line.startswith(prefixes) for line in lines):
            problems.append(f"not an error line: {stderr!r}")
    elif lines:
        problems.append(f"stderr on success: {stderr!r}")
    return problems


@pytest.mark.parametrize("command", COMMANDS)
def test_every_case_in_process(
    command: str, corpus: list[Case], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = []
    for case in corpus:
        out = tmp_path / case.name
        out.mkdir()
        args, target = command_args(command, case, out)
        started = time.perf_counter()
        try:
            code = cli_main.main(args)
        except SystemExit as stop:  # argparse
            code = stop.code
        elapsed = time.perf_counter() - started
        captured = capsys.readouterr()
        problems = check_stderr(captured.err, code, command, case)
        want = expected_code(case, command)
        if code != want:
            problems.append(f"exit {code}, expected {want}: {captured.err.strip()!r}")
        if elapsed > TIME_LIMIT_S:
            problems.append(f"took {elapsed:.1f} s")
        left = sorted(path.name for path in out.iterdir())
        if target is not None and code == 0:
            assert target.exists()
            left.remove(target.name)
        if left:
            problems.append(f"left behind: {left}")
        failures += [f"{case.name}: {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marking", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S * 4,
        preexec_fn=_limited,
        check=False,
    )


def test_bombs_in_a_memory_limit(corpus: list[Case], tmp_path: Path) -> None:
    """Every bomb through detect and embed, in one subprocess each, under 3 GiB."""
    bombs = [case for case in corpus if case.kind == "bomb"]
    assert len(bombs) >= 6
    failures = []
    for case in bombs:
        for command in ("detect", "embed"):
            out = tmp_path / f"{case.name}-{command}"
            out.mkdir()
            args, target = command_args(command, case, out)
            started = time.perf_counter()
            result = run_limited(*args)
            elapsed = time.perf_counter() - started
            problems = check_stderr(result.stderr, result.returncode, command, case)
            want = expected_code(case, command)
            if result.returncode != want:
                problems.append(f"exit {result.returncode}, expected {want}: {result.stderr!r}")
            if "MemoryError" in result.stderr:
                problems.append("MemoryError")
            if elapsed > TIME_LIMIT_S:
                problems.append(f"took {elapsed:.1f} s")
            left = sorted(path.name for path in out.iterdir())
            if target is not None and result.returncode == 0:
                left.remove(target.name)
            if left:
                problems.append(f"left behind: {left}")
            failures += [f"{case.name} {command}: {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


def test_mark_batch_over_the_corpus(corpus: list[Case], tmp_path: Path) -> None:
    """One ``mark`` over the whole corpus: each bad file fails on its own line, the valid
    ones are marked, exit 3, and nothing temporary is left in OUTDIR."""
    root = corpus[0].path.parent
    root = root if root.name != "valid" else root.parent
    outdir = tmp_path / "marked"
    started = time.perf_counter()
    result = run_limited("mark", root, "-o", outdir, "--producer", "P", "--no-progress", "-j", "2")
    assert time.perf_counter() - started < TIME_LIMIT_S * 4
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "unexpected" not in result.stderr
    errors = {
        line.split(": error: ")[0]: line
        for line in result.stderr.splitlines()
        if ": error: " in line
    }
    for case in corpus:
        if case.kind == "valid":
            assert str(case.path) not in errors, errors.get(str(case.path))
    assert ".aigc-" not in result.stderr  # no hidden intermediate named in a message
    hidden = [path for path in outdir.rglob(".*")]
    assert not hidden, hidden
    for path, line in errors.items():
        relative = Path(path).relative_to(root)
        assert not (outdir / relative).exists(), line


def test_representative_cases_as_subprocesses(corpus: list[Case], tmp_path: Path) -> None:
    """A few cases as a user runs them: one error line on the real stderr, exit 3."""
    by_name = {case.name: case for case in corpus}
    for name in ("png-trunc30", "wav-garbage", "mp4-garbage", "wav-rate-1hz"):
        case = by_name[name]
        result = run_limited("label", case.path, "-o", tmp_path / f"out{case.path.suffix}")
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("aigc-mark: error: "), result.stderr
        assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def signed_jpeg(corpus: list[Case], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The corpus JPEG with a GB 45438 label and a C2PA manifest signed by a test CA."""
    from marking.aigc_label import AigcLabel
    from marking.tagging import Signing, tag_file
    from marking.test_ca import make_test_ca

    folder = tmp_path_factory.mktemp("signed")
    ca = make_test_ca(folder / "ca")
    valid = next(case.path for case in corpus if case.name == "jpg-valid")
    tag_file(valid, folder / "signed.jpg", AigcLabel.create("BadInputAI", "job-1"),
             signing=Signing(ca.chain, ca.key))  # fmt: skip
    return (folder / "signed.jpg").read_bytes()


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_a_damaged_c2pa_manifest_is_reported_not_fatal(
    where: float, signed_jpeg: bytes, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Bytes flipped inside the manifest (APP11 JUMBF): verify still reads the label, says the
    manifest is not valid, and answers on one line."""
    import json

    start = signed_jpeg.index(b"jumb")
    end = signed_jpeg.index(b"\xff\xda")  # start of scan: the manifest lies before it
    at = start + int((end - start) * where)
    damaged = bytearray(signed_jpeg)
    damaged[at : at + 8] = bytes(b ^ 0x5A for b in damaged[at : at + 8])
    path = tmp_path / "damaged.jpg"
    path.write_bytes(damaged)
    code = cli_main.main(["verify", str(path), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err  # the metadata label still marks it
    assert (
        check_stderr(captured.err, code, "verify", Case("c2pa", path, "jpg", "bad_box", "image"))
        == []
    )
    record = json.loads(captured.out)
    assert record["aigc"]["ProduceID"] == "job-1"
    assert record["c2pa"]["state"] in ("invalid", "unreadable"), record["c2pa"]
