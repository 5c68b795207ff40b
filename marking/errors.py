"""The toolkit's errors: one small hierarchy, so callers catch what they can handle.

Every error carries the exit code the command line returns for it and a message that
fits on one line and names the problem, never a secret key.
"""

from __future__ import annotations


class MarkingError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code = 3


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

    exit_code = 2


class UnusableOutputError(OutputError):
    """An output path that names something other than a regular file (a directory, a device
    node, a FIFO, a socket): a usage error, since nothing is written there."""

    exit_code = UsageError.exit_code


class WorkerError(MarkingError):
    """Worker processes cannot do any work at all (they die before the first task)."""
