"""The ``aigc-mark`` command line: one module per subcommand, plus shared helpers.

Kept light on purpose: nothing here imports NumPy, Numba or Pillow, so ``--help`` and
``--version`` answer at once. Subcommands import the heavy modules inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from marking.errors import ExitCode, UsageError, describe_failure, one_line

if TYPE_CHECKING:
    from marking.scheme.keys import Key

PROG = "aigc-mark"
KEY_ENV_VAR = "AIGC_MARK_KEY"  # mirrors marking.files.key_file.KEY_ENV_VAR without importing NumPy
DEBUG_ENV_VAR = "AIGC_MARK_DEBUG"


def _names_a_key(option: str) -> bool:
    """Whether an option, as typed, may be meant to take a key: ``--key``, ``--key-file``,
    abbreviations (``--ke``), misspellings (``--kye``, ``--keyfile``) and ``--c2pa-key``."""
    import difflib

    name = option.lstrip("-").lower()
    if not name or name[0].isdigit():  # "-5": a negative number, not an option
        return False
    return (
        "key" in name
        or "secret" in name
        or "key-file".startswith(name)
        or bool(difflib.get_close_matches(name, ("key", "key-file"), n=1, cutoff=0.6))
    )


def argument_secrets(argv: Sequence[str]) -> list[str]:
    """The values given to key-like options in ``argv`` (``--key S``, ``--kye=S``...), and the
    key in the environment: what argparse's own error messages must not repeat."""
    found = [os.environ.get(KEY_ENV_VAR) or ""]
    for index, token in enumerate(argv):
        if token == "--":
            break
        if not token.startswith("-") or token == "-":
            continue
        option, equals, value = token.partition("=")
        if _names_a_key(option):
            found.append(value if equals else (argv[index + 1] if index + 1 < len(argv) else ""))
    return [value for value in found if value]


def redact_words(text: str, secrets: Sequence[str]) -> str:
    """Replace each secret that stands as a word of its own in ``text`` (between spaces,
    quotes, ``=`` or commas), whatever its length: argparse quotes arguments whole."""
    import re

    for secret in sorted(set(secrets), key=len, reverse=True):
        text = re.sub(rf"(?<![^\s'\"=,]){re.escape(secret)}(?![^\s'\",])", "<key>", text)
    return redact(text, secrets)


class RedactingParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors never show a key.

    argparse prints "unrecognized arguments: --key SECRET" (a verb without ``--key``, or a
    misspelt ``--kye``), "ambiguous option: --ke=SECRET ..." and the like before the command
    runs; each parser (the subcommands' too) redacts the values of key-like options of the
    arguments it was given.
    """

    _secrets: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        given = list(sys.argv[1:] if args is None else args)
        self._secrets = argument_secrets(given)
        return super().parse_known_args(given, namespace)

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {redact_words(message, self._secrets)}\n")


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """``--key`` / ``--key-file``, mutually exclusive; the environment is the fallback."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--key",
        metavar="KEY",
        help=f"secret key (visible to other users in the process list: prefer --key-file "
        f"or ${KEY_ENV_VAR}); default: ${KEY_ENV_VAR}, else the public key",
    )
    group.add_argument(
        "--key-file", metavar="FILE", help="read the secret key from the first line of FILE"
    )
    parser.add_argument(
        "--json", action="store_true", help="print results as JSON (one object per line)"
    )


def add_signing_options(parser: argparse.ArgumentParser) -> None:
    """``--c2pa-cert``, ``--c2pa-key`` and ``--c2pa-thumbnail``, shared by tag and mark."""
    parser.add_argument("--c2pa-cert", metavar="PEM", help="C2PA signing certificate chain")
    parser.add_argument("--c2pa-key", metavar="PEM", help="C2PA signing key (PKCS#8)")
    parser.add_argument(
        "--c2pa-thumbnail",
        action="store_true",
        help="add a 256-pixel JPEG claim thumbnail to pictures' manifests (about 12 KB)",
    )


def require_signing_pair(args: argparse.Namespace) -> None:
    """The certificate chain and the key come together or not at all."""
    if bool(args.c2pa_cert) != bool(args.c2pa_key):
        raise UsageError("give both --c2pa-cert and --c2pa-key, or neither")


def add_output_options(parser: argparse.ArgumentParser, what: str | None = None) -> None:
    """``-o/--output`` (a file, or ``-`` for standard output) and ``--force``."""
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        required=True,
        help=f"{what or 'the copy'}; its suffix must fit the format written; '-' writes "
        "standard output (INPUT's format; then --json is refused). INPUT '-' reads standard input",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite OUTPUT if it exists (default: refuse)"
    )


def refuse_existing(outputs: Sequence[str], force: bool, inputs: Sequence[str] = ()) -> None:
    """Refuse (a usage error, before any work) to replace an existing output without --force.

    Only existing files count (a symlink by what it points to): a directory or a device is
    refused later as an output that is no file, and an output that is an input as such
    (--force never overwrites an input).
    """
    if force:
        return
    from pathlib import Path

    for output in outputs:
        if not Path(output).is_file():
            continue
        if any(_same_file(output, source) for source in inputs):
            continue
        from marking.media.atomic import display_path

        raise UsageError(f"{display_path(output)}: exists; add --force to overwrite it")


def _same_file(one: str, other: str) -> bool:
    from pathlib import Path

    try:
        return Path(one).samefile(other)
    except OSError:
        return False


class _Renaming:
    """A text stream that shows the private stand-ins of ``-`` as ``-`` (lines, JSON, notes)."""

    def __init__(self, stream: Any, names: dict[str, str]) -> None:
        self._stream = stream
        self._names = names

    def write(self, text: str) -> int:
        for private, shown in self._names.items():
            text = text.replace(private, shown)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def shown_as(names: dict[str, str], *, stdout: Any = None) -> Iterator[None]:
    """Within the block, stdout (or ``stdout`` instead) and stderr show each private path in
    ``names`` by its given name, and so do the messages of errors raised from it."""
    target = sys.stdout if stdout is None else stdout
    with (
        contextlib.redirect_stdout(_Renaming(target, names)),
        contextlib.redirect_stderr(_Renaming(sys.stderr, names)),
    ):
        try:
            yield
        except Exception as error:
            error.args = tuple(
                _rename(argument, names) if isinstance(argument, str) else argument
                for argument in error.args
            )
            if isinstance(error, OSError) and isinstance(error.filename, str):
                error.filename = _rename(error.filename, names)
            raise


def _rename(text: str, names: dict[str, str]) -> str:
    for private, shown in names.items():
        text = text.replace(private, shown)
    return text


def single_file(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A single-file verb's ``run`` (``args.input`` to ``args.output``) made output-safe.

    An existing output is refused unless ``--force``; ``-`` as INPUT reads standard input (a
    private spooled copy) and ``-o -`` writes standard output (a private temporary copied out
    when complete), where nothing else is then printed: the summary line goes to stderr, and
    ``--json`` is refused.
    """
    import functools

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        from marking.cli import stdio

        to_stdout = args.output == stdio.STDIO
        if to_stdout and getattr(args, "json", False):
            raise UsageError("--json: with -o - standard output carries the file; drop one")
        refuse_existing([] if to_stdout else [args.output], args.force, [args.input])
        stdout = sys.stdout
        with (
            stdio.input_path(args.input) as source,
            stdio.output_path(args.output, source) as target,
        ):
            given = {source: args.input, target: args.output}
            names = {path: stdio.STDIO for path, name in given.items() if path != name}
            args.input, args.output = source, target
            with shown_as(names, stdout=sys.stderr if to_stdout else stdout):
                return run(args)

    return guarded


def stdin_batch(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A batch verb's ``run`` whose ``-`` among ``args.inputs`` reads standard input.

    Media on standard input (``cat x.jpg | aigc-mark verify -``) is checked as one file (a
    private spooled copy, shown as ``-``); anything else is the batch's list of paths, one a
    line, read from ``sys.stdin`` as before.
    """
    import functools

    @functools.wraps(run)
    def resolved(args: argparse.Namespace) -> int:
        from marking.cli import stdio

        with stdio.stdin_inputs(args.inputs) as (inputs, paths):
            names = {path: stdio.STDIO for path in inputs if path not in args.inputs}
            args.inputs = inputs
            with shown_as(names), contextlib.ExitStack() as stack:
                if paths is not None:
                    stack.enter_context(_stdin_replaced(paths))
                return run(args)

    return resolved


@contextlib.contextmanager
def _stdin_replaced(stream: Any) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = stream
    try:
        yield
    finally:
        sys.stdin = saved


def stdin_paths(inputs: Sequence[str]) -> Iterator[str]:
    """``inputs`` with ``-`` replaced by the paths standard input lists, one a line."""
    for name in inputs:
        if name != "-":
            yield name
            continue
        for line in sys.stdin:
            path = line.rstrip("\r\n")
            if path.strip():
                yield path


def whole_number(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def resolve_key(args: argparse.Namespace) -> Key:
    """The key the options (or ``$AIGC_MARK_KEY``) ask for; problems become UsageError."""
    from marking.files.key_file import exposed_key_file, load_key

    if args.key_file is not None:
        exposed = exposed_key_file(args.key_file)
        if exposed is not None:
            print(f"{PROG}: warning: {exposed}", file=sys.stderr)
    try:
        return load_key(args.key, args.key_file)
    except FileNotFoundError:
        # The name given may be the key itself (--key-file where --key was meant): not shown.
        raise UsageError(
            "--key-file: no such file (the name given is not shown, in case it is a key)"
        ) from None
    except OSError as error:
        from marking.media.atomic import display_path

        reason = error.strerror or str(error)  # the file exists: its name is a path, not a key
        raise UsageError(f"--key-file {display_path(args.key_file)}: {reason}") from None
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def secrets_in(args: argparse.Namespace) -> list[str]:
    """Key values that must never be echoed: from ``--key`` and the environment."""
    values = [getattr(args, "key", None), os.environ.get(KEY_ENV_VAR)]
    return [value for value in values if value]


#: Shorter key values are not redacted: "k" would turn "seeking" into "see<key>ing", and a key
#: that short protects nothing anyway.
REDACT_MIN_LENGTH = 6


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace any secret in ``text`` (defence in depth: keys are never formatted)."""
    for secret in secrets:
        if len(secret) >= REDACT_MIN_LENGTH:
            text = text.replace(secret, "<key>")
    return text


def print_notes(record: dict[str, Any], shown: str) -> None:
    """Print a file's notes (``record["notes"]``, and those of the steps in ``details``) to
    stderr, one line each: what changed on the way is never silent (a stream not copied)."""
    notes = list(record.get("notes") or [])
    for step in (record.get("details") or {}).values():
        if isinstance(step, dict):
            notes.extend(step.get("notes") or [])
    for note in dict.fromkeys(notes):
        print(f"{PROG}: note: {one_line(shown)}: {one_line(note)}", file=sys.stderr)


def print_error(message: str, secrets: Sequence[str] = ()) -> None:
    """``aigc-mark: error: <message>`` on stderr, one line (control characters escaped)."""
    from marking.media.atomic import display_path

    print(f"{PROG}: error: {display_path(redact(one_line(message), secrets))}", file=sys.stderr)


def json_safe(value: Any) -> Any:
    """Recursively replace non-finite floats (not valid JSON) with ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False)


def watermark_kind(path: str) -> str:
    """``"image"``, ``"audio"`` or ``"video"``: which watermark a file takes, by its content.

    A file that cannot be opened at all, or whose content is not recognised but whose name is
    an image's (or has no suffix), goes to the image reader, which reports what is wrong as it
    always has.
    """
    from pathlib import Path

    from marking.errors import MarkingError, UnsupportedInputError
    from marking.media.atomic import input_file_problem
    from marking.media.sniffing import IMAGE, IMAGE_SUFFIX_FORMATS, media_kind

    try:
        return media_kind(path)
    except UnsupportedInputError:
        suffix = Path(path).suffix.lower()
        if not suffix or suffix in IMAGE_SUFFIX_FORMATS:
            return IMAGE
        raise
    except MarkingError:
        if input_file_problem(path) is not None:  # missing, empty, unreadable
            return IMAGE
        raise


class ProgressBar:
    """``progress(done, total)`` drawn as a one-line bar on stderr, for long video files.

    Drawn only when stderr is a terminal, and only once the work has taken ``delay`` seconds
    (short files print nothing); redrawn at most every 0.2 s; :meth:`close` ends the line.
    """

    def __init__(self, label: str, *, delay: float = 1.0, stream: Any = None) -> None:
        import time

        from marking.media.atomic import display_path

        self.label = display_path(label)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay
        self._clock = time.monotonic
        self._started = self._clock()
        self._drawn_at = 0.0
        self._shown = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if now - self._started < self.delay or (now - self._drawn_at < 0.2 and done != total):
            return
        self._drawn_at = now
        elapsed = now - self._started
        if total:
            fraction = min(1.0, done / total)
            filled = round(30 * fraction)
            bar = "#" * filled + "-" * (30 - filled)
            rest = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
            text = f"[{bar}] {100 * fraction:3.0f}% {rest:4.0f} s left  {self.label}"
        else:
            text = f"{done} frames, {elapsed:.0f} s  {self.label}"
        self.stream.write("\r" + text[:79].ljust(79))
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """Clear the bar's line (nothing happens if it was never drawn)."""
        if self._shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()
            self._shown = False


def run_batch(
    args: argparse.Namespace, check: Callable[[str], tuple[bool, dict[str, Any], str]]
) -> int:
    """Run ``check(file) -> (found, record, line)`` on every input and pick the exit code.

    A file that fails is reported (one line on stderr, and a JSON error record with
    ``--json``) and the batch goes on. Exit 3 if any file failed, else 0 if any file was
    found marked, else 1 (:class:`~marking.errors.ExitCode`).
    """
    from marking.media.atomic import display_path

    any_found = any_failed = False
    for file in stdin_paths(args.inputs):
        shown = display_path(file)  # a name with a newline must not forge a result line
        try:
            found, record, line = check(file)
        except Exception as error:  # one bad file must not stop the batch
            if os.environ.get(DEBUG_ENV_VAR) == "1":
                traceback.print_exc()
            any_failed = True
            problem = redact(describe_failure(error, file), secrets_in(args))
            print(f"{shown}: error: {display_path(problem)}", file=sys.stderr, flush=True)
            if args.json:
                print(json_line({"file": file, "error": problem}), flush=True)
            continue
        any_found = any_found or found
        print(json_line(record) if args.json else f"{shown}: {display_path(line)}", flush=True)
    if any_failed:
        return ExitCode.FAILED
    return ExitCode.OK if any_found else ExitCode.NO_MARK
