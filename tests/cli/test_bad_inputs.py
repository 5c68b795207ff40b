"""Issue 9: every command line command on a corpus of bad inputs (tests/support/bad_inputs.py).

Each command must answer every file within a time bound, without a traceback, with its
errors on one line each (``aigc-mark: error: ...`` or ``FILE: error: ...``), the exact exit
code expected for the case, and no output or hidden temporary file left behind on failure.
Most runs are in-process (``main([...])``); the bombs also run as subprocesses under a 3 GiB
address-space limit, and ``mark`` runs once over the whole corpus.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from marking.cli import main as cli_main
from tests.support.bad_inputs import (
    C2PA_FORMATS,
    Case,
    build_corpus,
    complete_video_frames,
    damaged_c2pa,
    faststart_copy,
    faststart_cuts,
    flat_png,
    png_chunk,
    png_with_chunk,
    write_m4a,
)
from tests.support.wall_clock import bound, command_seconds

#: How long a command may take on one file: TIME_RATIO times the slowest valid file of the
#: corpus through the same command (its baseline, measured in the same test, so the bound
#: grows with the machine's load), and never under TIME_LIMIT_S (see tests/support/wall_clock.py).
TIME_LIMIT_S = 30.0
TIME_RATIO = 10.0
#: A subprocess without a time bound is killed after this long: a hang, not slowness.
HANG_GUARD_S = 900.0
MEMORY_LIMIT = 3 << 30
COMMANDS = ("detect", "verify", "embed", "label", "tag")

#: Exit codes that differ from the default: 3 for a bad input; for a valid file (and valid
#: content under another suffix) 0 for embed and label, 1 for detect and verify (unmarked).
#: These files are still readable, so reading them is right:
EXPECTED = {
    # libwebp decodes a VP8 bitstream of random bytes into some picture.
    "webp-garbage": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    # libsndfile reads the samples a truncated WAV holds, and so does verify's RIFF reader,
    # walking chunks as leniently as libsndfile.
    "wav-trunc70": {"embed": 0, "label": 0, "detect": 1, "verify": 1},
    "wav-trunc95": {"embed": 0, "label": 0, "detect": 1, "verify": 1},
    # Too short for the watermark (detect, embed: 3; verify: not checked, no other mark),
    # long enough for a cue.
    "wav-trunc05": {"label": 0, "verify": 1},
    "wav-trunc30": {"label": 0, "verify": 1},
    # The output keeps the input's format, so an output named after the wrong suffix is a
    # usage error.
    "wav-as-flac": {"embed": 2, "label": 2},
    "mp3-as-wav": {"embed": 2, "label": 2},
    "mov-as-mp4": {"embed": 2, "label": 2},
    # A reader salvages what decodes (issue 15): where libsndfile stops in a cut FLAC or MP3,
    # FFmpeg reads again and detect and verify answer on what there is, with a note; a
    # writer (embed, label) still refuses.
    "flac-trunc70": {"detect": 1, "verify": 1},
    "flac-trunc95": {"detect": 1, "verify": 1},
    "mp3-trunc70": {"detect": 1, "verify": 1},
    "mp3-trunc95": {"detect": 1, "verify": 1},
    # Ogg pages and Matroska clusters decode up to where the file stops.
    "ogg-trunc70": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "ogg-trunc95": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "mkv-trunc95": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "webm-trunc95": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "mkv-trunc70": {"verify": 1, "detect": 1},  # embed/label: "truncated: should last 1 s"
    "webm-trunc70": {"verify": 1, "detect": 1},
    # libsndfile clamps the declared sizes to the file, and so does verify's RIFF reader.
    "wav-data-size-huge": {"embed": 0, "label": 0, "detect": 1, "verify": 1},
    "wav-riff-size-huge": {"embed": 0, "label": 0, "detect": 1, "verify": 1},
    "wav-riff-size-small": {"embed": 0, "label": 0, "detect": 1, "verify": 1},
    "wav-data-size-odd": {"embed": 0, "label": 0, "detect": 1, "verify": 1},
    # FFmpeg finds the moov box whatever size it claims when it ends the file.
    "mp4-moov-size-huge": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    "mov-moov-size-huge": {"embed": 0, "label": 0, "verify": 1, "detect": 1},
    # The metadata is readable; the watermark is "not checked" (1 Hz), so no AI mark.
    "wav-rate-1hz": {"verify": 1},
}


#: ``tag`` writes metadata without decoding the media, so it accepts whatever its container
#: parser can walk (a picture bomb, a truncated MP3, a WAV at 1 Hz): the label says what the
#: provider made, not that the file plays. It refuses a container it cannot walk, and an
#: output whose suffix names another format than the content (exit 3, one line). A WAV's
#: RIFF size it corrects in the copy.
TAGGED_ANYWAY = {
    "webp-garbage", "mp3-trunc05", "mp3-trunc30", "mp3-trunc70", "mp3-trunc95",
    "mp3-garbage", "mkv-trunc95", "png-bomb", "jpg-bomb", "tif-bomb", "webp-bomb",
    "wav-rate-1hz", "wav-rate-4ghz", "wav-no-samples", "mp4-moov-size-huge",
    "mov-moov-size-huge", "wav-riff-size-huge", "wav-riff-size-small",
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
    elif any(not line.startswith("aigc-mark: note: ") for line in lines):
        # A note (a stream the output container cannot hold) is news, not an error.
        problems.append(f"stderr on success: {stderr!r}")
    return problems


@pytest.mark.parametrize("command", COMMANDS)
def test_every_case_in_process(
    command: str, corpus: list[Case], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = []
    times: dict[str, float] = {}
    for case in corpus:
        out = tmp_path / case.name
        out.mkdir()
        args, target = command_args(command, case, out)
        started = time.perf_counter()
        try:
            code = cli_main.main(args)
        except SystemExit as stop:  # argparse
            code = stop.code
        times[case.name] = time.perf_counter() - started
        captured = capsys.readouterr()
        problems = check_stderr(captured.err, code, command, case)
        want = expected_code(case, command)
        if code != want:
            problems.append(f"exit {code}, expected {want}: {captured.err.strip()!r}")
        left = sorted(path.name for path in out.iterdir())
        if target is not None and code == 0:
            assert target.exists()
            left.remove(target.name)
        if left:
            problems.append(f"left behind: {left}")
        failures += [f"{case.name}: {problem}" for problem in problems]
    slowest_valid = max(times[case.name] for case in corpus if case.kind == "valid")
    limit = bound(slowest_valid, TIME_RATIO, TIME_LIMIT_S)
    failures += [
        f"{name}: took {elapsed:.1f} s, over {limit:.1f} s ({TIME_RATIO:g} times the slowest "
        f"valid file's {slowest_valid:.2f} s)"
        for name, elapsed in times.items()
        if elapsed > limit
    ]
    assert not failures, "\n".join(failures)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(
    *args: str | Path, limit: float = HANG_GUARD_S / 4
) -> subprocess.CompletedProcess[str]:
    """The command under the memory limit, killed after four times ``limit`` seconds (its time
    bound, if the test has one; else only a guard against a hang, long on a busy machine)."""
    return subprocess.run(
        [sys.executable, "-m", "marking", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=limit * 4,
        preexec_fn=_limited,
        check=False,
    )


def valid_picture(corpus: list[Case]) -> Case:
    """The corpus's first valid picture: what the time bounds' baselines are measured on."""
    return next(case for case in corpus if case.kind == "valid" and case.modality == "image")


def test_bombs_in_a_memory_limit(corpus: list[Case], tmp_path: Path) -> None:
    """Every bomb through detect and embed, in one subprocess each, under 3 GiB."""
    bombs = [case for case in corpus if case.kind == "bomb"]
    assert len(bombs) >= 6
    failures = []
    # The baseline: each command on a valid picture, run the same way.
    picture = valid_picture(corpus)
    limits = {}
    for command in ("detect", "embed"):
        args, _ = command_args(command, picture, tmp_path)
        limits[command] = bound(command_seconds(*args), TIME_RATIO, TIME_LIMIT_S)
    for case in bombs:
        for command in ("detect", "embed"):
            out = tmp_path / f"{case.name}-{command}"
            out.mkdir()
            args, target = command_args(command, case, out)
            started = time.perf_counter()
            result = run_limited(*args, limit=limits[command])
            elapsed = time.perf_counter() - started
            problems = check_stderr(result.stderr, result.returncode, command, case)
            want = expected_code(case, command)
            if result.returncode != want:
                problems.append(f"exit {result.returncode}, expected {want}: {result.stderr!r}")
            if "MemoryError" in result.stderr:
                problems.append("MemoryError")
            if elapsed > limits[command]:
                problems.append(f"took {elapsed:.1f} s, over {limits[command]:.1f} s")
            left = sorted(path.name for path in out.iterdir())
            if target is not None and result.returncode == 0:
                left.remove(target.name)
            if left:
                problems.append(f"left behind: {left}")
            failures += [f"{case.name} {command}: {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


#: ``mark`` over the whole corpus may take this many times ``mark`` of one valid picture.
BATCH_TIME_RATIO = 40.0


def test_mark_batch_over_the_corpus(corpus: list[Case], tmp_path: Path) -> None:
    """One ``mark`` over the whole corpus: each bad file fails on its own line, the valid
    ones are marked, exit 3, and nothing temporary is left in OUTDIR."""
    root = corpus[0].path.parent
    root = root if root.name != "valid" else root.parent
    outdir = tmp_path / "marked"
    # The baseline: mark on one valid picture, run the same way.
    picture = valid_picture(corpus).path
    one = command_seconds("mark", picture, "-o", tmp_path / "one", "--producer", "P", "-j", "1")
    limit = bound(one, BATCH_TIME_RATIO, TIME_LIMIT_S * 4)
    started = time.perf_counter()
    result = run_limited(
        "mark", root, "-o", outdir, "--producer", "P", "--no-progress", "-j", "2", limit=limit
    )
    elapsed = time.perf_counter() - started
    assert elapsed < limit, f"{elapsed:.1f} s, over {BATCH_TIME_RATIO:g} x {one:.2f} s"
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
    from marking.tags.aigc_label import AigcLabel
    from marking.tags.tagging import Signing, tag_file
    from marking.tags.test_ca import make_test_ca

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
    start = signed_jpeg.index(b"jumb")
    # The assertions and the claim, all covered by the signature. Not the signature box: its
    # COSE padding (unprotected, ~1 KB of zeros) is rightly unchecked; and not what follows
    # the manifest (the XMP label, the tables), which the old 100 KB claim thumbnail hid.
    end = signed_jpeg.rindex(b"c2pa.signature")
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


# --- damaged C2PA manifests in every format the toolkit signs ------------------------------

#: Damage to the manifest's container (``cut``, ``shrunk``, ``overlong``) may break the
#: file for every reader: where the box or chunk sits before the media (PNG ``caBX`` after
#: IHDR, the ``uuid`` box before an MP4's ``moov``, the ID3 tag before MP3 and FLAC audio)
#: and the file ends inside it, or a chunk walk cannot go on (WebP's RIFF, a PNG chunk
#: length gone wrong). Then every command answers exit 3 on one line. Elsewhere the reader
#: goes on (TIFF finds its label by offset; the WAV reader and FFmpeg step over or stop at a
#: damaged tail box or chunk; an ID3 frame of the wrong size ends the ID3 walk after the
#: label) and the answer must be as for flipped bytes: label and watermark reported, the
#: manifest invalid or unreadable. Which of the two a case gets depends on where the
#: format's writer put the manifest, so the tests accept either, and check it in full.
CONTAINER_DAMAGE = ("cut", "shrunk", "overlong")
#: Flipped bytes in PNG fail the ``caBX`` chunk's CRC: the label reader and the picture
#: decoder skip the chunk (an ancillary chunk, as libpng does; Pillow alone would refuse the
#: whole picture), so verify finds the watermark and mark re-encodes the picture; tag, which
#: would copy the damaged chunk, refuses the file.
TAG_REFUSES_DAMAGE = {"png"}


@dataclass(frozen=True)
class SignedSet:
    """Signed originals and their damaged copies (``<fmt>-<damage>.<fmt>`` under ``root``)."""

    root: Path
    ca: Any
    payload: dict[str, str | None]
    produce_id: dict[str, str]
    cases: dict[str, dict[str, Path]]  # fmt -> damage -> path


@pytest.fixture(scope="module")
def damaged_c2pa_set(corpus: list[Case], tmp_path_factory: pytest.TempPathFactory) -> SignedSet:
    """Every C2PA format marked (watermark, label, manifest signed by a test CA; M4A, which
    has no watermark, tagged and signed), then damaged in :func:`damaged_c2pa`'s ways."""
    from marking.tags.aigc_label import AigcLabel
    from marking.tags.tagging import Signing, tag_file
    from marking.tags.test_ca import make_test_ca

    folder = tmp_path_factory.mktemp("c2pa-damaged")
    ca = make_test_ca(folder / "ca")
    valid = {case.source: case.path for case in corpus if case.kind == "valid"}
    originals = folder / "originals"
    originals.mkdir()
    for fmt in C2PA_FORMATS:
        if fmt == "m4a":
            write_m4a(originals / "m4a.m4a")
        else:
            shutil.copy(valid[fmt], originals / f"{fmt}.{fmt}")
    signed, report = folder / "signed", folder / "signed.jsonl"
    markable = [originals / f"{fmt}.{fmt}" for fmt in C2PA_FORMATS if fmt != "m4a"]
    done = run_limited(
        "mark", *markable, "-o", signed, "--producer", "BadInputAI",
        "--steps", "watermark,metadata,c2pa", "--c2pa-cert", ca.chain, "--c2pa-key", ca.key,
        "--no-progress", "-j", "1", "--report", report,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in report.read_text().splitlines()]
    payload: dict[str, str | None] = {Path(r["input"]).stem: r["payload"] for r in records}
    produce_id = {Path(r["input"]).stem: r["produce_id"] for r in records}
    tag_file(originals / "m4a.m4a", signed / "m4a.m4a", AigcLabel.create("BadInputAI", "m4a-1"),
             signing=Signing(ca.chain, ca.key))  # fmt: skip
    payload["m4a"], produce_id["m4a"] = None, "m4a-1"
    cases: dict[str, dict[str, Path]] = {}
    damaged = folder / "damaged"
    damaged.mkdir()
    for fmt in C2PA_FORMATS:
        data = (signed / f"{fmt}.{fmt}").read_bytes()
        cases[fmt] = {}
        for damage, content in damaged_c2pa(data, fmt).items():
            path = damaged / f"{fmt}-{damage}.{fmt}"
            path.write_bytes(content)
            cases[fmt][damage] = path
    return SignedSet(damaged, ca, payload, produce_id, cases)


def _lines_by_file(stderr: str) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        file = line.split(": error: ")[0] if ": error: " in line else ""
        lines.setdefault(file, []).append(line)
    return lines


@pytest.fixture(scope="module")
def damaged_c2pa_verified(damaged_c2pa_set: SignedSet) -> tuple[dict[str, dict], dict]:
    """One ``verify --json`` over every damaged file (one process: a process per file costs
    two seconds of start-up each), with the test CA as trust anchor: records and stderr lines
    by file."""
    done = run_limited(
        "verify", damaged_c2pa_set.root, "--json", "-j", "1",
        "--trust-anchors", damaged_c2pa_set.ca.root_cert,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # some cases cannot be walked
    records = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        records[record["file"]] = record
    return records, _lines_by_file(done.stderr)


def _check_verified(record: dict[str, Any], fmt: str, damage: str, signed: SignedSet) -> list[str]:
    """What is wrong with the verify record of a damaged file that could be read."""
    problems = []
    if not record.get("ai_marked"):
        problems.append(f"not reported AI-marked: {record.get('verdict')}")
    if (record.get("aigc") or {}).get("ProduceID") != signed.produce_id[fmt]:
        problems.append(f"label not read: {record.get('aigc')}")
    state = (record.get("c2pa") or {}).get("state")
    if damage == "padding":
        if state != "valid":  # the padding is unsigned by design
            problems.append(f"manifest with changed padding is {state}, not valid")
    elif state not in ("invalid", "unreadable"):
        problems.append(f"manifest reported {state}")
    mark = record.get("watermark") or {}
    payload = signed.payload[fmt]
    if payload is None:
        if mark.get("checked"):
            problems.append(f"watermark checked where it cannot be: {mark}")
        elif payload is not None and not mark.get("reason"):
            problems.append("watermark not checked, and no reason given")
    elif not mark.get("detected") or mark.get("payload") != payload:
        problems.append(f"watermark {payload} not found: {mark}")
    return problems


@pytest.mark.parametrize("fmt", C2PA_FORMATS)
def test_a_damaged_c2pa_manifest_in_verify(
    fmt: str,
    damaged_c2pa_set: SignedSet,
    damaged_c2pa_verified: tuple[dict[str, dict], dict],
) -> None:
    """``aigc-mark verify`` on the manifest flipped at five places, flipped in its unsigned
    padding, cut, shrunk and made longer than the file: no hang, no traceback; the label and
    the watermark still reported and the manifest invalid or unreadable (never valid or
    untrusted, except with only its padding changed, which no signature covers); or, where
    the damage breaks the container itself (see :data:`CONTAINER_DAMAGE`), one error line."""
    records, lines = damaged_c2pa_verified
    failures = []
    for damage, path in damaged_c2pa_set.cases[fmt].items():
        record, said = records.get(str(path)), lines.get(str(path), [])
        problems = []
        if record is None:
            problems.append("no record")
        elif record["status"] == "failed" and damage in CONTAINER_DAMAGE:
            if len(said) != 1 or "Traceback" in said[0] or "unexpected" in said[0]:
                problems.append(f"stderr: {said}")
        else:
            if record["status"] != "verified":
                problems.append(f"failed: {record.get('error')}")
            else:
                problems += _check_verified(record, fmt, damage, damaged_c2pa_set)
            if said:
                problems.append(f"stderr: {said}")
        failures += [f"{path.name}: {problem}" for problem in problems]
    assert len(damaged_c2pa_set.cases[fmt]) == 9
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("fmt", C2PA_FORMATS)
def test_a_damaged_c2pa_manifest_in_verify_alone(fmt: str, damaged_c2pa_set: SignedSet) -> None:
    """The declared length beyond the end of the file, and a flip, each in a verify of its
    own: exit 0 (the label marks it: a flip always) or 3 (the container is broken) with
    the error on one line, nothing else on stderr."""
    for damage in ("overlong", "flip50"):
        path = damaged_c2pa_set.cases[fmt][damage]
        done = run_limited("verify", path)
        lines = done.stderr.splitlines()
        if done.returncode == 3 and damage in CONTAINER_DAMAGE:
            assert len(lines) == 1, done.stderr
            assert lines[0].startswith(f"{path}: error: "), done.stderr
            assert "Traceback" not in done.stderr
        else:
            assert done.returncode == 0, (damage, done.stdout, done.stderr)
            assert not lines, done.stderr
            assert "C2PA invalid" in done.stdout or "C2PA unreadable" in done.stdout


def _check_output(path: Path, signed: SignedSet, produce_id: str | None) -> list[str]:
    """An output made from a damaged file must be whole: a valid manifest (its hash covers
    every byte) carrying the label the file's metadata carries."""
    from marking.pipeline.verify import Verification, _read_metadata
    from marking.tags.c2pa_read import read_manifest

    report = read_manifest(path, trust_anchors_pem=signed.ca.root_cert.read_bytes())
    problems = []
    if report.state != "valid":
        problems.append(f"output manifest {report.state}: {report.reason}")
    from marking.media.sniffing import media_kind

    kind = media_kind(path)
    found = Verification(file=str(path), kind=kind)
    _read_metadata(found, path, kind)
    label = (found.aigc or {}).get("ProduceID")
    if label is None or (produce_id is not None and label != produce_id):
        problems.append(f"output label {found.aigc}")
    if report.aigc and report.aigc.get("ProduceID") != label:
        problems.append("output manifest and metadata disagree")
    return problems


@pytest.mark.parametrize("fmt", C2PA_FORMATS)
def test_retagging_a_damaged_c2pa_manifest(
    fmt: str, damaged_c2pa_set: SignedSet, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """``aigc-mark tag`` with a certificate on each damaged file: a new, valid manifest over
    the new label, or one error line naming the input (the damaged store c2pa cannot
    replace, a container it cannot walk) and nothing left behind. Flips never stop it, but
    in PNG, whose chunk CRC they break (tag would copy the damaged chunk)."""
    failures = []
    for damage, path in damaged_c2pa_set.cases[fmt].items():
        out = tmp_path / damage
        out.mkdir()
        target = out / path.name
        code = cli_main.main([
            "tag", str(path), "-o", str(target), "--producer", "Retagger", "--produce-id",
            "again-1", "--c2pa-cert", str(damaged_c2pa_set.ca.chain),
            "--c2pa-key", str(damaged_c2pa_set.ca.key),
        ])  # fmt: skip
        captured = capfd.readouterr()
        problems = check_stderr(captured.err, code, "tag", Case(damage, path, fmt, "", ""))
        left = sorted(p.name for p in out.iterdir())
        if code == 0:
            problems += _check_output(target, damaged_c2pa_set, "again-1")
            left.remove(target.name)
        elif code != 3:
            problems.append(f"exit {code}")
        elif damage.startswith(("flip", "padding")) and fmt not in TAG_REFUSES_DAMAGE:
            problems.append(f"refused: {captured.err.strip()}")
        elif ".tagged." in captured.err:
            problems.append(f"names a hidden intermediate: {captured.err.strip()}")
        if left:
            problems.append(f"left behind: {left}")
        failures += [f"{path.name}: {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("fmt", C2PA_FORMATS)
def test_marking_a_damaged_c2pa_manifest(
    fmt: str, damaged_c2pa_set: SignedSet, tmp_path: Path
) -> None:
    """``aigc-mark mark`` with a certificate over the damaged files of one format: each is
    marked afresh (a valid manifest over the new label: the old store does not survive a
    re-encode) or fails on one line of its own, never a partial or hidden file in OUTDIR.
    A flip never stops it (a PNG's damaged manifest chunk is left out); M4A is never marked
    (its sound cannot be watermarked)."""
    outdir = tmp_path / "marked"
    files = sorted(damaged_c2pa_set.cases[fmt].values())
    done = run_limited(
        "mark", *files, "-o", outdir, "--producer", "Remarker", "--no-progress", "-j", "1",
        "--c2pa-cert", damaged_c2pa_set.ca.chain, "--c2pa-key", damaged_c2pa_set.ca.key,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    assert "unexpected" not in done.stderr
    assert ".aigc-" not in done.stderr
    assert ".tagged." not in done.stderr
    lines = _lines_by_file(done.stderr)
    failures = []
    for damage, path in damaged_c2pa_set.cases[fmt].items():
        said = lines.get(str(path), [])
        target = outdir / path.name
        if target.exists():
            if said:
                failures.append(f"{path.name}: marked, yet {said}")
            failures += [f"{path.name}: {p}" for p in _check_output(target, damaged_c2pa_set, None)]
        elif len(said) != 1:
            failures.append(f"{path.name}: not marked, {len(said)} error lines")
        elif fmt != "m4a" and damage.startswith(("flip", "padding")):
            failures.append(f"{path.name}: a flip in the manifest stopped mark: {said}")
    assert done.returncode == (0 if not any(lines.get(str(p)) for p in files) else 3)
    hidden = [p.name for p in outdir.rglob(".*")] if outdir.exists() else []
    assert not hidden, hidden
    assert not failures, "\n".join(failures)


# --- truncated faststart MP4 ----------------------------------------------------------------


@dataclass(frozen=True)
class Faststart:
    whole: bytes
    payload: str
    produce_id: str
    cuts: dict[str, Path]
    unmarked_cut: Path


@pytest.fixture(scope="module")
def faststart(tmp_path_factory: pytest.TempPathFactory) -> Faststart:
    """A marked 3 s clip with sound and picture (label, watermark, metadata label) remuxed
    with its index first, cut at :data:`FASTSTART_CUTS`; and an unmarked one cut halfway
    through its media data."""
    from tests.support.video_clips import make_clip

    folder = tmp_path_factory.mktemp("faststart")
    clip = make_clip(folder / "clip.mp4", "static", width=256, height=256, fps=10, seconds=3.0,
                     crf=23)  # fmt: skip
    report = folder / "marked.jsonl"
    done = run_limited("mark", clip, "-o", folder / "marked", "--producer", "BadInputAI",
                       "--no-progress", "--report", report)  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(report.read_text())
    whole = faststart_copy(folder / "marked" / "clip.mp4", folder / "faststart.mp4").read_bytes()
    cuts = {}
    for name, data in faststart_cuts(whole).items():
        cuts[name] = folder / f"faststart-{name}.mp4"
        cuts[name].write_bytes(data)
    plain = faststart_cuts(faststart_copy(clip, folder / "plain.mp4").read_bytes())["mdat50"]
    (folder / "plain-mdat50.mp4").write_bytes(plain)
    return Faststart(whole, record["payload"], record["produce_id"], cuts,
                     folder / "plain-mdat50.mp4")  # fmt: skip


def test_truncated_faststart_mp4(faststart: Faststart, tmp_path: Path) -> None:
    """A faststart MP4 (index before the media data) cut inside its media data at 10, 50 and
    90 %, and inside its index at 30 and 80 %.

    The index of the first three still lists every frame, and the frames before the cut are
    real, so the two commands that *read* answer on them, as for Matroska and Ogg cut short:
    ``detect`` and ``verify`` look for the watermark in the frames present (the stump of the
    frame the file ends inside is skipped, not decoded into an error or a half-drawn
    picture), and ``verify`` says the file is truncated (a note, and in the verdict when no
    mark is found, since "none in part of the file" is weaker news). A cut before the end of
    the first video frame leaves nothing to look at: ``detect`` fails ("truncated: the file
    ends before its first complete video frame", exit 3) while ``verify`` still reports the
    label the index carries, the watermark not looked for. The commands that *write* (embed,
    label, tag, mark) refuse any truncated input (exit 3, one line saying "truncated"): a
    marked copy would publish the damage as the provider's. A cut inside the index breaks
    the file for everyone: exit 3 on one line. Nothing is left behind, nothing hangs (every
    command runs as a subprocess with a time limit).
    """
    cuts = faststart.cuts
    files = list(cuts.values())
    complete = {name: complete_video_frames(faststart.whole, path) for name, path in cuts.items()}
    assert complete["mdat10"] < complete["mdat50"] < complete["mdat90"] < 30
    assert complete["moov30"] == complete["moov80"] == 0
    failures = []

    # Readers: one process each over every cut.
    detected = run_limited("detect", *files, "--json", "--no-speed-search")
    verified = run_limited("verify", *files, "--json", "-j", "1")
    for command, done in (("detect", detected), ("verify", verified)):
        assert "Traceback" not in done.stderr
        records = {}
        for line in done.stdout.splitlines():
            record = json.loads(line)
            records[record.get("file") or record.get("input")] = record
        lines = _lines_by_file(done.stderr)
        for name, path in cuts.items():
            record, said = records.get(str(path), {}), lines.get(str(path), [])
            readable = name.startswith("mdat") and (complete[name] > 0 or command == "verify")
            if not readable:
                if len(said) != 1 or ("error" not in record and record.get("status") != "failed"):
                    failures.append(f"{command} {name}: answered {record}, stderr {said}")
                elif name.startswith("mdat") and "truncated" not in said[0]:
                    failures.append(f"{command} {name}: {said[0]}")
                continue
            if said:
                failures.append(f"{command} {name}: stderr {said}")
            mark = record if command == "detect" else record.get("watermark") or {}
            if mark.get("detected") and mark.get("payload") != faststart.payload:
                failures.append(f"{command} {name}: payload {mark.get('payload')}")
            if name == "mdat90" and not mark.get("detected"):
                failures.append(f"{command} {name}: 27 frames and no watermark: {mark}")
            if command == "verify":
                if (record.get("aigc") or {}).get("ProduceID") != faststart.produce_id:
                    failures.append(f"verify {name}: label {record.get('aigc')}")
                notes = " ".join(record.get("notes", []))
                if complete[name] == 0:
                    if mark.get("checked") or "truncated" not in mark.get("reason", ""):
                        failures.append(f"verify {name}: watermark {mark}")
                elif "truncated" not in notes:
                    failures.append(f"verify {name}: no word of the truncation: {notes!r}")

    # Writers: one process per file and command; mark once over every cut.
    for command in ("embed", "label", "tag"):
        for name, path in cuts.items():
            out = tmp_path / f"{command}-{name}"
            out.mkdir()
            extra = ["--producer", "Retagger"] if command == "tag" else []
            done = run_limited(command, path, "-o", out / path.name, *extra)
            lines = done.stderr.splitlines()
            if done.returncode != 3 or len(lines) != 1 or "Traceback" in done.stderr:
                failures.append(f"{command} {name}: exit {done.returncode}, {done.stderr!r}")
            elif name.startswith("mdat") and "truncated" not in lines[0]:
                failures.append(f"{command} {name}: {lines[0]}")
            if list(out.iterdir()):
                failures.append(f"{command} {name}: left {list(out.iterdir())}")
    outdir = tmp_path / "marked"
    done = run_limited("mark", *files, "-o", outdir, "--producer", "P", "--no-progress", "-j", "1")
    assert done.returncode == 3, done.stderr
    lines = _lines_by_file(done.stderr)
    for name, path in cuts.items():
        said = lines.get(str(path), [])
        if len(said) != 1 or (name.startswith("mdat") and "truncated" not in said[0]):
            failures.append(f"mark {name}: {said}")
    left = [p.name for p in outdir.rglob("*")] if outdir.exists() else []
    if left:
        failures.append(f"mark left {left}")
    assert not failures, "\n".join(failures)


def test_truncated_unmarked_faststart_mp4_says_so(faststart: Faststart) -> None:
    """No mark found in half a file: the verdict says it was half a file."""
    done = run_limited("verify", faststart.unmarked_cut)
    assert done.returncode == 1, done.stderr
    assert not done.stderr
    assert "no AI mark found in what the file holds (truncated: " in done.stdout, done.stdout


# --- Issue 15: memory bounded by the picture's pixels, whatever its shape ------------------

#: Peak memory a command may need beyond the same command on a small picture, as a multiple
#: of the decoded picture (Pillow holds 1 byte a pixel for grey and palette, 2 at 16 bits,
#: 4 for RGBA and float), plus :data:`PICTURE_SLACK` for strips, buffers and the encoder.
DECODED_MULTIPLE = {"detect": 1.5, "verify": 1.5, "embed": 4.0, "label": 4.0, "mark": 4.5}
PICTURE_SLACK = 96 << 20
_DECODED_BYTES = {0: 1, 3: 1, 4: 4, 6: 4}  # PNG colour type -> bytes a pixel at 8 bits


@dataclass(frozen=True)
class Shape:
    """A hostile picture: built cheaply, whatever its size (a flat PNG or a deflated TIFF)."""

    name: str
    width: int
    height: int
    bit_depth: int = 8
    colour_type: int = 0  # PNG: 0 grey, 3 palette, 4 grey + alpha, 6 RGBA; -1: float TIFF

    @property
    def suffix(self) -> str:
        return ".tif" if self.colour_type < 0 else ".png"

    @property
    def decoded_bytes(self) -> int:
        per_pixel = 4 if self.colour_type < 0 else _DECODED_BYTES[self.colour_type]
        return self.width * self.height * per_pixel * self.bit_depth // 8

    def write(self, path: Path) -> Path:
        if self.colour_type < 0:
            plane = np.full((self.height, self.width), 0.5, np.float32)
            Image.fromarray(plane, "F").save(path, compression="tiff_adobe_deflate")
        else:
            path.write_bytes(
                flat_png(
                    self.width,
                    self.height,
                    bit_depth=self.bit_depth,
                    colour_type=self.colour_type,
                )
            )
        return path


#: (shape, command, exit code). The thin ones made the detector's working plane (short side
#: 512 px) grow with the aspect ratio: 96 x 200,000 px took 8.5 GB; large squares and 16-bit
#: pictures held several full-size float copies (a 14000 px square took 5.5 GB to embed).
PICTURE_CASES = [
    (Shape("thin-tall-grey", 96, 200_000), "detect", 1),
    (Shape("thin-tall-grey", 96, 200_000), "verify", 1),
    (Shape("thin-tall-grey", 96, 200_000), "label", 0),
    (Shape("thin-tall-grey", 96, 200_000), "embed", 3),  # too small to carry the mark
    (Shape("thin-wide-grey", 200_000, 96), "detect", 1),
    (Shape("thin-tall-16bit", 96, 100_000, bit_depth=16), "detect", 1),
    (Shape("thin-wide-embeddable", 60_000, 256), "detect", 1),
    (Shape("thin-wide-embeddable", 60_000, 256), "embed", 0),
    (Shape("thin-wide-embeddable", 60_000, 256), "mark", 0),
    (Shape("square-grey", 6000, 6000), "detect", 1),
    (Shape("square-16bit", 4000, 4000, bit_depth=16), "detect", 1),
    (Shape("square-16bit", 4000, 4000, bit_depth=16), "embed", 0),
    (Shape("square-rgba", 3000, 3000, colour_type=6), "embed", 0),
    (Shape("square-rgba", 3000, 3000, colour_type=6), "verify", 1),
    (Shape("square-grey-alpha", 3000, 3000, colour_type=4), "embed", 0),
    (Shape("thin-float-tiff", 60_000, 300, colour_type=-1), "detect", 1),
    (Shape("thin-float-tiff", 60_000, 300, colour_type=-1), "embed", 0),
    (Shape("square-palette", 6000, 6000, colour_type=3), "detect", 3),  # mode P: refused
]


def run_measured(tmp_path: Path, *args: str | Path) -> tuple[int, str, int]:
    """Run a command under the 3 GiB limit: its exit code, stderr and peak RSS in bytes."""
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "marking", *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_limited,
        )
    timer = threading.Timer(TIME_LIMIT_S * 4, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, errors.read_text(), usage.ru_maxrss * 1024


def picture_command(command: str, source: Path, out: Path) -> list[str | Path]:
    if command in ("detect", "verify"):
        return [command, source]
    if command == "mark":
        return [command, source, "-o", out, "--producer", "P", "--no-progress"]
    return [command, source, "-o", out / source.name]


@pytest.fixture(scope="module")
def small_picture_rss(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Peak RSS of each command on a 512 px grey picture: the interpreter, the libraries and
    the compiled kernels, measured in the same run as the hostile shapes."""
    folder = tmp_path_factory.mktemp("small-picture")
    source = folder / "small.png"
    source.write_bytes(flat_png(512, 512))
    peaks = {}
    for command in DECODED_MULTIPLE:
        out = folder / command
        out.mkdir()
        code, stderr, peak = run_measured(folder, *picture_command(command, source, out))
        assert code in (0, 1), stderr
        peaks[command] = peak
    return peaks


@pytest.mark.parametrize(
    ("shape", "command", "code"),
    PICTURE_CASES,
    ids=[f"{shape.name}-{command}" for shape, command, _ in PICTURE_CASES],
)
def test_picture_memory_is_bounded_by_its_pixels(
    shape: Shape, command: str, code: int, small_picture_rss: dict[str, int], tmp_path: Path
) -> None:
    """Every verb that decodes a picture, on thin, huge, 16-bit, RGBA, float and palette
    pictures under the 200 MP cap: the answer (or one error line) within the 3 GiB limit, and
    a peak that grows with the decoded picture, not with its aspect ratio."""
    source = shape.write(tmp_path / f"{shape.name}{shape.suffix}")
    out = tmp_path / "out"
    out.mkdir()
    result, stderr, peak = run_measured(tmp_path, *picture_command(command, source, out))
    assert result == code, stderr
    assert "Traceback" not in stderr, stderr
    assert "unexpected" not in stderr, stderr
    if code == 3:
        assert len(stderr.splitlines()) == 1, stderr
    bound = (
        small_picture_rss[command] + DECODED_MULTIPLE[command] * shape.decoded_bytes
    ) + PICTURE_SLACK
    assert peak <= bound, f"peak {peak >> 20} MiB, bound {int(bound) >> 20} MiB"


# --- Issue 15: readers salvage the text a decoder refuses; writers refuse it ----------------


def _deflated(size: int) -> bytes:
    return zlib.compress(b"A" * size, 9)


_XMP_KEYWORD = b"XML:com.adobe.xmp"
_TWO_MB = _deflated(2_000_000)
_ONE_MIB = _deflated(1 << 20)

#: Ancillary chunks Pillow refuses the whole picture for (it inflates text at most 1 MiB a
#: chunk and 64 MiB in all, and knows one compression method): (chunk, before which chunk).
OVERSIZED_PNG_CHUNKS = {
    "ztxt": (png_chunk(b"zTXt", b"Comment\x00\x00" + _TWO_MB), b"IDAT"),
    "ztxt-after-idat": (png_chunk(b"zTXt", b"Comment\x00\x00" + _TWO_MB), b"IEND"),
    "itxt-compressed": (png_chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + _TWO_MB), b"IDAT"),
    "iccp": (png_chunk(b"iCCP", b"icc\x00\x00" + _TWO_MB), b"IDAT"),
    "second-xmp-compressed": (
        png_chunk(b"iTXt", _XMP_KEYWORD + b"\x00\x01\x00\x00\x00" + _TWO_MB),
        b"IEND",
    ),
    "ztxt-unknown-method": (png_chunk(b"zTXt", b"Comment\x00\x07" + _ONE_MIB), b"IDAT"),
    "text-past-64-mib": (
        b"".join(png_chunk(b"zTXt", b"Note%d\x00\x00" % i + _ONE_MIB) for i in range(65)),
        b"IDAT",
    ),
}


@pytest.fixture(scope="module")
def labeled_marked_png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A PNG with a metadata label and a watermark (payload 0123456789abcdef)."""
    folder = tmp_path_factory.mktemp("labeled-marked")
    rng = np.random.default_rng(15)
    Image.fromarray(rng.normal(128, 30, (320, 320, 3)).clip(0, 255).astype(np.uint8)).save(
        folder / "source.png"
    )
    # Embed, then tag: the label binds to the watermark's payload (an explicit --payload that
    # contradicts an existing label is refused since issue 17).
    assert cli_main.main(["embed", str(folder / "source.png"), "-o", str(folder / "marked.png"),
                          "--payload", "0123456789abcdef"]) == 0  # fmt: skip
    assert cli_main.main(["tag", str(folder / "marked.png"), "-o", str(folder / "m.png"),
                          "--producer", "P"]) == 0  # fmt: skip
    return (folder / "m.png").read_bytes()


@pytest.mark.parametrize("name", OVERSIZED_PNG_CHUNKS)
def test_oversized_png_text_is_left_out_by_readers_and_refused_by_writers(
    name: str, labeled_marked_png: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """detect and verify read the picture, its label and its watermark without the chunk the
    decoder refuses (verify says what it left out); embed refuses on one line, since its copy
    would lose the chunk."""
    from marking.files.image import detect_file
    from marking.pipeline.verify import verify_file

    chunk, before = OVERSIZED_PNG_CHUNKS[name]
    path = tmp_path / f"{name}.png"
    path.write_bytes(png_with_chunk(labeled_marked_png, chunk, before=before))
    assert detect_file(path).payload == "0123456789abcdef"
    verified = verify_file(path)
    assert verified.watermark["payload"] == "0123456789abcdef"
    assert verified.aigc is not None
    assert verified.aigc["ContentProducer"] == "P"
    assert any(note.startswith("left out a PNG '") for note in verified.notes), verified.notes
    capsys.readouterr()
    assert cli_main.main(["embed", str(path), "-o", str(tmp_path / "out.png")]) == 3
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1, error
    assert "cannot copy a PNG '" in error, error
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("fmt", ["png", "webp", "tif"])
def test_large_exif_and_xmp_are_read(fmt: str, labeled_marked_png: bytes, tmp_path: Path) -> None:
    """Several megabytes of EXIF (and of XMP) in the other places pictures keep them:
    every reader and writer takes them."""
    from marking.files.image import detect_file
    from marking.pipeline.verify import verify_file

    source = tmp_path / "source.png"
    source.write_bytes(labeled_marked_png)
    exif = Image.Exif()
    exif[270] = "x" * 3_000_000  # ImageDescription
    path = tmp_path / f"large.{fmt}"
    extra: dict[str, Any] = {"exif": exif if fmt == "tif" else exif.tobytes()}
    if fmt == "webp":
        extra |= {"lossless": True, "xmp": b"<x:xmpmeta " + b" " * 3_000_000 + b"/>"}
    Image.open(source).save(path, **extra)
    assert detect_file(path).payload == "0123456789abcdef"
    assert verify_file(path).watermark["detected"]
    assert cli_main.main(["embed", str(path), "-o", str(tmp_path / f"out.{fmt}")]) == 0


# --- Issue 14: named errors, never "unexpected ..." ----------------------------------------


def tiff_with_ifd_count(data: bytes, count: int) -> bytes:
    """The TIFF with its first IFD claiming ``count`` entries."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    return data[:ifd] + struct.pack(order + "H", count) + data[ifd + 2 :]


def tiff_with_tag_value(data: bytes, tag: int, value: int) -> bytes:
    """The TIFF with a SHORT or LONG tag of its first IFD set to ``value``."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    out = bytearray(data)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        found, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if found == tag:
            out[entry + 8 : entry + 12] = struct.pack(order + ("HH" if kind == 3 else "I"), value,
                                                      *([0] if kind == 3 else []))  # fmt: skip
    return bytes(out)


@pytest.fixture(scope="module")
def uncompressed_tiff(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 600 px grey-level RGB TIFF with IFD0 first, then more than 65535 entries' worth of
    pixels, which read as entries of an unknown type (Pillow skips them, so the picture has
    no dimensions; tag finds no room for its own entry)."""
    path = tmp_path_factory.mktemp("tiff") / "picture.tif"
    Image.fromarray(np.full((600, 600, 3), 128, np.uint8)).save(path)
    data = path.read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == 8
    return data


GARBAGE_TIFFS = {
    "ifd-count-65535": lambda data: tiff_with_ifd_count(data, 65535),
    "ifd-count-40000": lambda data: tiff_with_ifd_count(data, 40000),
    "samples-per-pixel-2048": lambda data: tiff_with_tag_value(data, 277, 2048),
    "bits-per-sample-0": lambda data: tiff_with_tag_value(data, 258, 0),
}


@pytest.mark.parametrize("name", GARBAGE_TIFFS)
@pytest.mark.parametrize("command", ["detect", "verify", "embed", "label", "tag", "mark"])
def test_garbage_tiff_ifd_is_a_named_error(
    name: str,
    command: str,
    uncompressed_tiff: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A TIFF whose IFD0 is garbage ("Missing dimensions" from Pillow, no room for one more
    entry in tag) is a bad input: one line, exit 3, nothing written. tag does not decode the
    pixels, so it may label what its container parser can walk (as it labels bombs)."""
    path = tmp_path / f"{name}.tif"
    path.write_bytes(GARBAGE_TIFFS[name](uncompressed_tiff))
    out = tmp_path / "out"
    out.mkdir()
    args = [command, str(path)]
    if command in ("embed", "label", "tag"):
        args += ["-o", str(out / path.name)]
    if command in ("tag", "mark"):
        args += ["--producer", "P"]
    if command == "mark":
        args += ["-o", str(out), "--no-progress"]
    if command == "detect":  # a subprocess: what Pillow logs reaches the real stderr
        result = run_limited(*args)
        code, err = result.returncode, result.stderr
    else:
        code, err = cli_main.main(args), capsys.readouterr().err
    if command == "tag" and name != "ifd-count-65535" and code == 0:
        return
    assert code == 3, err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert "unexpected" not in err, err
    if command != "mark":
        assert len(err.splitlines()) == 1, err
    assert not list(out.iterdir())


def test_deeply_nested_xmp_is_malformed_not_a_crash(
    labeled_marked_png: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """200,000 nested XMP elements: verify reads the picture (no label in such a packet), tag
    replaces the packet as it does any malformed one."""
    from marking.pipeline.verify import verify_file
    from marking.tags.image_tags import read_image_tags

    nested = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        + b"<a>" * 200_000
        + b"</a>" * 200_000
        + b"</rdf:RDF></x:xmpmeta>"
    )
    packet = png_chunk(b"iTXt", _XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + nested)
    source = tmp_path / "source.png"
    source.write_bytes(flat_png(300, 300))
    path = tmp_path / "nested.png"
    path.write_bytes(png_with_chunk(source.read_bytes(), packet))
    assert read_image_tags(path).label is None
    assert verify_file(path).aigc is None
    tagged = tmp_path / "tagged.png"
    assert cli_main.main(["tag", str(path), "-o", str(tagged), "--producer", "P"]) == 0
    assert "unexpected" not in capsys.readouterr().err
    assert read_image_tags(tagged).label is not None
