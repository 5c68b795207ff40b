"""The one harness every bench script uses: paths, machine facts, timing, phases, arguments, output.

Importing it puts ``bench/`` and the repository root at the front of ``sys.path``, once for
every script: sibling bench modules import by bare name, the corpora come from ``tests.*``,
and ``marking`` is this checkout's even where another copy is installed. So a script imports
``harness`` before anything of ``marking`` (ruff's isort places it there: it is a third-party
name to it, and ``marking`` is first-party).

What is here was copied into each script before: the machine description with the code
revision, load average and FFmpeg version; timed runs (wall and CPU) after an untimed one,
and paired rounds whose order rotates; the phase runner that times a phase and measures its
peak memory; the work directory with its free-space check; the common options; and writing a
report to ``bench/results/``. Formatting of the tables stays in :mod:`results_writer`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(BENCH_DIR), str(ROOT)):  # sibling bench modules; tests.*, this marking/
    if _path not in sys.path:
        sys.path.insert(0, _path)

from results_writer import Machine, distribution_version, this_machine  # noqa: E402

SAMPLES = ROOT / "samples"
RESULTS = BENCH_DIR / "results"
#: The key and 64-bit payload every benchmark marks with.
KEY = "aigc-marking-bench"
PAYLOAD_HEX = "0123456789abcdef"
PAYLOAD = bytes.fromhex(PAYLOAD_HEX)


def log(text: str) -> None:
    """A progress line on stderr (stdout carries the report or the paths written)."""
    print(text, file=sys.stderr, flush=True)


# --- the machine -------------------------------------------------------------------------------


def core_revision() -> str:
    """The commit of ``marking/``, and whether it has uncommitted changes (for the headers)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return "code revision unknown (not a git checkout)"
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "marking").splitlines()]
    if not dirty:
        return f"`marking/` at commit {commit}"
    shown = ", ".join(f"`{path}`" for path in dirty[:8]) + (", ..." if len(dirty) > 8 else "")
    return f"`marking/` at commit {commit}, plus uncommitted changes to {shown}"


def ffmpeg_version() -> str:
    """The libavcodec version PyAV was built with (the encoders' speed depends on it)."""
    import av

    return ".".join(map(str, av.library_versions["libavcodec"]))


def describe_machine(
    distributions: Iterable[str | tuple[str, str]],
    *,
    extra: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> Machine:
    """This machine now (platform, cores, Numba threads, load, date), the versions of
    ``distributions`` (a name, or a (shown name, distribution) pair) then ``extra``, and the
    ``notes`` followed by the code revision measured."""
    versions = {}
    for entry in distributions:
        shown, distribution = (entry, entry) if isinstance(entry, str) else entry
        versions[shown] = distribution_version(distribution)
    versions.update(extra or {})
    return this_machine(versions, notes=(*notes, f"Code: {core_revision()}."))


def load_average() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages (None where the platform has none)."""
    return os.getloadavg() if hasattr(os, "getloadavg") else None


def load_average_text() -> str:
    """The load average now, as the reports show it (other jobs slow every figure)."""
    load = load_average()
    return "unknown" if load is None else ", ".join(f"{x:.2f}" for x in load)


# --- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timings:
    """Wall and CPU seconds of repeated runs of one operation."""

    wall: tuple[float, ...]
    cpu: tuple[float, ...]

    @property
    def wall_ms(self) -> tuple[float, ...]:
        return tuple(1000.0 * s for s in self.wall)

    @property
    def cpu_ms(self) -> tuple[float, ...]:
        return tuple(1000.0 * s for s in self.cpu)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (CPU of the whole process, every thread) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_runs(fn: Callable[[], object], repeats: int) -> Timings:
    """``repeats`` timed calls after an untimed one (Numba cache loading, first-touch
    allocations, FFT plans and the file cache stay out of the figures)."""
    fn()
    runs = [timed(fn) for _ in range(repeats)]
    return Timings(tuple(w for w, _ in runs), tuple(c for _, c in runs))


def paired_rounds(
    cases: Mapping[str, Callable[[], object]], repeats: int, report: bool = True
) -> dict[str, Timings]:
    """Run every case once per round, the order rotating from round to round, so that a slow
    spell of the machine falls on all of them alike; the figures of cases compared with each
    other come from the same rounds."""
    names = list(cases)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = timed(cases[name])
            runs[name].append((wall, cpu))
            if report:
                log(f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    return {
        name: Timings(tuple(w for w, _ in done), tuple(c for _, c in done))
        for name, done in runs.items()
    }


@contextlib.contextmanager
def numba_threads(threads: int) -> Iterator[int]:
    """Run the Numba kernels on ``threads`` threads for a while, then restore the count."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield threads
    finally:
        numba.set_num_threads(previous)


def warm_kernels() -> None:
    """Compile or load every Numba kernel before anything is timed (the toolkit's warm-up)."""
    from marking.warmup import compile_kernels

    compile_kernels()


# --- phases: time and peak memory --------------------------------------------------------------


def status_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/PID/status in KiB (this process by default; None
    off Linux or once the process is gone)."""
    try:
        with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak(pid: int | str = "self") -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of a process (this one by default); False
    when not possible."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


@dataclass
class Phase:
    """Wall and CPU time and peak memory of one phase over ``media_seconds`` of sound or video."""

    name: str
    media_seconds: float
    wall: float = 0.0
    cpu: float = 0.0
    rss_before_mib: float = 0.0
    peak_mib: float = 0.0
    note: str = ""

    @property
    def realtime(self) -> float:
        return self.media_seconds / self.wall if self.wall else float("nan")

    @property
    def realtime_per_core(self) -> float:
        return self.media_seconds / self.cpu if self.cpu else float("nan")


#: How :func:`measured` finds a phase's peak, for the reports' notes.
PEAK_RSS_NOTE = (
    "Peak RSS is the process's resident set during that phase: the kernel's high-water mark "
    "(VmHWM, reset through /proc/self/clear_refs at the start of the phase), checked against a "
    "thread sampling VmRSS every 20 ms."
)


@contextlib.contextmanager
def measured(phase: Phase, interval: float = 0.02) -> Iterator[Phase]:
    """Time the block and record its peak RSS.

    The peak is the kernel's VmHWM after resetting it at the start (exact), or, where the reset
    is refused, the highest VmRSS a sampling thread saw every ``interval`` seconds.
    """
    exact = reset_peak()
    before = status_kib("VmRSS") or 0
    sampled = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            sampled.append(status_kib("VmRSS") or 0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield phase
    finally:
        phase.wall = time.perf_counter() - wall
        phase.cpu = time.process_time() - cpu
        stop.set()
        thread.join()
        hwm = status_kib("VmHWM") if exact else None
        peak = max(max(sampled), hwm or 0)
        phase.rss_before_mib = before / 1024
        phase.peak_mib = peak / 1024


class PhaseRunner:
    """Runs the phases of a long-file benchmark one after the other, each :func:`measured`,
    keeps them in :attr:`phases` and logs each as it ends."""

    def __init__(self, realtime_digits: int = 0) -> None:
        self.phases: list[Phase] = []
        self.realtime_digits = realtime_digits

    def run(self, name: str, media_seconds: float, fn: Callable[[], Any]) -> Any:
        """``fn()``, measured as the phase ``name`` over ``media_seconds``; returns its value."""
        log(f"{name} ...")
        phase = Phase(name, media_seconds)
        with measured(phase):
            value = fn()
        self.phases.append(phase)
        log(
            f"  {phase.wall:.1f} s wall, {phase.cpu:.1f} s CPU, "
            f"{phase.realtime:.{self.realtime_digits}f}x real time, "
            f"peak RSS {phase.peak_mib:.0f} MiB"
        )
        return value


# --- work directories and options --------------------------------------------------------------


@contextlib.contextmanager
def work_directory(
    prefix: str, parent: Path | None, needed: float = 0.0, hint: str = "", keep: bool = False
) -> Iterator[Path | None]:
    """A new temporary directory in ``parent`` (the system's default when None), removed at
    the end unless ``keep``; None, after saying so, when it has less than ``needed`` bytes
    free (``hint``: the options that ask for less)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    free = shutil.disk_usage(workdir).free
    if free < needed:
        shutil.rmtree(workdir)
        log(
            f"need about {needed / 1e9:.1f} GB free in {workdir.parent}, have "
            f"{free / 1e9:.1f} GB; use --tmpdir or {hint}"
        )
        yield None
        return
    try:
        yield workdir
    finally:
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def optional_module(name: str) -> ModuleType | None:
    """The module ``name``, or None where this version of the toolkit has none (the bench
    then times the lower-level API it used before)."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def arguments(
    doc: str | None,
    *,
    outdir: bool = False,
    tmpdir: bool = False,
    repeats: int | None = None,
    output: str | None = None,
    no_write: str | None = None,
) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc`` with the options the scripts share:
    ``--outdir`` (default ``bench/results/``), ``--tmpdir``, ``--repeats`` (given its default),
    ``--output`` (a file name in ``bench/results/`` as default) and ``--no-write`` (what is
    not written)."""
    summary = (doc or "").strip().splitlines()
    parser = argparse.ArgumentParser(description=summary[0] if summary else None)
    if outdir:
        parser.add_argument("--outdir", type=Path, default=RESULTS)
    if tmpdir:
        parser.add_argument("--tmpdir", type=Path, default=None, help="where the files go")
    if repeats is not None:
        parser.add_argument("--repeats", type=int, default=repeats, help="timed runs per operation")
    if output is not None:
        parser.add_argument("--output", type=Path, default=RESULTS / output)
    if no_write is not None:
        parser.add_argument(
            "--no-write", action="store_true", help=f"print only; do not write {no_write}"
        )
    return parser


# --- results -----------------------------------------------------------------------------------


def shown(path: Path) -> Path:
    """``path`` relative to the repository when it is inside it (shorter in the logs)."""
    path = path.resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def write_report(text: str, path: Path) -> Path:
    """Write a Markdown report (making its folder) and say where on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    log(str(shown(path)))
    return path


def finish_report(text: str, args: argparse.Namespace, started: float) -> None:
    """The end of a one-report script (options of :func:`arguments` with ``output`` and
    ``no_write``): print the report, write it unless ``--no-write``, list it and the run time."""
    print(text)
    if not args.no_write:
        write_report(text, args.output)
    list_written([] if args.no_write else [args.output], started)


def list_written(paths: Iterable[Path], started: float) -> None:
    """Print the files a script wrote on stdout, and its run time on stderr."""
    for path in paths:
        print(shown(path))
    log(f"done in {time.perf_counter() - started:.0f} s")
