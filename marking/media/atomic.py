"""Atomic file output: a result is either complete at its final path or absent.

Outputs are written to a temporary file in the target's directory, flushed to disk and then
renamed over the target in one step, so an interrupted run (an error, a full disk, Ctrl-C)
never leaves a half-written image behind or destroys an existing file.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from marking.errors import (
    InputError,
    MarkingError,
    OutputError,
    UnusableOutputError,
    display_path,  # re-exported: callers name paths in errors
)
from marking.media.interrupts import check as check_interrupted
from marking.media.temporaries import open_part, scratch_name

StrPath = str | os.PathLike[str]

#: What a file that is not a regular file is, by its ``stat`` type, for one-line messages.
_FILE_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def name_in_error(
    error: BaseException, hidden: Iterable[StrPath], shown: StrPath, *, count: int = -1
) -> None:
    """Make ``error``'s message name ``shown`` wherever it names one of the ``hidden`` files
    (a temporary or intermediate file, gone by the time the message shows); ``count`` limits
    the replacements per hidden file, as :meth:`str.replace` does."""
    message = str(error)
    for path in hidden:
        message = message.replace(display_path(path), display_path(shown), count)
    if message != str(error):
        error.args = (message,)


def file_type(mode: int) -> str:
    """``"a regular file"``, ``"a FIFO"``, ``"a character device"``...: what a file is, by its
    ``st_mode``, for one-line messages."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _FILE_TYPES:
        if test(mode):
            return name
    return "a special file"


def not_regular(mode: int) -> str:
    """The one-line problem of a non-regular file: ``"a FIFO, not a regular file"``."""
    return f"{file_type(mode)}, not a regular file"


def file_error(cls: type[MarkingError], path: StrPath, problem: str) -> MarkingError:
    """An error whose message names the file; ``path`` and ``problem`` kept as attributes.

    Batch reports print ``problem`` next to the file name, so the name is not said twice.
    """
    error = cls(f"{display_path(path)}: {problem}")
    error.path = os.fspath(path)  # type: ignore[attr-defined]
    error.problem = problem  # type: ignore[attr-defined]
    return error


def _current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no read-only query elsewhere: set and restore
    os.umask(mask)
    return mask


def _same_file(target: Path, other: Path) -> bool:
    """Whether ``target`` and ``other`` name the same file (by inode, or by resolved path)."""
    with contextlib.suppress(OSError):
        if target.exists() and other.exists() and target.samefile(other):
            return True
    try:
        return target.resolve() == other.resolve()
    except (OSError, RuntimeError):
        return False


def check_output_path(path: StrPath, forbid: Iterable[StrPath] = ()) -> Path:
    """Validate an output path before any work is done; return it as a :class:`Path`.

    Raises :class:`OutputError` when the target is one of ``forbid`` (the inputs), or its
    directory is missing or not writable; :class:`UnusableOutputError` (a usage error) when it
    exists and is not a regular file: a directory, a device node such as ``/dev/null``, a FIFO
    or a socket is never replaced, written into or opened (a symlink is judged by its target).
    """
    target = Path(path)
    shown = display_path(target)
    for other in forbid:
        if _same_file(target, Path(other)):
            raise OutputError(f"{shown}: refusing to overwrite the input file")
    refuse_non_regular_output(target)
    directory = target.parent
    if not directory.exists():
        raise OutputError(f"{shown}: directory {display_path(directory)} does not exist")
    if not directory.is_dir():
        raise OutputError(f"{shown}: {display_path(directory)} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: directory {display_path(directory)} is not writable")
    return target


def refuse_non_regular_output(target: StrPath) -> None:
    """Raise :class:`UnusableOutputError` if ``target`` exists and is not a regular file."""
    try:
        mode = Path(target).stat().st_mode
    except OSError:
        return  # absent (or a dangling symlink, which the rename replaces): a new file
    if stat.S_ISDIR(mode):
        raise UnusableOutputError(f"{display_path(target)}: is a directory")
    if not stat.S_ISREG(mode):
        raise UnusableOutputError(
            f"{display_path(target)}: {not_regular(mode)}; an output must be a regular file "
            "or a new name"
        )


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; silently skipped where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: StrPath,
    *,
    forbid: Iterable[StrPath] = (),
    readable: bool = False,
    mode: int | None = None,
    interruptible: bool = True,
) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    Yields a binary file object (also readable and seekable back with ``readable``, for
    writers that revisit what they wrote, such as a C2PA signer patching its hashes). If the
    block raises anything (including ``KeyboardInterrupt``), the temporary file is removed
    and ``path`` is left untouched. A stop signal received before the rename (see
    :mod:`marking.media.interrupts`) raises :class:`~marking.media.interrupts.Interrupted`
    instead of publishing the file, unless ``interruptible`` is false: a file that records the stop
    itself (a batch's report) is published all the same.
    The new file gets the usual permissions (those of the file it replaces, or
    ``0o666 & ~umask``), not the private ``0o600`` of a fresh temporary file; ``mode`` sets
    them instead (``0o600`` for a private key). A target that became a non-regular file
    meanwhile (a FIFO or a device node put in its place) is refused, not replaced.
    """
    target = check_output_path(path, forbid)
    shown = display_path(target)
    if interruptible:
        check_interrupted()
    try:
        fd, temp_path = open_part(target)
    except OSError as error:
        raise OutputError(f"{shown}: cannot create a file here: {error.strerror}") from error
    try:
        with os.fdopen(fd, "w+b" if readable else "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        _rename_into_place(temp_path, target, mode, interruptible)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise OutputError(f"{shown}: cannot write: {reason}") from error
        raise
    _fsync_directory(target.parent)


def _rename_into_place(
    temporary: Path, target: Path, mode: int | None, interruptible: bool
) -> None:
    """Give the finished ``temporary`` the output's permissions and rename it over ``target``
    (see :func:`atomic_write`); raises :class:`OSError` as the file system does."""
    if mode is None:
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_current_umask()
    temporary.chmod(mode)
    refuse_non_regular_output(target)
    if interruptible:
        check_interrupted()  # the last moment an interrupt can keep the output unpublished
    temporary.replace(target)  # os.replace: atomic on POSIX


def publish(temporary: StrPath, target: StrPath) -> None:
    """Put a finished file, written beside ``target`` (a scratch file, say), in its place
    atomically, as :func:`atomic_write` publishes its own: the output's usual permissions, a
    target that became a non-regular file refused, nothing published after a stop signal.
    ``temporary`` is gone afterwards, published or removed; a failure is an
    :class:`OutputError`."""
    source, path = Path(temporary), Path(target)
    try:
        _rename_into_place(source, path, None, True)
    except BaseException as error:
        with contextlib.suppress(OSError):
            source.unlink()
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise OutputError(f"{display_path(path)}: cannot write: {reason}") from error
        raise
    _fsync_directory(path.parent)


@contextlib.contextmanager
def scratch_files(dst: StrPath) -> Iterator[Callable[[str], Path]]:
    """Hand out hidden intermediate paths beside ``dst`` (``new(suffix)``, named by
    :func:`~marking.media.temporaries.scratch_name`); remove them all at the end, whatever
    happens. An error naming one of them names ``dst`` instead (it is gone by the time the
    message shows)."""
    target = Path(dst)
    made: list[Path] = []

    def new(suffix: str) -> Path:
        path = scratch_name(target, suffix)
        made.append(path)
        return path

    try:
        yield new
    except MarkingError as error:
        name_in_error(error, made, target)
        raise
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def input_file_problem(path: StrPath, what: str = "media") -> str | None:
    """Why ``path`` cannot be read as an input file (one line), or ``None`` when it can.

    Missing, unreadable, a directory or another non-regular file, or empty: the checks every
    reader makes before opening a file with its codec, so the messages read the same. Also a
    safe point for interrupts (see :mod:`marking.media.interrupts`): a command interrupted while it
    was still importing its libraries stops here, before it reads anything.
    """
    check_interrupted()
    source = Path(path)
    try:
        status = source.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    if stat.S_ISDIR(status.st_mode):
        return f"is a directory, not {'an' if what[0] in 'aeiou' else 'a'} {what} file"
    if not stat.S_ISREG(status.st_mode):
        return not_regular(status.st_mode)
    if status.st_size == 0:
        return "file is empty"
    if not os.access(source, os.R_OK):
        return "permission denied"
    return None


def open_regular(path: StrPath) -> BinaryIO:
    """Open a regular file for reading, and only a regular file; raise :class:`OSError` else.

    The path is checked with ``stat`` first, so a FIFO, a device node (``/dev/zero``), a socket
    or a directory is never opened at all (opening a FIFO blocks until a writer comes; opening
    a device can have effects of its own). The open itself is non-blocking and its descriptor
    is checked to be that same regular file, so a FIFO swapped in between cannot hang the
    process either. Errors are :class:`OSError` (``IsADirectoryError`` for a directory) whose
    ``strerror`` names the problem, e.g. "a FIFO, not a regular file".
    """
    name = os.fspath(path)
    before = Path(name).stat()
    if stat.S_ISDIR(before.st_mode):
        raise IsADirectoryError(21, "is a directory", name)
    if not stat.S_ISREG(before.st_mode):
        raise OSError(0, not_regular(before.st_mode), name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(name, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode):
            raise OSError(0, not_regular(after.st_mode), name)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise OSError(0, "file replaced while being opened", name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_whole(path: StrPath) -> bytes:
    """The content of a regular file, opened with :func:`open_regular` (never a FIFO)."""
    with open_regular(path) as stream:
        return stream.read()


class MappedFile(mmap.mmap):
    """A regular file mapped read-only: reads as ``bytes`` do (slices, ``find``,
    ``startswith``, the buffer protocol) while only the pages touched come into memory, so a
    parser that looks at a container's headers costs what it reads, not the file's size."""

    def startswith(self, prefix: bytes) -> bool:
        return self[: len(prefix)] == prefix


@contextlib.contextmanager
def mapped(path: StrPath) -> Iterator[bytes]:
    """The content of a regular file (opened with :func:`open_regular`) as a read-only
    :class:`MappedFile`; ``b""`` for an empty file, which cannot be mapped."""
    with open_regular(path) as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            yield b""
            return
        view = MappedFile(stream.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield view  # type: ignore[misc]
        finally:
            view.close()


def read_small_file(path: StrPath, limit: int) -> bytes:
    """The whole content of a small regular file (a key, a certificate, a settings file).

    Opened with :func:`open_regular`; more than ``limit`` bytes is an :class:`OSError`
    ("larger than N bytes"), so ``/dev/zero`` or a huge file named by mistake costs nothing.
    """
    with open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise OSError(0, f"larger than {limit} bytes", os.fspath(path))
    return data


def open_input(path: StrPath, what: str = "media") -> BinaryIO:
    """:func:`open_regular` for a media input: every problem is a one-line :class:`InputError`
    naming the file ("no such file", "a FIFO, not a regular file", "is a directory...")."""
    try:
        return open_regular(path)
    except OSError as error:
        problem = input_file_problem(path, what) or error.strerror or str(error)
        raise file_error(InputError, path, problem) from None
