"""Entry point of ``aigc-mark``: argument parsing, exit codes and error reporting.

The exit codes are :class:`marking.errors.ExitCode`: 0 a mark was found (``detect``) or
written (``embed``); 1 no mark in any file; 2 usage error; 3 an input or output failed
(wins over 0 and 1); 130 or 143 interrupted by SIGINT (Ctrl-C) or SIGTERM (see
marking.media.interrupts); 141 when the reader of standard output went away.
This module imports nothing heavy: subcommands load NumPy, Numba and Pillow in ``run``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from marking.cli import (
    DEBUG_ENV_VAR,
    PROG,
    RedactingParser,
    bench,
    detect,
    embed,
    label,
    mark,
    print_error,
    secrets_in,
    serve,
    tag,
    test_ca,
    verify,
)
from marking.errors import ExitCode, MarkingError
from marking.media import interrupts


def package_version() -> str:
    """The installed distribution's version, else the source tree's ``__version__``."""
    from importlib import metadata

    try:
        return metadata.version("aigc-marking")
    except metadata.PackageNotFoundError:
        from marking.version import __version__

        return __version__


class _VersionAction(argparse.Action):
    """``--version`` that looks the version up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        print(f"{PROG} {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = RedactingParser(
        prog=PROG,
        description="Label and watermark AI-generated media, and verify the marks.",
        epilog=f"exit status: {ExitCode.OK} mark found / written, {ExitCode.NO_MARK} no mark "
        f"found, {ExitCode.USAGE} usage error, {ExitCode.FAILED} an input or output failed. The "
        "key comes from --key, --key-file or $AIGC_MARK_KEY, else the documented public key.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    embed.add_parser(subparsers)
    detect.add_parser(subparsers)
    label.add_parser(subparsers)
    tag.add_parser(subparsers)
    test_ca.add_parser(subparsers)
    verify.add_parser(subparsers)
    mark.add_parser(subparsers)
    bench.add_parser(subparsers)
    serve.add_parser(subparsers)
    return parser


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV_VAR) == "1"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aigc-mark``; return the exit code (argparse exits itself on usage errors).

    SIGINT and SIGTERM are recorded while the command runs and stop it at its next safe
    point (see :mod:`marking.media.interrupts`): exit 130 or 143, no output published, no
    temporary file left, nothing printed but a batch's summary. Run as the program
    (``argv`` None), the handlers stay until the process exits: a signal that comes once the
    exit code is settled (while Python shuts down) changes nothing, instead of killing the
    process or printing a KeyboardInterrupt traceback.
    """
    with interrupts.handled(keep=argv is None):
        code = _run(argv)
        stopped = interrupts.received()
    return code if stopped is None else ExitCode.of_signal(stopped)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    secrets = secrets_in(args)
    try:
        return args.run(args)
    except interrupts.Interrupted as stop:
        return stop.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
    except Exception as error:
        stopped = interrupts.received()
        if stopped is not None:
            # A failure the stop caused, or met while stopping: no line.
            return ExitCode.of_signal(stopped)
        return _report_failure(error, secrets)


def _report_failure(error: Exception, secrets: Any) -> int:
    """Print ``error`` as one line (after a traceback in debug mode); return its exit code."""
    if _debug():
        traceback.print_exception(error)
    if isinstance(error, MarkingError):
        print_error(str(error), secrets)
        return error.exit_code
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        print_error(f"{where}{error.strerror or error}", secrets)
        return ExitCode.FAILED
    print_error(f"unexpected {type(error).__name__}: {error}", secrets)
    return ExitCode.FAILED


if __name__ == "__main__":
    raise SystemExit(main())
