"""``aigc-mark mark`` and ``verify`` over many files, run as a user would (``python -m marking``).

A mixed tree (pictures in four formats, two recordings, a clip, a corrupt file, an empty file,
nested folders) is marked and verified in one run each; a run interrupted by SIGTERM or Ctrl-C
resumes and marks the rest, nothing twice; a Dask LocalCluster gives the local run's outputs
byte for byte; C2PA signing goes through the same batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from marking.pipeline.mark import content_id
from marking.pipeline.verify import payload_for_label
from marking.tags.image_tags import read_image_tags
from marking.tags.test_ca import TestCA, make_test_ca
from tests.conftest import make_natural_image
from tests.pipeline.test_batch import MARK_RECORD_FIELDS
from tests.support.audio_clips import clip
from tests.support.commands import run_cli
from tests.support.video_clips import clip_path
from tests.support.wall_clock import bound, command_seconds

KEY = "Batch-Cli-Secret-4471"
PRODUCER = "ExampleAI"
STEPS = ["label", "watermark", "metadata"]
#: The good files of the mixed tree and the kind of media each holds.
GOOD = {
    "photos/a.jpg": "image",
    "photos/b.png": "image",
    "photos/nested/c.webp": "image",
    "photos/nested/deeper/d.tiff": "image",
    "sound/voice.flac": "audio",
    "sound/take2.bin": "audio",  # a WAV file under a misleading name: kind from content
    "clips/clip.mp4": "video",
}
BAD = {"empty.png": "file is empty", "photos/nested/broken.jpg": "truncated or corrupt"}
FAST_CONFIG = '[video.encoder]\npreset = "ultrafast"\n'


def run_mark(
    *args: str | Path, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m marking ARGS`` with the test key in the environment."""
    return run_cli(*args, env={"AIGC_MARK_KEY": KEY}, cwd=cwd, stdin=stdin)


def read_report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_input(records: list[dict[str, Any]], root: Path) -> dict[str, dict[str, Any]]:
    return {Path(record["input"]).relative_to(root).as_posix(): record for record in records}


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def hidden_in(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*")]


def photo(path: Path, seed: int, size: tuple[int, int] = (320, 256), **save: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_natural_image("RGB", size, seed).save(path, **save)
    return path


# --- the mixed tree ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed") / "in"
    photo(root / "photos" / "a.jpg", 1, quality=90)
    rgba = make_natural_image("RGBA", (256, 288), seed=2)
    rgba.save(root / "photos" / "b.png")
    photo(root / "photos" / "nested" / "c.webp", 3, (288, 256), quality=90)
    photo(root / "photos" / "nested" / "deeper" / "d.tiff", 4, (256, 256))
    (root / "sound").mkdir()
    sf.write(root / "sound" / "voice.flac", clip("speech", 3.0, 16_000), 16_000)
    sf.write(root / "sound" / "take2.bin", clip("music", 2.5, 22_050), 22_050, format="WAV")
    (root / "clips").mkdir()
    video = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    shutil.copyfile(video, root / "clips" / "clip.mp4")
    whole = (root / "photos" / "a.jpg").read_bytes()
    (root / "photos" / "nested" / "broken.jpg").write_bytes(whole[: len(whole) // 3])
    (root / "empty.png").write_bytes(b"")
    photo(root / "photos" / ".hidden.png", 5)  # hidden: never an input
    return root


@pytest.fixture(scope="module")
def fast_config(tree: Path) -> Path:
    path = tree.parent / "fast.toml"
    path.write_text(FAST_CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def marked(tree: Path, fast_config: Path) -> dict[str, Any]:
    """The tree marked with two local workers: the run, its report, the input hashes."""
    before = tree_hashes(tree)
    outdir = tree.parent / "out-local"
    report = tree.parent / "local.jsonl"
    result = run_mark(
        "mark", tree, "-o", outdir, "--producer", PRODUCER, "--config", fast_config,
        "-j", "2", "--report", report,
    )  # fmt: skip
    return {
        "result": result,
        "outdir": outdir,
        "records": read_report(report) if report.exists() else [],
        "before": before,
    }


def test_mark_mixed_tree_reports_every_file(tree: Path, marked: dict[str, Any]) -> None:
    result, outdir = marked["result"], marked["outdir"]
    assert result.returncode == 3, result.stderr  # because of the two bad files
    assert "Traceback" not in result.stderr
    records = by_input(marked["records"], tree)
    assert set(records) == set(GOOD) | set(BAD)  # one record each; the hidden file is no input
    assert len(marked["records"]) == len(records)

    for name, kind in GOOD.items():
        record = records[name]
        assert set(record) == MARK_RECORD_FIELDS, name
        source = tree / name
        produce_id = content_id(source, PRODUCER)
        assert record["status"] == "marked", record
        assert record["output"] == str(outdir / name)
        assert record["modality"] == kind
        assert record["steps"] == STEPS
        assert record["produce_id"] == produce_id
        assert record["payload"] == payload_for_label(PRODUCER, produce_id)
        assert record["error"] is None
        assert record["bytes"] == source.stat().st_size
        assert record["seconds"] > 0
        assert record["timings"]
        assert all(value >= 0 for value in record["timings"].values())
        assert "metadata" in record["timings"]
    for name, problem in BAD.items():
        record = records[name]
        assert set(record) == MARK_RECORD_FIELDS, name
        assert record["status"] == "failed"
        assert problem in record["error"]
        assert (record["steps"], record["payload"], record["produce_id"]) == ([], None, None)
        assert record["bytes"] == (tree / name).stat().st_size
        assert not Path(record["output"]).exists()
        # One line per bad file on stderr, naming it.
        assert f"{tree / name}: error: {record['error']}" in result.stderr.splitlines()
    assert "7 marked" in result.stderr
    assert "2 failed" in result.stderr
    assert "%|" not in result.stderr
    assert "files]" not in result.stderr


def test_mark_mixed_tree_mirrors_outputs_and_keeps_inputs(
    tree: Path, marked: dict[str, Any]
) -> None:
    outdir = marked["outdir"]
    outputs = {p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()}
    assert outputs == set(GOOD)
    assert hidden_in(outdir) == []
    assert tree_hashes(tree) == marked["before"]  # inputs never modified
    for name in ("photos/a.jpg", "photos/b.png", "photos/nested/c.webp"):
        with Image.open(tree / name) as original, Image.open(outdir / name) as out:
            assert (out.format, out.size, out.mode) == (
                original.format,
                original.size,
                original.mode,
            )
    with Image.open(outdir / "photos/nested/deeper/d.tiff") as out:
        assert out.format == "TIFF"
    assert sf.info(outdir / "sound" / "take2.bin").format == "WAV"


def test_verify_marked_tree_agrees_with_the_report(marked: dict[str, Any]) -> None:
    outdir = marked["outdir"]
    report = outdir.parent / "verify.jsonl"
    result = run_mark("verify", outdir, "-j", "2", "--report", report)
    assert result.returncode == 0, result.stderr
    mark_records = {record["output"]: record for record in marked["records"]}
    records = read_report(report)
    assert {record["input"] for record in records} == {str(outdir / name) for name in GOOD}
    for record in records:
        expected = mark_records[record["input"]]
        assert record["status"] == "verified"
        assert record["modality"] == expected["modality"]
        assert record["ai_marked"], record
        assert record["agreement"] == "consistent", record  # label and watermark, unsigned
        assert record["aigc"]["ContentProducer"] == PRODUCER
        assert record["aigc"]["ProduceID"] == expected["produce_id"]
        assert record["watermark"]["detected"]
        assert record["watermark"]["payload"] == expected["payload"]
        if record["modality"] == "image":
            assert record["iptc_digital_source_type"].endswith("/trainedAlgorithmicMedia")
        if record["modality"] == "video":
            assert record["watermark"]["found_in"] == ["video", "audio"]


def test_verify_exit_codes(tree: Path, marked: dict[str, Any]) -> None:
    # Unreadable files among the inputs: 3, the others still checked.
    report = tree.parent / "verify-inputs.jsonl"
    result = run_mark("verify", f"{tree}/photos/**", "-j", "1", "--report", report)
    assert result.returncode == 3, result.stderr
    records = by_input(read_report(report), tree)
    assert set(records) == {name for name in set(GOOD) | set(BAD) if name.startswith("photos/")}
    assert records["photos/nested/broken.jpg"]["status"] == "failed"
    assert not any(record.get("ai_marked") for record in records.values())
    # Only unmarked files: 1. One marked file among them, from stdin: 0.
    assert run_mark("verify", tree / "photos" / "a.jpg").returncode == 1
    listing = f"{tree / 'photos' / 'a.jpg'}\n{marked['outdir'] / 'photos' / 'a.jpg'}\n"
    both = run_mark("verify", "-", "--json", stdin=listing)
    assert both.returncode == 0, both.stderr
    assert [json.loads(line)["ai_marked"] for line in both.stdout.splitlines()] == [False, True]


def test_dask_local_cluster_matches_the_local_run(
    tree: Path, fast_config: Path, marked: dict[str, Any]
) -> None:
    """The same report statuses, payloads and exit code, and byte-identical outputs: the
    ProduceID and the payload derive from the content, not from where the work ran."""
    outdir = tree.parent / "out-dask"
    report = tree.parent / "dask.jsonl"
    result = run_mark(
        "mark", tree, "-o", outdir, "--producer", PRODUCER, "--config", fast_config,
        "--dask", "local:2", "--report", report,
    )  # fmt: skip
    assert result.returncode == marked["result"].returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    local = by_input(marked["records"], tree)
    dask = by_input(read_report(report), tree)
    assert set(dask) == set(local)
    for name, record in dask.items():
        expected = local[name]
        for field in ("status", "modality", "steps", "payload", "produce_id", "error", "bytes"):
            assert record[field] == expected[field], (name, field)
        assert record["output"] == str(outdir / name)
    for name in GOOD:
        assert (outdir / name).read_bytes() == (marked["outdir"] / name).read_bytes(), name
    assert hidden_in(outdir) == []


# --- interrupted and resumed -------------------------------------------------------------------

PHOTO_COUNT = 30


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many") / "in"
    for index in range(PHOTO_COUNT):
        photo(root / f"set{index % 3}" / f"p{index:02d}.jpg", index, (384, 320), quality=90)
    return root


def label_producer(path: Path) -> str | None:
    label = read_image_tags(path).label
    return None if label is None else label.content_producer


def session_processes(session: int) -> list[int]:
    """The live processes of session ``session`` (a batch started in a new session, with its
    workers and helpers); zombies, dead but not yet reaped, do not count."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            if os.getsid(int(entry.name)) == session and state != b"Z":
                found.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found


def workers_of(batch: int) -> list[int]:
    """The batch's worker processes that have started (Python's multiprocessing children)."""
    found = []
    for pid in session_processes(batch):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(pid)
    return found


def kernels_loading(pid: int) -> bool:
    """Whether process ``pid`` is loading its kernels: it has mapped Numba's dispatcher (the
    JIT) or the ahead-of-time kernel extension (``python -m marking.warmup`` built it)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return "numba/_dispatcher" in maps or "aigc_marking_kernels_" in maps


def batch_reached(moment: str, process: subprocess.Popen, outdir: Path) -> bool:
    """Whether the batch started as ``process`` has reached ``moment``: ``first-record`` (a
    file is done: its output is in ``outdir``; the report appears only when the batch ends),
    ``workers-started`` (a worker process exists: Python starts, imports) or
    ``kernels-loading`` (a worker has mapped its kernels: it loads them or marks)."""
    if moment == "first-record":
        return bool(finished_outputs(outdir))
    workers = workers_of(process.pid)
    if moment == "workers-started":
        return bool(workers)
    return any(kernels_loading(worker) for worker in workers)


#: Where a signal lands, once per case: after the first record; for two workers also while
#: they start (Python's start-up, imports) and as they load their kernels, twice each.
INTERRUPTED_RUNS = [
    # `kill PID`: the parent stops its workers.
    (signal.SIGTERM, ["-j", "2"], False, 143, True, "first-record"),
    # Ctrl-C: the whole process group gets SIGINT, workers included.
    (signal.SIGINT, ["-j", "2"], True, 130, False, "first-record"),
    # The files run in the command's own process.
    (signal.SIGTERM, ["-j", "1"], False, 143, False, "first-record"),
    (signal.SIGINT, ["--dask", "local:2"], True, 130, True, "first-record"),
    *[
        (sent, ["-j", "2"], sent == signal.SIGINT, 128 + sent, False, moment)
        for moment in ("workers-started", "kernels-loading")
        for sent in (signal.SIGTERM, signal.SIGINT)
        for _ in range(2)
    ],
]


@pytest.mark.parametrize(
    ("sent", "workers", "to_group", "exit_code", "resume", "moment"),
    INTERRUPTED_RUNS,
    ids=[
        f"{'ctrl-c' if group else 'sigterm'}-{'dask' if '--dask' in workers else workers[1]}"
        f"-workers-{moment}"
        for _, workers, group, _, _, moment in INTERRUPTED_RUNS
    ],
)
def test_interrupted_run_leaves_no_partial_file_and_resumes(
    photos: Path,
    tmp_path: Path,
    sent: signal.Signals,
    workers: list[str],
    to_group: bool,
    exit_code: int,
    resume: bool,
    moment: str,
) -> None:
    before = tree_hashes(photos)
    outdir, first_report = tmp_path / "out", tmp_path / "first.jsonl"
    command = [sys.executable, "-m", "marking", "mark", photos, "-o", outdir, *workers]
    command += ["--producer", PRODUCER, "--report", first_report]
    process = subprocess.Popen(
        list(map(str, command)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AIGC_MARK_KEY": KEY},
        start_new_session=True,  # its own process group, as a shell job has
    )
    try:
        deadline = time.monotonic() + 300
        while not batch_reached(moment, process, outdir):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, f"the batch never reached {moment}"
            time.sleep(0.002)
        if to_group:
            os.killpg(process.pid, sent)
        else:
            process.send_signal(sent)
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == exit_code, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    first = read_report(first_report)
    statuses = Counter(record["status"] for record in first)
    assert statuses["marked"] == len(first) < PHOTO_COUNT, statuses  # stopped, nothing failed
    deadline = time.monotonic() + 300
    while session_processes(process.pid):  # the workers end with the batch
        assert time.monotonic() < deadline, session_processes(process.pid)
        time.sleep(0.05)
    # No partial or temporary file; every output there is finished and labeled.
    assert hidden_in(outdir) == []
    outputs = {path: path.stat() for path in outdir.rglob("*.jpg")}
    assert {record["output"] for record in first} <= {str(path) for path in outputs}
    assert all(label_producer(path) == PRODUCER for path in outputs)
    assert tree_hashes(photos) == before
    if not resume:  # (resuming is the same whatever stopped the run: checked twice, not four)
        return
    time.sleep(0.01)  # a rewritten output would get a newer mtime

    second_report = tmp_path / "second.jsonl"
    result = run_mark(
        "mark", photos, "-o", outdir, "--producer", PRODUCER, "-j", "2", "--report", second_report
    )
    assert result.returncode == 0, result.stderr
    second = read_report(second_report)
    assert len(second) == PHOTO_COUNT
    skipped = {record["output"] for record in second if record["status"] == "skipped"}
    remarked = {record["output"] for record in second if record["status"] == "marked"}
    assert skipped == {str(path) for path in outputs}  # finished outputs are not made again
    assert len(skipped) + len(remarked) == PHOTO_COUNT
    assert not remarked & {record["output"] for record in first}
    for path, status in outputs.items():
        now = path.stat()
        assert (now.st_ino, now.st_mtime_ns) == (status.st_ino, status.st_mtime_ns), path
    assert len(list(outdir.rglob("*.jpg"))) == PHOTO_COUNT
    assert hidden_in(outdir) == []
    assert tree_hashes(photos) == before


def finished_outputs(outdir: Path) -> set[str]:
    """The outputs under ``outdir`` (not the hidden temporaries beside them)."""
    return {path.name for path in outdir.rglob("*.jpg") if not path.name.startswith(".")}


@pytest.mark.parametrize("workers", [["-j", "2"], ["--dask", "local:2"]], ids=["pool", "dask"])
def test_killed_batch_leaves_no_worker_running(
    photos: Path, tmp_path: Path, workers: list[str]
) -> None:
    """SIGKILL of the batch process (no chance to stop its workers): the workers, the resource
    tracker and a local Dask cluster end too, and publish no output after it."""
    outdir, report = tmp_path / "out", tmp_path / "report.jsonl"
    command = [sys.executable, "-m", "marking", "mark", photos, "-o", outdir, *workers]
    command += ["--producer", PRODUCER, "--report", report]
    process = subprocess.Popen(
        list(map(str, command)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AIGC_MARK_KEY": KEY},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not batch_reached("first-record", process, outdir):
            assert process.poll() is None, "the batch ended early"
            assert time.monotonic() < deadline, "no record came"
            time.sleep(0.002)
        process.kill()
        # The batch is dead once it has exited, not when the signal is sent: the kernel tears
        # down its memory (a gigabyte with the kernels loaded) before its children see it
        # gone, and a worker may finish a file meanwhile. After that, nothing may appear.
        process.wait(timeout=60)
        outputs = finished_outputs(outdir)
        deadline = time.monotonic() + 300
        while session_processes(process.pid):
            assert time.monotonic() < deadline, session_processes(process.pid)
            time.sleep(0.05)
    finally:
        for pid in session_processes(process.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert finished_outputs(outdir) == outputs
    assert len(outputs) < PHOTO_COUNT
    if workers[0] == "-j":  # Dask ends its processes at once (os._exit), leaving temporaries
        assert hidden_in(outdir) == []  # the next run sweeps those


# --- inputs and outputs ------------------------------------------------------------------------


def test_outdir_and_report_inside_the_input_directory(tmp_path: Path) -> None:
    """Re-runs take neither earlier outputs nor the report for inputs."""
    root = tmp_path / "renders"
    photo(root / "a.jpg", 1, quality=90)
    photo(root / "day" / "b.png", 2)
    outdir, report = root / "marked", root / "report.jsonl"
    for _ in range(2):
        result = run_mark("mark", root, "-o", outdir, "--producer", PRODUCER, "--report", report)
        assert result.returncode == 0, result.stderr
    assert sorted((record["input"], record["status"]) for record in read_report(report)) == [
        (str(root / "a.jpg"), "skipped"),
        (str(root / "day" / "b.png"), "skipped"),
    ]
    files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    assert files == ["a.jpg", "day/b.png", "marked/a.jpg", "marked/day/b.png", "report.jsonl"]
    check = outdir / "verify.jsonl"
    for _ in range(2):
        assert run_mark("verify", outdir, "--report", check).returncode == 0
    assert len(read_report(check)) == 2


def test_stdin_list_and_glob(tmp_path: Path) -> None:
    first = photo(tmp_path / "x" / "one.jpg", 1, quality=90)
    second = photo(tmp_path / "y" / "z" / "two.png", 2)
    photo(tmp_path / "y" / "z" / "three.webp", 3, quality=90)
    listing = f"{first}\n\n{second}\n"
    result = run_mark(
        "mark", "-", f"{tmp_path}/y/**/*.webp", "-o", tmp_path / "out", "--producer", PRODUCER,
        "-j", "1", "--report", "-", stdin=listing,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: JSON only
    assert sorted((record["status"], record["output"]) for record in records) == [
        ("marked", str(tmp_path / "out" / "one.jpg")),  # named files go to the top
        ("marked", str(tmp_path / "out" / "two.png")),
        ("marked", str(tmp_path / "out" / "z" / "three.webp")),  # below the glob's fixed part
    ]


def test_two_inputs_for_one_output_fail_clearly(tmp_path: Path) -> None:
    first = photo(tmp_path / "a" / "same.jpg", 1, quality=90)
    second = photo(tmp_path / "b" / "same.jpg", 2, quality=90)
    outdir = tmp_path / "out"
    result = run_mark("mark", first, second, "-o", outdir, "--producer", PRODUCER)
    assert result.returncode == 3
    assert result.stderr.splitlines()[0] == (
        f"{second}: error: output {outdir / 'same.jpg'} is also {first}'s output"
    )
    assert "Traceback" not in result.stderr
    assert read_image_tags(outdir / "same.jpg").label.produce_id == content_id(first, PRODUCER)


def test_output_cannot_escape_through_a_symlink(tmp_path: Path) -> None:
    photo(tmp_path / "in" / "link" / "new" / "a.jpg", 1, quality=90)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(elsewhere, target_is_directory=True)
    result = run_mark("mark", tmp_path / "in", "-o", tmp_path / "out", "--producer", PRODUCER)
    assert result.returncode == 3
    assert "its output would fall outside" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_nothing_to_mark_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty-dir").mkdir()
    result = run_mark("mark", tmp_path / "empty-dir", "-o", tmp_path / "out", "--producer", "P")
    assert result.returncode == 2
    assert result.stderr == "aigc-mark: error: no input files found\n"


def run_on_terminal(*args: str | Path) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal (80 columns); its exit code and what
    it wrote there."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "marking", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env={**os.environ, "AIGC_MARK_KEY": KEY},
    )
    os.close(terminal)
    written = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the command has exited and closed the terminal
            break
        if not chunk:
            break
        written += chunk
    os.close(controller)
    return process.wait(timeout=60), written.decode("utf-8", "replace")


def test_progress_bar_shows_only_on_a_terminal(tmp_path: Path) -> None:
    for index in range(3):
        photo(tmp_path / "in" / f"p{index}.jpg", index, quality=90)
    code, shown = run_on_terminal(
        "mark", tmp_path / "in", "-o", tmp_path / "out", "--producer", PRODUCER, "-j", "1"
    )
    assert code == 0, shown
    assert "3/3 files" in shown  # files done, with bytes, rate and time left
    assert "B/s" in shown
    assert "100%|" in shown
    assert "3 files: 3 marked" in shown  # the summary stays
    code, shown = run_on_terminal(
        "mark", tmp_path / "in", "-o", tmp_path / "again", "--producer", PRODUCER, "-j", "1",
        "--no-progress",
    )  # fmt: skip
    assert code == 0, shown
    assert "%|" not in shown
    assert "files]" not in shown
    assert "3 files: 3 marked" in shown


# --- C2PA --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def test_c2pa_step_signs_over_the_watermark(tmp_path: Path, ca: TestCA) -> None:
    source = photo(tmp_path / "in" / "render.jpg", 7, quality=90)
    outdir = tmp_path / "out"
    result = run_mark(
        "mark", source, "-o", outdir, "--producer", PRODUCER, "--c2pa-cert", ca.chain,
        "--c2pa-key", ca.key, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["steps"] == [*STEPS, "c2pa"]

    check = run_mark("verify", outdir / "render.jpg", "--trust-anchors", ca.root_cert, "--json")
    assert check.returncode == 0, check.stderr
    found = json.loads(check.stdout)
    assert found["c2pa"]["state"] == "valid", found["c2pa"]
    assert found["c2pa"]["soft_binding_payload"] == found["watermark"]["payload"]
    assert found["watermark"]["payload"] == record["payload"]
    assert found["c2pa"]["aigc"]["ProduceID"] == record["produce_id"]
    assert found["agreement"] == "agree"
    pixels = np.asarray(Image.open(outdir / "render.jpg"))
    assert pixels.shape == (256, 320, 3)


def test_files_that_are_plainly_not_media_are_skipped_when_walking(tmp_path: Path) -> None:
    """A README or a JSON sidecar met while walking is skipped, not a failure; a corrupt file
    with a media suffix, or any file named on the command line, still fails."""
    source = tmp_path / "renders"
    source.mkdir()
    photo(source / "a.png", seed=7)
    (source / "README.md").write_text("renders of 2026-11-28\n", encoding="utf-8")
    (source / "a.json").write_text('{"prompt": "a cat"}', encoding="utf-8")
    (source / "notes.txt").write_bytes(b"")
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    report = tmp_path / "report.jsonl"
    result = run_mark(
        "mark", source, "-o", tmp_path / "out", "--producer", PRODUCER, "--report", report
    )
    assert result.returncode == 3, result.stderr
    status = {Path(r["input"]).name: r["status"] for r in read_report(report)}
    assert status == {
        "a.png": "marked",
        "README.md": "skipped",
        "a.json": "skipped",
        "notes.txt": "skipped",
        "broken.jpg": "failed",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]

    checked = tmp_path / "verify.jsonl"
    result = run_mark("verify", tmp_path / "out", source, "--report", checked)
    assert result.returncode == 3, result.stderr  # broken.jpg
    status = Counter(r["status"] for r in read_report(checked))
    assert status == {"verified": 2, "skipped": 3, "failed": 1}

    named = run_mark("mark", source / "README.md", "-o", tmp_path / "out2", "--producer", "P")
    assert named.returncode == 3
    assert "not a supported image, audio or video file" in named.stderr


def test_workers_that_cannot_start_end_the_batch_on_one_line(photos: Path, tmp_path: Path) -> None:
    """Worker processes that die before doing anything (here: a sitecustomize that ends every
    child of the command at start, as a broken interpreter or environment would) are one
    clear error, not a "worker process died" record per file after a pool restart for each."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('AIGC_TEST_BATCH_PARENT'):\n"
        "    os._exit(1)  # a child of the batch: die before any work\n"
        "os.environ['AIGC_TEST_BATCH_PARENT'] = str(os.getpid())\n",
        encoding="utf-8",
    )
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    outdir = tmp_path / "out"
    # A bound that grows with the machine's load (tests/support/wall_clock.py): from one command's
    # start and a file's work, measured now.
    one = command_seconds("detect", next(photos.rglob("*.jpg")))
    started = time.monotonic()
    result = run_cli(
        "mark", photos, "-o", outdir, "-j", "2", "--producer", "ExampleAI",
        env={"AIGC_MARK_KEY": KEY, "PYTHONPATH": path},
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        "aigc-mark: error: worker processes die before doing any work (a task that does "
        "nothing killed them too), so no file was processed; run with -j 1 to see why"
    ], result.stderr
    assert time.monotonic() - started < bound(one, 40, 120)
    assert not outdir.exists() or [p for p in outdir.rglob("*") if p.is_file()] == []
