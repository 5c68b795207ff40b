"""The toolkit's errors: one small hierarchy, so callers catch what they can handle, and the
exit codes of the command line (:class:`ExitCode`), defined here once.

Every error carries the exit code the command line returns for it and a message that
fits on one line and names the problem, never a secret key.
"""

from __future__ import annotations

import os
from enum import IntEnum


class ExitCode(IntEnum):
    """What ``aigc-mark`` exits with; every layer may name these, only the CLI exits.

    A failure wins over the rest: a batch in which any file failed exits :attr:`FAILED`,
    whatever the others found. A command stopped by a signal exits 128 + its number, as a
    shell reports it.
    """

    #: The work is done: marked, or (``detect``, ``verify``) a mark found in at least one input.
    OK = 0
    #: ``detect``, ``verify``: no mark found in any input.
    NO_MARK = 1
    #: Options that do not fit together, values out of range, an output that is not a regular
    #: file (argparse's own errors exit with this too).
    USAGE = 2
    #: An input or output failed (the other files of a batch are still done and reported).
    FAILED = 3
    #: Stopped by SIGINT (Ctrl-C): 128 + 2.
    INTERRUPTED = 130
    #: The reader of standard output went away (``| head``): 128 + SIGPIPE (13).
    BROKEN_PIPE = 141
    #: Stopped by SIGTERM: 128 + 15.
    TERMINATED = 143

    @classmethod
    def of_signal(cls, number: int) -> int:
        """The exit code of a command stopped by signal ``number``: 128 + ``number``."""
        code = 128 + int(number)
        return cls(code) if code in cls._value2member_map_ else code


class MarkingError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code: int = ExitCode.FAILED


class InputError(MarkingError):
    """An input cannot be used: missing, empty, truncated, corrupt or not media."""


class UnsupportedInputError(InputError):
    """The input is readable but of a kind, mode or format the toolkit does not handle."""


class InputTooSmallError(InputError):
    """The input is too small to carry or reveal a watermark."""


class InputTooLargeError(InputError):
    """The input declares a size beyond the configured limits (a decompression bomb guard)."""


class OutputError(MarkingError):
    """An output cannot be written (directory missing, read-only, disk full, same as input)."""


class UsageError(MarkingError):
    """Options that do not fit together or values out of range."""

    exit_code = ExitCode.USAGE


class UnusableOutputError(OutputError):
    """An output path that names something other than a regular file (a directory, a device
    node, a FIFO, a socket): a usage error, since nothing is written there."""

    exit_code = UsageError.exit_code


class WorkerError(MarkingError):
    """Worker processes cannot do any work at all (they die before the first task)."""


def one_line(text: str) -> str:
    """Collapse a message to one line."""
    return " ".join(str(text).split()) or "unknown error"


def describe_failure(error: BaseException, file: str | None = None) -> str:
    """One line naming the problem with a file, without the file name the caller prints.

    A message that starts with ``file`` (as readers' messages do) loses that prefix.
    """
    problem = getattr(error, "problem", None)
    if problem:
        return one_line(problem)
    if isinstance(error, OSError):
        return one_line(error.strerror or str(error))
    if isinstance(error, MarkingError):
        message = one_line(str(error))
        if file is not None:
            for shown in dict.fromkeys((file, display_path(file))):
                if message.startswith(f"{shown}: "):
                    return message[len(shown) + 2 :] or message
        return message
    return one_line(f"unexpected {type(error).__name__}: {error}")


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text for a one-line message (control characters escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)[1:-1]
