"""Interrupts (SIGINT, SIGTERM) that stop a command cleanly wherever they land.

A Python signal handler runs in the main thread between any two bytecodes, including the
Python code that native libraries call back (libsndfile's virtual I/O through cffi, PyAV's
file I/O, llvmlite's object cache while Numba loads cached kernels). An exception raised
there is printed and swallowed by the callback machinery, or leaves the native caller with
an exception set (Numba's "CPUDispatcher(...) returned a result with an exception set"):
the interrupt is then lost or turns into an "unexpected" error, and the output may still
be published. So the handler here only records the signal; the code raises
:class:`Interrupted` at safe points of its own (:func:`check`): between blocks and frames,
between the files of a batch, and always just before an output is renamed into place, so
that an interrupt received before then never publishes an output. The ``with`` blocks that
own temporary files remove them as :class:`Interrupted` unwinds, and the command exits
with 128 + the signal's number (130, 143).

Batch worker processes also end when their parent dies (``PR_SET_PDEATHSIG`` sends them
SIGTERM on Linux, and :func:`check` compares the parent's pid): a worker never publishes
an output after its batch is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from marking.errors import ExitCode

#: The signals that stop a command.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: int | None = None  # the first stop signal received, if any
_installed = 0  # depth of handled() blocks
_exit_when_idle = False  # a batch worker: a signal between jobs ends the process at once
_working = False  # a batch worker is running a job
_parent: int | None = None  # a batch worker's parent process
_batch: int | None = None  # the batch process a Dask worker of a local cluster works for


class Interrupted(BaseException):
    """The command was asked to stop (SIGINT or SIGTERM); ``signal_number`` says which.

    A BaseException, like KeyboardInterrupt: a file's ``except Exception`` (which turns its
    errors into ``failed`` records) must not swallow it.
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"interrupted by signal {signal_number}")
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return ExitCode.of_signal(self.signal_number)


def _record(signal_number: int, _frame: Any) -> None:
    """The handler: note the first stop signal and return (never raise, see the module)."""
    global _received
    if _received is None:
        _received = signal_number
    if _exit_when_idle and not _working:
        _exit_now()


def _exit_now() -> None:
    """End a batch worker at once (it holds no temporary file between jobs)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(ExitCode.of_signal(_received or signal.SIGTERM))


def received() -> int | None:
    """The stop signal received so far (its number), or None."""
    return _received


def check() -> None:
    """Raise :class:`Interrupted` if a stop signal was received, or (in a batch worker) if the
    batch process is gone. Call it only from code of this package's own, never from a
    callback that native code makes."""
    global _received
    if _received is None and _orphaned():
        _received = signal.SIGTERM  # the batch was killed outright
    if _received is not None:
        raise Interrupted(_received)


def _orphaned() -> bool:
    """Whether this worker's batch process is gone."""
    if _parent is not None and os.getppid() != _parent:
        return True
    return _batch is not None and not _alive(_batch)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:  # noqa: PTH123 - one small read
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def watch_batch(pid: int) -> None:
    """In a worker of a local Dask cluster: stop (:func:`check`) once batch process ``pid`` is
    gone. Dask ends its worker processes when the batch dies, but not before they may have
    published an output or two."""
    global _batch
    _batch = pid


@contextlib.contextmanager
def handled(*, keep: bool = False) -> Iterator[None]:
    """Record SIGINT and SIGTERM (instead of dying or raising wherever they land) for a while.

    Outside the main thread, where Python cannot set handlers, nothing changes. On leaving
    the outermost block the previous handlers come back and the record is cleared, unless
    ``keep`` (the process is about to exit).
    """
    global _installed, _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    if _installed == 0:
        _received = None
        for number in STOP_SIGNALS:
            previous[number] = signal.signal(number, _record)
    _installed += 1
    try:
        yield
    finally:
        _installed -= 1
        if not keep:
            for number, handler in previous.items():
                signal.signal(number, handler)
            if _installed == 0:
                _received = None


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back from this thread while it starts batch workers.

    The processes it starts meanwhile begin with both blocked (the mask passes through
    ``exec``): a Ctrl-C to the process group then reaches a worker only once its initializer
    ignores it (:func:`become_worker`), never while it imports, where it would print a
    KeyboardInterrupt traceback. This process loses nothing: a signal for it waits until
    the block ends, or is taken by another of its threads, and recorded all the same (the
    handler is never set to "ignore", which would discard it).
    """
    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def become_worker(parent: int) -> None:
    """Set up a batch worker process started by ``parent`` (its pool initializer).

    Ctrl-C is left to the parent, which stops the workers itself; SIGTERM (from the parent,
    or from the kernel when the parent dies) is recorded during a job, which then stops at
    its next safe point and removes its temporary files, and ends the worker at once between
    jobs. The worker started with both signals blocked (:func:`signals_blocked`); one that
    came meanwhile is delivered here, once the handlers are in place.
    """
    global _exit_when_idle, _parent, _received
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _received = None
    _exit_when_idle = True
    _parent = parent
    signal.signal(signal.SIGTERM, _record)
    _die_with_parent()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if os.getppid() != parent:  # the parent died before the kernel could be told
        _exit_now()


@contextlib.contextmanager
def working() -> Iterator[None]:
    """A batch worker's job: stop signals are recorded (the job stops at a safe point) rather
    than ending the worker at once; one recorded by the end ends the worker then."""
    global _working
    _working = True
    try:
        check()
        yield
    finally:
        _working = False
        if _exit_when_idle and (_received is not None or _orphaned()):
            _exit_now()
