"""Faults around a batch: a second batch on the same output directory, a write that fails
(file-size limit, as a full disk), an output directory that cannot be made, another file
system, and keys that must not end up in outputs or reports."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_batch_cli import photo
from tests.test_cli import assert_one_error_line, run_cli
from tests.video_clips import clip_path

PRODUCER = "FaultAI"
SECRET = "Faults-Key-Never-Shown-9931"


def hidden_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*") if path.is_file()]


def read_report(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for index in range(8):
        photo(root / f"p{index}.jpg", index, (384, 320), quality=90)
    return root


def test_a_second_batch_on_the_same_outdir_is_refused_while_the_first_runs(
    pictures: Path, tmp_path: Path
) -> None:
    # A clip after the pictures keeps the first batch busy for seconds (files go in order).
    shutil.copy(clip_path("bbb", seconds=3.0), pictures / "z-clip.mp4")
    outdir, report = tmp_path / "out", tmp_path / "first.jsonl"
    command = [sys.executable, "-m", "marking", "mark", str(pictures), "-o", str(outdir)]
    command += ["--producer", PRODUCER, "-j", "1", "--report", str(report)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (report.exists() and report.read_text(encoding="utf-8").strip()):
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first batch never reported a file"
            time.sleep(0.05)
        second = run_cli("mark", pictures, "-o", outdir, "--producer", PRODUCER)
        line = assert_one_error_line(second, exit_code=2)
        assert "in use by another aigc-mark mark run" in line
    finally:
        _, errors = first.communicate(timeout=300)
    assert first.returncode == 0, errors
    assert [r["status"] for r in read_report(report)] == ["marked"] * 9
    assert hidden_files(outdir) == []
    again = run_cli("mark", pictures, "-o", outdir, "--producer", PRODUCER, "--json")
    assert again.returncode == 0, again.stderr  # the lock went with the first batch
    assert {json.loads(line)["status"] for line in again.stdout.splitlines()} == {"skipped"}


def _limit_file_size() -> None:
    """A full disk, for the files this process writes: writes past 8 KiB fail (EFBIG)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 10, 8 << 10))


def mark_with_a_full_disk(
    source: Path, outdir: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """``aigc-mark mark SOURCE -o OUTDIR`` in a process that cannot write past 8 KiB."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "marking", "mark", str(source), "-o", str(outdir)),
            *("--producer", PRODUCER, *options),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
        check=False,
    )


def test_writes_that_fail_leave_no_partial_outputs(pictures: Path, tmp_path: Path) -> None:
    outdir, report = tmp_path / "out", tmp_path / "report.jsonl"
    result = mark_with_a_full_disk(pictures, outdir, "-j", "2", "--report", str(report))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    records = read_report(report)
    assert len(records) == 8
    for record in records:
        assert record["status"] == "failed", record
        assert "too large" in record["error"].lower(), record["error"]
    assert list(outdir.rglob("*")) == []  # no output, no temporary, nothing half-written


def test_an_output_directory_that_cannot_be_made(pictures: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        outdir = Path("/proc/1/aigc-mark-out")  # even root cannot make directories in /proc
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        outdir = locked / "out"
    result = run_cli("mark", pictures, "-o", outdir, "--producer", PRODUCER)
    line = assert_one_error_line(result, exit_code=2)
    assert f"output directory {outdir}" in line


def test_outputs_on_another_file_system(pictures: Path) -> None:
    shared_memory = Path("/dev/shm")
    if not shared_memory.is_dir() or shared_memory.stat().st_dev == pictures.stat().st_dev:
        pytest.skip("no second file system to write to")
    outdir = shared_memory / f"aigc-mark-test-{os.getpid()}"
    try:
        result = run_cli("mark", pictures, "-o", outdir, "--producer", PRODUCER, "--json")
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in outdir.iterdir()) == [f"p{i}.jpg" for i in range(8)]
        assert hidden_files(outdir) == []
    finally:
        for path in sorted(outdir.rglob("*"), reverse=True):
            path.unlink()
        if outdir.exists():
            outdir.rmdir()


def test_the_key_is_in_no_output_report_or_message(pictures: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(SECRET + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    outdir, report = tmp_path / "out", tmp_path / "report.jsonl"
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    marked = run_cli(
        "mark", pictures, "-o", outdir, "--producer", PRODUCER, "--key-file", key_file,
        "--report", report,
    )  # fmt: skip
    checked = run_cli("verify", outdir, "--json", env={"AIGC_MARK_KEY": SECRET})
    assert marked.returncode == 3  # broken.jpg
    assert checked.returncode == 0
    secret = SECRET.encode()
    for path in [report, *outdir.rglob("*")]:
        assert secret not in path.read_bytes(), path
    for result in (marked, checked):
        assert SECRET not in result.stdout + result.stderr


def test_failed_writes_of_sound_and_video_are_one_line_errors(tmp_path: Path) -> None:
    """libsndfile writes through a callback whose errors used to be printed as an
    'Exception ignored' traceback and lost; PyAV's must be reported too."""
    samples = Path(__file__).resolve().parent.parent / "samples"
    source = tmp_path / "in"
    source.mkdir()
    for name in ("speech-italian-male.flac", "video-big-buck-bunny.mp4"):
        shutil.copy(samples / name, source / name)
    outdir = tmp_path / "out"
    result = mark_with_a_full_disk(source, outdir, "-j", "1")
    assert result.returncode == 3
    sound, video, summary = result.stderr.splitlines()  # one line each, and the summary
    flac, mp4 = "speech-italian-male.flac", "video-big-buck-bunny.mp4"
    assert sound == f"{source / flac}: error: {outdir / flac}: cannot write: File too large"
    # Where the muxer meets the limit decides PyAV's wording; it stays one line naming both.
    assert video.startswith(f"{source / mp4}: error: {outdir / mp4}: cannot "), video
    assert summary.startswith("2 files: 2 failed")
    assert list(outdir.rglob("*")) == []
