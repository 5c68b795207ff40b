"""A batch on local worker processes: a pool of N spawned processes, each running one file at
a time, with a few files in flight per worker.

Workers run the Numba kernels on one thread each: a batch is parallel across files, which
scales better than parallel kernels within one file (and leaves video encoders their cores).
A worker that dies under a file (killed for its memory, a crash in a codec) costs that file
only: the files it held run again one at a time, and the one that kills its worker again
fails alone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from marking.errors import WorkerError
from marking.media import interrupts
from marking.pipeline.inputs import Job
from marking.pipeline.jobs import failure_record

#: Jobs in flight per worker: enough to keep workers busy, few enough to stop quickly.
IN_FLIGHT_PER_WORKER = 2
#: Seconds between two looks at whether a stop signal came, while the batch waits on workers.
POLL_SECONDS = 0.1
#: The error of a file whose worker process died under it (found by running it again alone).
WORKER_DIED = "its worker process died (out of memory, or a crash in a codec)"
#: Seconds a fresh worker gets to run :func:`_nothing` (it imports the package first).
WORKER_START_TIMEOUT = 300
#: Seconds between two progress messages a worker sends about one file (the last always goes).
PROGRESS_INTERVAL = 0.2

#: ``progress(input, done, total)``: a batch's progress within one file (frames or samples done
#: of ``total``, None when the length is unknown), as the file's worker reports it.
BatchProgress = Callable[[str, int, int | None], None]

#: In a pool worker: the queue its progress messages go to (set by :func:`_worker_init`).
_progress_queue: Any = None


def accepts_progress(work: Callable[..., Any]) -> bool:
    """Whether ``work(job, progress=...)`` takes a progress callback (mark does; work that
    does not is reported per file only)."""
    import inspect

    try:
        return "progress" in inspect.signature(work).parameters
    except (TypeError, ValueError):
        return False


class ProgressSender:
    """A job's ``progress(done, total)`` in a worker: sends ``(input, done, total)`` to the
    parent, at most every :data:`PROGRESS_INTERVAL` seconds (and always the last step), so a
    video of thousands of frames costs the queue a few messages a second."""

    def __init__(self, send: Callable[[tuple[str, int, int | None]], None], name: str) -> None:
        self.send = send
        self.name = name
        self.sent_at = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.sent_at < PROGRESS_INTERVAL and done != total:
            return
        self.sent_at = now
        with contextlib.suppress(Exception):  # progress must never fail the file
            self.send((self.name, done, total))


def warm_kernels(jobs: Sequence[Job]) -> None:
    """Compile the kernels in this process before work goes to other processes, which would
    otherwise each compile every kernel missing from Numba's cache, all at once, racing to
    write the same cache files (see :mod:`marking.watermark.warmup`; cheap on a warm cache,
    once per process)."""
    if jobs:
        from marking.watermark.warmup import ensure_compiled

        ensure_compiled(interrupts.check)


def _worker_init(parent: int, progress_queue: Any = None) -> None:
    """In each worker process (see :func:`marking.media.interrupts.become_worker`): Ctrl-C is left
    to the parent, SIGTERM stops the job at a safe point (its temporary files removed), and
    the worker ends when its parent dies. ``progress_queue`` takes the jobs' progress."""
    global _progress_queue
    interrupts.become_worker(parent)
    if progress_queue is not None:
        progress_queue.cancel_join_thread()  # a worker's exit never waits on unread progress
    _progress_queue = progress_queue


def _work_in_worker(work: Callable[[Job], dict], job: Job) -> dict[str, Any]:
    """Run one job in a pool worker; a stop signal (or the parent's death) ends the worker
    process once the job has unwound, so that a stopped batch never goes on to the next job
    already queued to the worker, and an orphaned worker never publishes an output."""
    with interrupts.working():
        if _progress_queue is not None and accepts_progress(work):
            return work(job, progress=ProgressSender(_progress_queue.put, job.input))
        return work(job)


def _nothing() -> None:
    """A task that succeeds in any worker that can start: tells a file that kills its worker
    from workers that die before doing anything (a broken interpreter or environment)."""


class _Pool:
    """A ProcessPoolExecutor of ``workers`` spawned processes, started afresh when broken."""

    def __init__(self, workers: int, progress: BatchProgress | None = None) -> None:
        import multiprocessing

        self.workers = workers
        self.context = multiprocessing.get_context("spawn")  # no inherited threads or locks
        self.progress = progress
        self.queue: Any = None
        self.executor = self._start()

    def _start(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        # A fresh queue with every pool: a worker killed while writing may leave the old
        # one's lock held. Given at the workers' start (a queue cannot go with a task).
        self.queue = self.context.Queue() if self.progress is not None else None
        return ProcessPoolExecutor(
            self.workers,
            mp_context=self.context,
            initializer=_worker_init,
            initargs=(os.getpid(), self.queue),
        )

    def deliver_progress(self) -> None:
        """Hand the progress the workers sent so far to ``progress`` (never blocks)."""
        import queue

        if self.queue is None or self.progress is None:
            return
        while True:
            try:
                name, done, total = self.queue.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            self.progress(name, done, total)

    def submit(self, task: Callable[..., Any], *args: Any) -> Any:
        # The pool starts its worker processes in submit() (see interrupts.signals_blocked).
        with interrupts.signals_blocked():
            return self.executor.submit(task, *args)

    def restart(self) -> None:
        """Replace a broken pool: shutting it down settles every future still in it."""
        self.executor.shutdown(wait=True)
        self._close_queue()
        self.executor = self._start()

    def _close_queue(self) -> None:
        if self.queue is not None:
            self.queue.cancel_join_thread()
            self.queue.close()
            self.queue = None

    def terminate(self) -> None:
        """SIGTERM to every worker: each unwinds its job and removes its temporary files."""
        for process in list(getattr(self.executor, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()

    def shutdown(self, cancel: bool) -> None:
        self.executor.shutdown(wait=True, cancel_futures=cancel)
        self._close_queue()

    def workers_can_start(self) -> bool:
        """Whether a worker of this (fresh) pool runs :func:`_nothing`."""
        from concurrent.futures import wait
        from concurrent.futures.process import BrokenProcessPool

        future = self.submit(_nothing)
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not wait([future], timeout=POLL_SECONDS).done:
            interrupts.check()
            if time.monotonic() > deadline:
                return False
        return not isinstance(future.exception(), BrokenProcessPool)


def run_local(
    jobs: Sequence[Job],
    work: Callable[[Job], dict],
    workers: int,
    progress: BatchProgress | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of ``work(job)`` for every job: in this process with one worker, else on a
    pool of ``workers`` processes, in the order they finish. With ``progress``, work that
    takes a ``progress`` callback (:func:`accepts_progress`) reports its frames or samples
    as it goes, from the workers through a queue."""
    if workers <= 1:
        within = progress is not None and accepts_progress(work)
        for job in jobs:
            interrupts.check()  # between files; within one, at its own safe points
            if within:
                send = ProgressSender(lambda item: progress(*item), job.input)  # type: ignore[misc]
                yield work(job, progress=send)
            else:
                yield work(job)
        return
    warm_kernels(jobs)
    pool = _Pool(workers, progress)
    stopped = False
    try:
        yield from _run_pool(pool, jobs, work)
    except BaseException:
        stopped = True
        pool.terminate()
        raise
    finally:
        pool.shutdown(cancel=stopped)


def _run_pool(
    pool: _Pool, jobs: Sequence[Job], work: Callable[[Job], dict]
) -> Iterator[dict[str, Any]]:
    """The loop of :func:`run_local` on ``pool``.

    A worker that dies (killed for memory, a crash in a codec) takes the pool down with every
    job in it. The jobs in flight then run again one at a time in a new pool: the one that
    kills its worker again fails alone, and the batch goes on.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = deque(jobs)
    suspects: deque[Job] = deque()
    pending: dict[Any, tuple[Job, bool]] = {}  # future -> (job, running alone)
    answered = False  # whether any worker has sent back a record yet
    while todo or suspects or pending:
        interrupts.check()
        if suspects:
            if not pending:
                job = suspects.popleft()
                pending[pool.submit(_work_in_worker, work, job)] = (job, True)
        else:
            while todo and len(pending) < pool.workers * IN_FLIGHT_PER_WORKER:
                job = todo.popleft()
                pending[pool.submit(_work_in_worker, work, job)] = (job, False)
        done, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        pool.deliver_progress()
        if any(isinstance(future.exception(), BrokenProcessPool) for future in done):
            pool.restart()
            done = set(pending)
        for future in done:
            job, alone = pending.pop(future)
            error = future.exception()
            if error is None:
                answered = True
                yield future.result()
            elif not isinstance(error, BrokenProcessPool):  # no record came back at all
                answered = True
                yield failure_record(job, error, time.perf_counter())
            elif not alone:
                suspects.append(job)
            elif answered or pool.workers_can_start():
                yield failure_record(job, WORKER_DIED, time.perf_counter())
            else:
                raise WorkerError(
                    "worker processes die before doing any work (a task that does nothing "
                    "killed them too), so no file was processed; run with -j 1 to see why"
                )
