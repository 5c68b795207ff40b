"""Faults around a batch: a second batch on the same output directory, a write that fails
(file-size limit, as a full disk), an output directory that cannot be made, another file
system, keys that must not end up in outputs or reports, and read-only directories (output
and input, with the commands run as an unprivileged user when the tests run as root)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_batch_cli import photo
from tests.support.commands import assert_one_error_line, run_cli
from tests.support.video_clips import clip_path

PRODUCER = "FaultAI"
SECRET = "Faults-Key-Never-Shown-9931"


def hidden_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*") if path.is_file()]


def statuses_by_input(report: Path, source: Path) -> dict[str, str]:
    """Each report record's status, by its input's path under ``source``."""
    records = read_report(report)
    return {Path(r["input"]).relative_to(source).as_posix(): r["status"] for r in records}


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
        # The report appears whole at the end (atomic_write); the first output shows the
        # batch under way.
        while not [path for path in outdir.glob("*.jpg") if path.is_file()]:
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
    samples = Path(__file__).resolve().parents[2] / "samples"
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


# --- read-only directories, as a user that file modes apply to ---------------------------------

NOBODY = 65534
CHECKOUT = Path(__file__).resolve().parents[2]
SAMPLES = CHECKOUT / "samples"


def _nobody_python(environment: dict[str, str]) -> str:
    """A Python that uid 65534 can start and that imports this checkout and its packages.

    The venv's own interpreter first. Where other users cannot start it (on the machine this
    was written on, ``.venv/bin/python`` links to a pyenv build under ``/root``, mode 0700, so
    exec fails with EACCES), the system Python of the same minor version: it runs the same
    code with the venv's packages on ``PYTHONPATH`` (their C extensions are built for that
    minor version's ABI). Skips, saying why, when neither will do.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable]
    candidates += [
        found
        for name in (f"python{version}", "python3")
        if (found := shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")) is not None
    ]
    probe = "import sys, av, numba, numpy, PIL, soundfile, marking.cli.main\n"
    probe += "print('%d.%d' % sys.version_info[:2])"
    tried = []
    for candidate in dict.fromkeys(candidates):
        try:
            answer = subprocess.run(
                [candidate, "-c", probe],
                capture_output=True,
                text=True,
                env=environment,
                cwd="/",
                user=NOBODY,
                group=NOBODY,
                extra_groups=[],
                timeout=120,
                check=False,
            )
        except OSError as error:
            tried.append(f"{candidate} ({os.path.realpath(candidate)}): {error.strerror}")
            continue
        if answer.returncode == 0 and answer.stdout.strip() == version:
            return candidate
        last = (answer.stderr.strip().splitlines() or [answer.stdout.strip()])[-1]
        tried.append(f"{candidate}: {last}")
    pytest.skip(f"uid {NOBODY} cannot run this checkout with Python {version}: {tried}")


#: Capabilities that let root ignore file modes: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and
#: CAP_FOWNER (linux/capability.h); and prctl's PR_CAPBSET_DROP.
_MODE_CAPABILITIES = (1, 2, 3)
_PR_CAPBSET_DROP = 24


def _drop_mode_capabilities() -> None:
    """In the child before exec: take root's mode-overriding capabilities out of the bounding
    set, so that after exec this root process obeys file modes like any other user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _MODE_CAPABILITIES:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _modes_bind_root_without_capabilities() -> bool:
    """Whether a child started with :func:`_drop_mode_capabilities` is refused a write into a
    mode-0555 directory (it is not where the capability cannot be dropped)."""
    with _open_directory() as root:
        locked = root / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        probe = f"open({str(locked / 'probe')!r}, 'w')"
        try:
            done = subprocess.run(
                [sys.executable, "-c", probe],
                capture_output=True,
                text=True,
                preexec_fn=_drop_mode_capabilities,  # the test runs no threads here
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode != 0 and "PermissionError" in done.stderr


class Unprivileged:
    """Runs ``python -m marking`` (what ``aigc-mark`` runs) as a user that file modes bind.

    As root, modes do not stop writes. The command then runs as root without the capabilities
    that override file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER), so it reads
    the checkout and the venv wherever they are while a read-only directory stays read-only.
    Where those cannot be dropped, it runs as uid and gid 65534 (nobody) without supplementary
    groups, with nobody's home (``/nonexistent``) as a service account has, and :meth:`own`
    gives it the directories it would own (this needs a checkout other users can read).
    Otherwise it runs as this user and :meth:`own` does nothing.
    """

    def __init__(self) -> None:
        self.environment = {
            name: value
            for name, value in os.environ.items()
            if name not in ("AIGC_MARK_KEY", "AIGC_MARK_DEBUG", "NUMBA_CACHE_DIR")
        }
        self.user: int | None = None
        self.without_capabilities = False
        self.python = sys.executable
        if os.geteuid() != 0:
            return
        if _modes_bind_root_without_capabilities():
            self.without_capabilities = True
            return
        import site

        self.user = NOBODY
        self.environment |= {
            "HOME": "/nonexistent",
            "PYTHONPATH": os.pathsep.join([str(CHECKOUT), *site.getsitepackages()]),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.python = _nobody_python(self.environment)

    def own(self, *paths: Path) -> None:
        if self.user is not None:
            for path in paths:
                os.chown(path, self.user, self.user)

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        how: dict[str, object] = {}
        if self.without_capabilities:
            how["preexec_fn"] = _drop_mode_capabilities
        elif self.user is not None:
            how = {"user": self.user, "group": self.user, "extra_groups": []}
        return subprocess.run(  # preexec_fn is safe: the test runs no threads here
            [self.python, "-m", "marking", *map(str, args)],
            capture_output=True,
            text=True,
            env=self.environment,
            cwd="/",
            timeout=600,
            check=False,
            **how,
        )

    @contextlib.contextmanager
    def private_temporary_directory(self, path: Path) -> Iterator[Path]:
        """Give the commands run inside ``path`` as their temporary directory (``TMPDIR``),
        so what they leave there is told apart from what other processes put in the
        system's (the fixture is shared by the module: the setting is undone after)."""
        path.mkdir()
        self.own(path)
        self.environment["TMPDIR"] = str(path)
        try:
            yield path
        finally:
            del self.environment["TMPDIR"]

    def temporary_files(self) -> set[Path]:
        """What the command left in its temporary directory, less its private Numba cache."""
        directory = Path(self.environment.get("TMPDIR", tempfile.gettempdir()))
        return {p for p in directory.iterdir() if not p.name.startswith("aigc-marking-numba-")}


@pytest.fixture(scope="module")
def unprivileged() -> Unprivileged:
    return Unprivileged()


@contextlib.contextmanager
def _open_directory() -> Iterator[Path]:
    """A directory every user can read and enter (pytest's own are private to their owner);
    removed afterwards, read-only parts included."""
    root = Path(tempfile.mkdtemp(prefix="aigc-faults-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for path in [root, *root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(root)


@pytest.fixture
def open_tree() -> Iterator[Path]:
    with _open_directory() as root:
        yield root


def _readable_by_all(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _writable_directory(path: Path, unprivileged: Unprivileged) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    unprivileged.own(path)
    return path


def _read_only_directory(path: Path, unprivileged: Unprivileged) -> Path:
    _writable_directory(path, unprivileged).chmod(0o555)
    return path


def _digests(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_read_only_outdir_fails_every_file_on_one_line(
    unprivileged: Unprivileged, open_tree: Path
) -> None:
    source = open_tree / "in"
    for index in range(3):
        photo(source / f"p{index}.jpg", index, (384, 320), quality=90)
    photo(source / "nested" / "q.jpg", 7, (384, 320), quality=90)
    shutil.copy(SAMPLES / "speech-italian-male.flac", source / "speech.flac")
    shutil.copy(clip_path("bbb", seconds=1.0), source / "clip.mp4")
    _readable_by_all(source)
    inputs = _digests(source)
    outdir = _read_only_directory(open_tree / "out", unprivileged)
    report = _writable_directory(open_tree / "reports", unprivileged) / "report.jsonl"
    with unprivileged.private_temporary_directory(open_tree / "tmp"):
        result = unprivileged.run(
            "mark", source, "-o", outdir, "--producer", PRODUCER, "-j", "2", "--report", report
        )
        left = unprivileged.temporary_files()

    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    *lines, summary = result.stderr.splitlines()
    assert summary.startswith("6 files: 6 failed"), result.stderr
    expected = {
        name: f"{outdir / name}: directory {outdir} is not writable"
        for name in ("p0.jpg", "p1.jpg", "p2.jpg", "speech.flac", "clip.mp4")
    }
    expected["nested/q.jpg"] = (
        f"{outdir / 'nested/q.jpg'}: cannot make directory {outdir / 'nested'}: Permission denied"
    )
    assert sorted(lines) == sorted(f"{source / name}: error: {e}" for name, e in expected.items())
    records = {Path(r["input"]).relative_to(source).as_posix(): r for r in read_report(report)}
    assert records.keys() == expected.keys()
    for name, record in records.items():
        assert record["status"] == "failed", record
        assert record["output"] == str(outdir / name)
        assert record["error"] == expected[name]
    assert list(outdir.iterdir()) == []
    assert hidden_files(open_tree) == []
    assert left == set()
    assert _digests(source) == inputs


def test_a_read_only_subdirectory_fails_only_the_files_mirrored_into_it(
    unprivileged: Unprivileged, open_tree: Path
) -> None:
    from marking.tags.image_tags import read_image_tags

    source = open_tree / "in"
    names = ["a.jpg", "b.jpg", "sub/c.jpg", "sub/deeper/d.jpg", "other/e.jpg"]
    for index, name in enumerate(names):
        photo(source / name, index, (384, 320), quality=90)
    _readable_by_all(source)
    outdir = _writable_directory(open_tree / "out", unprivileged)
    locked = _read_only_directory(outdir / "sub", unprivileged)
    report = _writable_directory(open_tree / "reports", unprivileged) / "report.jsonl"
    command = ("mark", source, "-o", outdir, "--producer", PRODUCER, "-j", "1")

    result = unprivileged.run(*command, "--report", report)

    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{source / 'sub/c.jpg'}: error: {outdir / 'sub/c.jpg'}: directory {locked} is not "
        "writable",
        f"{source / 'sub/deeper/d.jpg'}: error: {outdir / 'sub/deeper/d.jpg'}: cannot make "
        f"directory {locked / 'deeper'}: Permission denied",
        result.stderr.splitlines()[-1],
    ]
    assert result.stderr.splitlines()[-1].startswith("5 files: 2 failed, 3 marked")
    statuses = statuses_by_input(report, source)
    assert statuses == {
        "a.jpg": "marked",
        "b.jpg": "marked",
        "sub/c.jpg": "failed",
        "sub/deeper/d.jpg": "failed",
        "other/e.jpg": "marked",
    }
    for name in ("a.jpg", "b.jpg", "other/e.jpg"):
        assert read_image_tags(outdir / name).label.content_producer == PRODUCER
    assert list(locked.iterdir()) == []
    assert hidden_files(open_tree) == []

    # Once the directory can be written, the same command finishes the batch.
    locked.chmod(0o755)
    again = unprivileged.run(*command, "--report", report)
    assert again.returncode == 0, again.stderr
    statuses = statuses_by_input(report, source)
    assert statuses == {
        "a.jpg": "skipped",
        "b.jpg": "skipped",
        "sub/c.jpg": "marked",
        "sub/deeper/d.jpg": "marked",
        "other/e.jpg": "skipped",
    }
    assert hidden_files(open_tree) == []


@pytest.fixture(scope="module")
def single_files(unprivileged: Unprivileged) -> Iterator[tuple[Path, Path]]:
    """(inputs, a read-only directory) for the one-file commands."""
    with _open_directory() as root:
        source = root / "in"
        photo(source / "picture.jpg", 3, (384, 320), quality=90)
        shutil.copy(SAMPLES / "speech-italian-male.flac", source / "speech.flac")
        shutil.copy(clip_path("bbb", seconds=1.0), source / "clip.mp4")
        _readable_by_all(source)
        yield source, _read_only_directory(root / "locked", unprivileged)


@pytest.mark.parametrize("name", ["picture.jpg", "speech.flac", "clip.mp4"])
@pytest.mark.parametrize(
    "command", [["tag", "--producer", PRODUCER], ["label"], ["embed"]], ids=lambda c: c[0]
)
def test_one_file_commands_into_a_read_only_directory(
    unprivileged: Unprivileged, single_files: tuple[Path, Path], command: list[str], name: str
) -> None:
    source, locked = single_files
    output = locked / f"out-{name}"
    result = unprivileged.run(command[0], source / name, "-o", output, *command[1:])
    line = assert_one_error_line(result, exit_code=3)
    assert line == f"aigc-mark: error: {output}: directory {locked} is not writable"
    assert list(locked.iterdir()) == []


def test_read_only_inputs_are_only_read(unprivileged: Unprivileged, open_tree: Path) -> None:
    source = open_tree / "in"
    photo(source / "a.jpg", 1, (384, 320), quality=90)
    photo(source / "deep" / "b.jpg", 2, (384, 320), quality=90)
    shutil.copy(SAMPLES / "speech-italian-male.flac", source / "deep" / "speech.flac")
    for path in sorted(source.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    source.chmod(0o555)
    inputs = _digests(source)
    outdir = _writable_directory(open_tree / "out", unprivileged)
    singles = _writable_directory(open_tree / "singles", unprivileged)

    marked = unprivileged.run("mark", source, "-o", outdir, "--producer", PRODUCER, "-j", "1")
    assert marked.returncode == 0, marked.stderr
    assert marked.stderr.splitlines()[-1].startswith("3 files: 3 marked"), marked.stderr
    for command in (["tag", "--producer", PRODUCER], ["label"], ["embed"]):
        output = singles / f"{command[0]}.jpg"
        result = unprivileged.run(command[0], source / "a.jpg", "-o", output, *command[1:])
        assert result.returncode == 0, result.stderr
        assert output.is_file()
    checked = unprivileged.run("verify", outdir)
    assert checked.returncode == 0, checked.stderr

    assert _digests(source) == inputs
    assert {oct(p.stat().st_mode & 0o777) for p in source.rglob("*") if p.is_file()} == {"0o444"}
    assert hidden_files(open_tree) == []


def test_kernels_cache_where_neither_the_package_nor_home_is_writable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Numba refuses to define a ``cache=True`` kernel without a writable cache directory;
    ``marking.kernels`` then gives it a private one (never one others could plant code in)."""
    import stat

    import numba.core.config

    import marking.kernels as kernels

    monkeypatch.setenv("NUMBA_CACHE_DIR", "")
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", numba.core.config.CACHE_DIR)
    monkeypatch.setattr(kernels, "_writable", lambda directory: False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kernels._ensure_cache_directory()
    chosen = Path(os.environ["NUMBA_CACHE_DIR"])
    assert chosen == tmp_path / f"aigc-marking-numba-{os.geteuid()}"
    assert Path(numba.core.config.CACHE_DIR) == chosen
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o700

    chosen.chmod(0o777)  # as if another user had made it first
    monkeypatch.setenv("NUMBA_CACHE_DIR", "")
    kernels._ensure_cache_directory()
    instead = Path(os.environ["NUMBA_CACHE_DIR"])
    assert instead != chosen
    assert instead.parent == tmp_path
    assert stat.S_IMODE(instead.stat().st_mode) == 0o700
