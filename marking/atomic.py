"""Atomic file output: a result is either complete at its final path or absent.

Outputs are written to a temporary file in the target's directory, flushed to disk and then
renamed over the target in one step, so an interrupted run (an error, a full disk, Ctrl-C)
never leaves a half-written image behind or destroys an existing file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from marking.errors import MarkingError, OutputError
from marking.interrupts import check as check_interrupted

StrPath = str | os.PathLike[str]


def display_path(path: StrPath) -> str:
    """A path as text for a one-line message (control characters escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)[1:-1]


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

    Raises :class:`OutputError` when the target is one of ``forbid`` (the inputs), is a
    directory, or its directory is missing or not writable.
    """
    target = Path(path)
    shown = display_path(target)
    for other in forbid:
        if _same_file(target, Path(other)):
            raise OutputError(f"{shown}: refusing to overwrite the input file")
    if target.is_dir():
        raise OutputError(f"{shown}: is a directory")
    directory = target.parent
    if not directory.exists():
        raise OutputError(f"{shown}: directory {display_path(directory)} does not exist")
    if not directory.is_dir():
        raise OutputError(f"{shown}: {display_path(directory)} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: directory {display_path(directory)} is not writable")
    return target


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
    path: StrPath, *, forbid: Iterable[StrPath] = (), readable: bool = False
) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    Yields a binary file object (also readable and seekable back with ``readable``, for
    writers that revisit what they wrote, such as a C2PA signer patching its hashes). If the
    block raises anything (including ``KeyboardInterrupt``), the temporary file is removed
    and ``path`` is left untouched. A stop signal received before the rename (see
    :mod:`marking.interrupts`) raises :class:`~marking.interrupts.Interrupted` instead of
    publishing the file.
    The new file gets the usual permissions (those of the file it replaces, or
    ``0o666 & ~umask``), not the private ``0o600`` of a fresh temporary file.
    """
    target = check_output_path(path, forbid)
    shown = display_path(target)
    check_interrupted()
    try:
        fd, temp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as error:
        raise OutputError(f"{shown}: cannot create a file here: {error.strerror}") from error
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "w+b" if readable else "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_current_umask()
        temp_path.chmod(mode)
        check_interrupted()  # the last moment an interrupt can keep the output unpublished
        temp_path.replace(target)  # os.replace: atomic on POSIX
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise OutputError(f"{shown}: cannot write: {reason}") from error
        raise
    _fsync_directory(target.parent)


def input_file_problem(path: StrPath, what: str = "media") -> str | None:
    """Why ``path`` cannot be read as an input file (one line), or ``None`` when it can.

    Missing, unreadable, a directory or another non-regular file, or empty: the checks every
    reader makes before opening a file with its codec, so the messages read the same. Also a
    safe point for interrupts (see :mod:`marking.interrupts`): a command interrupted while it
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
        return "not a regular file"
    if status.st_size == 0:
        return "file is empty"
    if not os.access(source, os.R_OK):
        return "permission denied"
    return None
