"""Batches: many files marked or verified in parallel, with a report, resumable.

Inputs are files, directories (walked recursively, hidden entries skipped), glob patterns, or
``-`` for paths on standard input. Outputs mirror each directory's tree under the output
directory (a file given directly goes to its top). Work runs in N worker processes, or on a
Dask distributed cluster; every file yields one record (a dict, JSON-ready) and a failure is
a record too, never the end of the batch.

Workers run the Numba kernels on one thread each: a batch is parallel across files, which
scales better than parallel kernels within one file (and leaves video encoders their cores).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from marking.errors import UsageError, WorkerError
from marking.media import interrupts
from marking.media.interrupts import Interrupted as Interrupted  # where callers have found it

#: Record statuses.
MARKED, SKIPPED, VERIFIED, FAILED = "marked", "skipped", "verified", "failed"
#: Jobs in flight per worker: enough to keep workers busy, few enough to stop quickly.
IN_FLIGHT_PER_WORKER = 2
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Job:
    """One file of a batch: where it is, where its output goes (mark only), its size."""

    input: str
    output: str | None = None
    size: int = 0
    problem: str | None = None  # found while collecting (missing input, colliding output)
    found: bool = False  # by walking a directory or a glob, rather than named
    skip: str | None = None  # why a file found by walking is left alone (a FIFO, a device)


# --- collecting inputs -------------------------------------------------------------------------


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(directory: Path) -> Iterator[Path]:
    """Files under ``directory`` in a stable order; hidden entries and symlinked directories
    are not followed. Non-regular entries (FIFOs, sockets, device nodes) are yielded too, so
    the batch can say it skipped them (:func:`_not_regular`); nothing here opens them."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(name for name in dirs if not _is_hidden(name))
        for name in sorted(files):
            if not _is_hidden(name):
                yield Path(root) / name


def _glob_base(pattern: str) -> Path:
    """The directory part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARACTERS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path()


def _specs(inputs: Sequence[str], stdin: TextIO | None) -> Iterator[str]:
    for spec in inputs:
        if spec == "-":
            stream = stdin if stdin is not None else sys.stdin
            for line in stream:
                path = line.rstrip("\r\n")
                if path.strip():
                    yield path
        else:
            yield spec


def collect(inputs: Sequence[str], stdin: TextIO | None = None) -> list[tuple[Path, Path | None]]:
    """``(file, root)`` for every input file, in order, each once.

    ``root`` is the directory a file was found under (its output mirrors the path below
    ``root``), or None for a file named directly. A name that matches nothing is kept (with
    root None) so that the batch reports it.
    """
    found: list[tuple[Path, Path | None]] = []
    seen: set[str] = set()

    def add(path: Path, root: Path | None) -> None:
        identity = os.path.realpath(path)
        if identity not in seen:
            seen.add(identity)
            found.append((path, root))

    for spec in _specs(inputs, stdin):
        path = Path(spec)
        if path.is_dir():
            for file in _walk(path):
                add(file, path)
        elif not path.exists() and _GLOB_CHARACTERS & set(spec):
            base = _glob_base(spec)
            matches = sorted(glob.glob(spec, recursive=True))  # noqa: PTH207 - a pattern
            if not matches:
                add(path, None)  # reported as missing, like a name (a typo must not pass)
            for match in matches:
                matched = Path(match)
                if matched.is_dir():
                    for file in _walk(matched):
                        add(file, base)
                elif not _is_hidden(matched.name):
                    add(matched, base)
        else:
            add(path, None)
    return found


def is_inside(path: Path, directory: Path) -> bool:
    """Whether ``path`` lies in ``directory`` (either resolved through links)."""
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def output_path(file: Path, root: Path | None, outdir: Path) -> Path:
    """Where ``file``'s output goes: its path below ``root`` mirrored under ``outdir``.

    Raises UsageError if the result would not lie inside ``outdir`` (a path that climbs out
    through ``..`` or a symlink).
    """
    relative = Path(file.name) if root is None else Path(os.path.relpath(file, root))
    if relative.is_absolute() or ".." in relative.parts:
        raise UsageError(f"{file}: its output would fall outside {outdir}")
    target = outdir / relative
    # The nearest directory on the way that exists already decides where the output lands
    # (a symlink in the middle of the tree would take it elsewhere, and the workers create
    # the directories below it); the target itself, if a symlink, is replaced, not followed.
    existing = target.parent
    while (
        existing not in (outdir, existing.parent)
        and not existing.exists()
        and not existing.is_symlink()
    ):
        existing = existing.parent
    if not is_inside(existing, outdir):
        raise UsageError(f"{file}: its output would fall outside {outdir}")
    return target


def _not_regular(file: Path, root: Path | None) -> str | None:
    """Why a file found by walking a directory (or matching a glob) is skipped unopened: it
    is a FIFO (opening it would wait for a writer forever), a device node (``/dev/zero``
    never ends), a socket. A file named directly is not skipped: it fails with that reason."""
    if root is None:
        return None
    import stat

    from marking.media.atomic import not_regular

    try:
        mode = file.stat().st_mode
    except OSError:
        return None  # gone meanwhile, or a dangling symlink: processing reports it
    return None if stat.S_ISREG(mode) else not_regular(mode)


def mark_jobs(inputs: Sequence[str], outdir: Path, stdin: TextIO | None = None) -> list[Job]:
    """The jobs of a ``mark`` batch; files inside ``outdir`` (earlier outputs) are left out."""
    jobs: list[Job] = []
    claimed: dict[str, str] = {}
    for file, root in collect(inputs, stdin):
        if root is not None and is_inside(file, outdir):
            continue
        size = _size(file)
        skip = _not_regular(file, root)
        if skip is not None:
            jobs.append(Job(str(file), None, size, found=True, skip=skip))
            continue
        try:
            target = output_path(file, root, outdir)
        except UsageError as error:
            jobs.append(Job(str(file), None, size, str(error), root is not None))
            continue
        other = claimed.setdefault(os.path.normcase(str(target)), str(file))
        problem = None if other == str(file) else f"output {target} is also {other}'s output"
        jobs.append(Job(str(file), str(target), size, problem, root is not None))
    return jobs


#: A temporary name's random part (tempfile.mkstemp's: 8 of [a-z0-9_]).
_RANDOM = "[a-z0-9_]{8}"
#: The hidden files the steps of one output leave beside it while they run: atomic_write's
#: ``.<name>.<random>.part``, the pipeline's ``.<stem>.aigc-<random><suffix>`` and tag_file's
#: ``.tagged.<random><suffix>`` (before C2PA signing), each with its own ``.part`` too.
_PART = re.compile(rf"\.(?P<name>.+)\.{_RANDOM}\.part")
_SCRATCH = re.compile(rf"\.(?P<stem>.+?)\.aigc-{_RANDOM}.*")
_TAGGED = re.compile(rf"\.tagged\.{_RANDOM}.*")


def _is_temporary(name: str, names: set[str], stems: set[str]) -> bool:
    part = _PART.fullmatch(name)
    if part is not None:
        if part["name"] in names:
            return True
        name = part["name"]  # the .part of a scratch or tagged file
    scratch = _SCRATCH.fullmatch(name)
    if scratch is not None and scratch["stem"] in stems:
        return True
    return _TAGGED.fullmatch(name) is not None


def remove_temporaries(jobs: Iterable[Job]) -> list[Path]:
    """Remove the batch's leftover temporary files beside its outputs; return them.

    Workers remove their own, even when stopped, but a worker killed outright cannot (a Dask
    nanny kills a task that outlasts the cluster's shutdown timeout; a worker killed for its
    memory): at the end of a batch, once its workers are gone, the command sweeps the output
    directories. Only hidden files named after one of the batch's outputs (or tag_file's
    ``.tagged.*``) are touched; each directory is listed once.
    """
    outputs: dict[Path, set[str]] = {}
    for job in jobs:
        if job.output is not None:
            target = Path(job.output)
            outputs.setdefault(target.parent, set()).add(target.name)
    removed: list[Path] = []
    for directory, names in outputs.items():
        stems = {Path(name).stem for name in names}
        try:
            with os.scandir(directory) as entries:
                found = [
                    Path(entry.path)
                    for entry in entries
                    if entry.name.startswith(".")
                    and _is_temporary(entry.name, names, stems)
                    and entry.is_file(follow_symlinks=False)
                ]
        except OSError:
            continue
        for path in found:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def output_lock(outdir: Path) -> Iterator[None]:
    """Hold OUTDIR for this batch alone: a second ``mark`` on the same directory stops at once
    with a clear error instead of racing this one (both would write the same outputs, and
    each one's sweep of leftover temporaries would delete the other's files in flight).

    An advisory ``flock`` on the directory itself (no lock file to leave behind), released by
    the kernel however the process ends, so a killed batch never leaves OUTDIR locked. Batches
    on other hosts sharing OUTDIR over a network file system may not see it.
    """
    import fcntl

    try:
        descriptor = os.open(outdir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        raise UsageError(f"output directory {outdir}: {error.strerror or error}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"output directory {outdir} is in use by another aigc-mark mark run; wait "
                "for it to finish (then run again to resume), or pick another -o"
            ) from None
        yield
    finally:
        os.close(descriptor)  # releases the lock


def verify_jobs(inputs: Sequence[str], stdin: TextIO | None = None) -> list[Job]:
    return [
        Job(str(file), None, _size(file), found=root is not None, skip=_not_regular(file, root))
        for file, root in collect(inputs, stdin)
    ]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- work on one file (runs in a worker) -------------------------------------------------------


def _failure(job: Job, error: BaseException | str, started: float, **fields: Any) -> dict:
    from marking.errors import describe_failure

    message = error if isinstance(error, str) else describe_failure(error, job.input)
    return {
        "input": job.input,
        "output": job.output,
        "modality": fields.pop("modality", None),
        "status": FAILED,
        "error": message,
        "bytes": job.size,
        "seconds": round(time.perf_counter() - started, 4),
        **fields,
    }


def missing_mark_fields(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every field of a ``mark`` record, those it lacks set to "none": the
    report's lines all have the same shape, including records made without :func:`mark_one`
    (a file whose worker process died)."""
    defaults: dict[str, Any] = {
        "modality": None,
        "status": None,
        "steps": [],
        "payload": None,
        "produce_id": None,
        "error": None,
        "bytes": 0,
        "seconds": 0.0,
        "timings": {},
        "notes": [],
    }
    return record | {name: value for name, value in defaults.items() if name not in record}


def _mark_record(job: Job, **fields: Any) -> dict[str, Any]:
    return missing_mark_fields(
        {"input": job.input, "output": job.output, "bytes": job.size} | fields
    )


def _modality(path: str) -> str | None:
    from marking.media.sniffing import media_kind

    try:
        return media_kind(path)
    except Exception:
        return None


def output_is_complete(path: str, config: Any, key: Any, source: str | None = None) -> bool:
    """Whether an existing output is a finished one (for resuming a batch).

    Outputs only ever appear whole (they are renamed into place), so existence already means
    complete; this also reads the mark back: the metadata label when the batch writes one,
    else the watermark, else that the file still decodes as media. With ``source`` (the
    input), the label's ProduceID must also be the one the input's bytes give now: an input
    replaced since the output was made (a new render under the same name) is marked again.
    """
    from marking.pipeline.mark import METADATA, WATERMARK, content_id

    target = Path(path)
    if not target.is_file() or target.stat().st_size == 0:
        return False
    try:
        if METADATA in config.steps:
            from marking.tags.tagging import read_label

            label = read_label(target).label
            if label is None or label.content_producer != config.producer:
                return False
            return source is None or label.produce_id == content_id(source, config.producer)
        if WATERMARK in config.steps:
            from marking.pipeline.verify import read_watermark

            return bool(read_watermark(target, _modality(path) or "", key).get("detected"))
        return _modality(path) is not None
    except Exception:
        return False


def not_media(job: Job) -> bool:
    """A file met while walking a directory that is plainly not media (a README, a JSON
    sidecar): neither its name nor its content says picture, recording or video. Those are
    skipped; a named file, or one with a media suffix, is processed and fails if it is bad."""
    from marking.media.sniffing import MEDIA_SUFFIXES, media_kind

    if not job.found or Path(job.input).suffix.lower() in MEDIA_SUFFIXES:
        return False
    try:
        media_kind(job.input)
    except Exception:
        return True
    return False


NOT_MEDIA = "not a picture, recording or video"


def _make_output_directory(target: Path) -> None:
    """Make the directory ``target`` goes in (mirrored below OUTDIR); a failure names both."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        from marking.errors import OutputError
        from marking.media.atomic import display_path

        raise OutputError(
            f"{display_path(target)}: cannot make directory {display_path(target.parent)}: "
            f"{error.strerror or error}"
        ) from None


def mark_one(job: Job, config: Any, key: Any, resume: bool = True) -> dict[str, Any]:
    """Mark one file; a record whatever happens (exceptions become ``failed`` records)."""
    from marking.kernels._config import single_threaded
    from marking.pipeline.mark import mark_file

    started = time.perf_counter()
    if job.skip is not None:
        return _mark_record(job, status=SKIPPED, output=None, reason=job.skip)
    if job.problem is not None or job.output is None:
        return _mark_record(job, **_failure(job, job.problem or "no output path", started))
    if not_media(job):
        return _mark_record(job, status=SKIPPED, output=None, reason=NOT_MEDIA)
    try:
        if resume and output_is_complete(job.output, config, key, job.input):
            return _mark_record(
                job,
                status=SKIPPED,
                modality=_modality(job.output),
                reason="output exists and carries the mark",
                seconds=round(time.perf_counter() - started, 4),
            )
        _make_output_directory(Path(job.output))
        with single_threaded():
            record = mark_file(job.input, job.output, config, key=key)
    except Exception as error:
        failure = _failure(job, error, started, modality=_modality(job.input))
        return _mark_record(job, **failure)
    return _mark_record(
        job,
        status=MARKED,
        modality=record["kind"],
        steps=record["steps"],
        payload=record["payload"],
        produce_id=record["produce_id"],
        seconds=record["seconds"],
        timings=record["timings"],
        notes=record["notes"],
    )


def verify_one(job: Job, key: Any, trust_anchors: str | None = None) -> dict[str, Any]:
    """Verify one file; a record whatever happens."""
    from marking.kernels._config import single_threaded
    from marking.pipeline.verify import verify_file

    started = time.perf_counter()
    if job.skip is not None or not_media(job):
        return {
            "input": job.input,
            "modality": None,
            "status": SKIPPED,
            "reason": job.skip or NOT_MEDIA,
            "bytes": job.size,
            "seconds": 0.0,
        }
    try:
        with single_threaded():
            result = verify_file(job.input, key=key, trust_anchors=trust_anchors)
    except Exception as error:
        return _failure(job, error, started, modality=_modality(job.input), file=job.input)
    return {
        "input": job.input,
        "modality": result.kind,
        "status": VERIFIED,
        "bytes": job.size,
        "seconds": round(time.perf_counter() - started, 4),
        **result.to_dict(),
    }


# --- running a batch ---------------------------------------------------------------------------


def _worker_init(parent: int) -> None:
    """In each worker process (see :func:`marking.media.interrupts.become_worker`): Ctrl-C is left
    to the parent, SIGTERM stops the job at a safe point (its temporary files removed), and
    the worker ends when its parent dies."""
    interrupts.become_worker(parent)


def _work_in_worker(work: Callable[[Job], dict], job: Job) -> dict[str, Any]:
    """Run one job in a pool worker; a stop signal (or the parent's death) ends the worker
    process once the job has unwound, so that a stopped batch never goes on to the next job
    already queued to the worker, and an orphaned worker never publishes an output."""
    with interrupts.working():
        return work(job)


def _work_for_batch(work: Callable[[Job], dict], batch: int, job: Job) -> dict[str, Any]:
    """Run one job in a worker of a local Dask cluster for batch process ``batch``: the job
    stops at its next safe point, publishing nothing, if the batch dies meanwhile."""
    interrupts.watch_batch(batch)
    return work(job)


#: Seconds between two looks at whether a stop signal came, while the batch waits on workers.
POLL_SECONDS = 0.1


def _bounded(
    jobs: Iterable[Job], submit: Callable[[Job], Any], wait_one: Callable[[set], Any], limit: int
) -> Iterator[Any]:
    """Submit jobs keeping at most ``limit`` in flight; yield finished futures."""
    pending: set = set()
    for job in jobs:
        while len(pending) >= limit:
            done = wait_one(pending)
            pending.discard(done)
            yield done
        pending.add(submit(job))
    while pending:
        done = wait_one(pending)
        pending.discard(done)
        yield done


#: The error of a file whose worker process died under it (found by running it again alone).
WORKER_DIED = "its worker process died (out of memory, or a crash in a codec)"


def _nothing() -> None:
    """A task that succeeds in any worker that can start: tells a file that kills its worker
    from workers that die before doing anything (a broken interpreter or environment)."""


#: Seconds a fresh worker gets to run :func:`_nothing` (it imports the package first).
WORKER_START_TIMEOUT = 300


def _warm_kernels(jobs: Sequence[Job]) -> None:
    """Compile the kernels in this process before work goes to other processes, which would
    otherwise each compile every kernel missing from Numba's cache, all at once, racing to
    write the same cache files (see :mod:`marking.watermark.warmup`; cheap on a warm cache, once per
    process)."""
    if jobs:
        from marking.watermark.warmup import ensure_compiled

        ensure_compiled(interrupts.check)


def _run_local(
    jobs: Sequence[Job], work: Callable[[Job], dict], workers: int
) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for job in jobs:
            interrupts.check()  # between files; within one, at its own safe points
            yield work(job)
        return
    _warm_kernels(jobs)
    import multiprocessing
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no inherited threads or locks

    def start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),)
        )

    def submit(job: Job) -> Any:
        # The pool starts its worker processes in submit() (see interrupts.signals_blocked).
        with interrupts.signals_blocked():
            return executor.submit(_work_in_worker, work, job)

    executor = start()
    todo = deque(jobs)
    # A worker that dies (killed for memory, a crash in a codec) takes the pool down with every
    # job in it. The jobs in flight then run again one at a time in a new pool: the one that
    # kills its worker again fails alone, and the batch goes on.
    suspects: deque[Job] = deque()
    pending: dict[Any, tuple[Job, bool]] = {}  # future -> (job, running alone)
    answered = False  # whether any worker has sent back a record yet
    stopped = False
    try:
        while todo or suspects or pending:
            interrupts.check()
            if suspects:
                if not pending:
                    job = suspects.popleft()
                    pending[submit(job)] = (job, True)
            else:
                while todo and len(pending) < workers * IN_FLIGHT_PER_WORKER:
                    job = todo.popleft()
                    pending[submit(job)] = (job, False)
            done, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            if any(isinstance(future.exception(), BrokenProcessPool) for future in done):
                executor.shutdown(wait=True)  # settles every future still in the broken pool
                done = set(pending)
                executor = start()
            for future in done:
                job, alone = pending.pop(future)
                error = future.exception()
                if error is None:
                    answered = True
                    yield future.result()
                elif not isinstance(error, BrokenProcessPool):  # no record came back at all
                    answered = True
                    yield _failure(job, error, time.perf_counter())
                elif not alone:
                    suspects.append(job)
                elif answered or _workers_can_start(executor):
                    yield _failure(job, WORKER_DIED, time.perf_counter())
                else:
                    raise WorkerError(
                        "worker processes die before doing any work (a task that does nothing "
                        "killed them too), so no file was processed; run with -j 1 to see why"
                    )
    except BaseException:
        stopped = True
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()  # SIGTERM: the worker unwinds and removes its temp files
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=stopped)


def _workers_can_start(executor: Any) -> bool:
    """Whether a worker of ``executor`` (a fresh pool) runs :func:`_nothing`."""
    from concurrent.futures import wait
    from concurrent.futures.process import BrokenProcessPool

    with interrupts.signals_blocked():
        future = executor.submit(_nothing)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while not wait([future], timeout=POLL_SECONDS).done:
        interrupts.check()
        if time.monotonic() > deadline:
            return False
    return not isinstance(future.exception(), BrokenProcessPool)


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A Dask distributed client: ``local:N`` starts a local cluster of N one-thread worker
    processes; anything else is a scheduler address (``tcp://host:8786``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "--dask needs Dask distributed: pip install 'aigc-marking[dask]'"
        ) from None
    import logging

    if address.startswith("local:"):
        try:
            count = int(address.removeprefix("local:"))
        except ValueError:
            count = 0
        if count < 1:
            raise UsageError(f"--dask local:N needs a worker count >= 1, got {address!r}")
        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off
        # glibc's adaptive mmap threshold: every frame-sized array is then mapped and faulted
        # in afresh, and marking a picture takes 1.8x as long (measured: bench/batch_throughput).
        import dask

        # Ctrl-C goes to the whole process group; the cluster's processes must leave it to
        # this one, which stops them (else each prints a KeyboardInterrupt traceback). An
        # ignored SIGINT stays ignored in the processes started meanwhile (Python keeps it
        # so). This process then ignores a Ctrl-C too, in the seconds the cluster takes to
        # start; SIGTERM is never lost.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with dask.config.set(
                {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
            ):
                cluster = LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
        finally:
            signal.signal(signal.SIGINT, previous)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as error:
        raise UsageError(f"--dask {address}: cannot reach the scheduler: {error}") from None
    try:
        yield client
    finally:
        client.close()


def _run_dask(jobs: Sequence[Job], work: Callable[[Job], dict], address: str) -> Iterator[dict]:
    with dask_client(address) as client:
        from distributed import wait

        _warm_kernels(jobs)  # the cluster's workers start work only when tasks come
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        owners: dict[Any, Job] = {}

        task: Callable[[Job], dict] = work
        if address.startswith("local:"):  # its workers can see whether this process lives
            task = functools.partial(_work_for_batch, work, os.getpid())

        def submit(job: Job) -> Any:
            future = client.submit(task, job, pure=False)
            owners[future] = job
            return future

        def wait_one(pending: set) -> Any:
            while True:
                interrupts.check()
                try:
                    done = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                return next(iter(done.done))

        in_flight: set = set()
        try:
            for future in _bounded(jobs, submit, wait_one, workers * IN_FLIGHT_PER_WORKER):
                job = owners.pop(future)
                in_flight = set(owners)
                try:
                    yield future.result()
                except Exception as error:  # the worker died or could not return a record
                    yield _failure(job, error, time.perf_counter())
        except BaseException:
            client.cancel(list(in_flight | set(owners)))
            raise


def run(
    jobs: Sequence[Job],
    work: Callable[[Job], dict],
    *,
    workers: int = 1,
    dask: str | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Records of ``work(job)`` for every job, in the order they finish.

    SIGINT and SIGTERM stop the batch: workers are told to stop (their partial outputs are
    removed) and :class:`Interrupted` is raised (see :mod:`marking.media.interrupts`). Before work
    goes to other processes the kernels are compiled here (:mod:`marking.watermark.warmup`).
    """
    with interrupts.handled():
        if dask is not None:
            yield from _run_dask(jobs, work, dask)
        else:
            yield from _run_local(jobs, work, workers)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
