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
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from marking.errors import ExitCode, UsageError, one_line

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


#: Old option spellings, per verb, accepted for one release (0.2) with a warning: one name per
#: idea across verbs. ``--label-level`` is the GB 45438 level, ``--label-preset`` the visible
#: label's standard wording, ``--x264-preset`` the encoder's speed preset.
DEPRECATED_OPTIONS: dict[str, dict[str, str]] = {
    "tag": {"--label": "--label-level"},
    "label": {"--preset": "--label-preset", "--preset-x264": "--x264-preset"},
    "embed": {"--preset": "--x264-preset"},
}


def warn(message: str) -> None:
    """``aigc-mark: warning: <message>`` on stderr, one line."""
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr)


def renamed_options(verb: str, argv: Sequence[str]) -> list[str]:
    """``argv`` with the verb's deprecated spellings (:data:`DEPRECATED_OPTIONS`) replaced
    by the current ones, each warned about once; arguments after ``--`` are left alone."""
    table = DEPRECATED_OPTIONS.get(verb, {})
    result: list[str] = []
    warned: set[str] = set()
    for index, token in enumerate(argv):
        if token == "--":
            return result + list(argv[index:])
        option, equals, value = token.partition("=")
        if option in table:
            if option not in warned:
                warned.add(option)
                warn(f"{option} is deprecated; use {table[option]}")
            token = table[option] + equals + value
        result.append(token)
    return result


def applies_to(kinds: Sequence[str], *actions: argparse.Action) -> None:
    """Declare that ``actions`` (options) apply only to inputs of these media ``kinds``
    (``image``, ``audio``, ``video``); :func:`refuse_inapplicable` checks what was given."""
    for action in actions:
        action.kinds = tuple(kinds)  # type: ignore[attr-defined]


def refuse_inapplicable(args: argparse.Namespace, kind: str) -> None:
    """A usage error naming every option given on the command line that does not apply to
    an input of ``kind`` (see :func:`applies_to`): an option is never silently ignored."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for option, kinds in getattr(args, "option_kinds", {}).items():
        if kind not in kinds:
            groups.setdefault(kinds, []).append(option)
    if groups:
        raise UsageError(
            "; ".join(
                f"{', '.join(options)}: for {' and '.join(kinds)} input only, not {kind}"
                for kinds, options in groups.items()
            )
        )


class RedactingParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors never show a key, that takes the deprecated
    spellings of options with a warning, and that records the options given explicitly
    which apply to some kinds of media only (``args.option_kinds``, see :func:`applies_to`).

    argparse prints "unrecognized arguments: --key SECRET" (a verb without ``--key``, or a
    misspelt ``--kye``), "ambiguous option: --ke=SECRET ..." and the like before the command
    runs; each parser (the subcommands' too) redacts the values of key-like options of the
    arguments it was given.
    """

    _secrets: Sequence[str] = ()
    _given: list[argparse.Action]

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        given = list(sys.argv[1:] if args is None else args)
        self._secrets = argument_secrets(given)
        given = renamed_options(self.prog.rsplit(" ", 1)[-1], given)
        self._given = []
        parsed, extras = super().parse_known_args(given, namespace)
        kinds = {
            max(action.option_strings, key=len): action.kinds
            for action in self._given
            if action.option_strings and hasattr(action, "kinds")
        }
        parsed.option_kinds = {**getattr(parsed, "option_kinds", {}), **kinds}
        return parsed, extras

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # argparse calls this for every argument given on the command line (never for a
        # default): the one place that knows what was given explicitly.
        self._given.append(action)
        return super()._get_values(action, arg_strings)

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


def whole_number(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def warn_if_exposed(key_file: str) -> None:
    """Warn (without failing) when other users may read a file of secret keys."""
    from marking.files.key_file import exposed_key_file

    exposed = exposed_key_file(key_file)
    if exposed is not None:
        print(f"{PROG}: warning: {exposed}", file=sys.stderr)


def resolve_key(args: argparse.Namespace) -> Key:
    """The key the options (or ``$AIGC_MARK_KEY``) ask for; problems become UsageError."""
    from marking.files.key_file import load_key

    if args.key_file is not None:
        warn_if_exposed(args.key_file)
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
    """``"image"``, ``"audio"`` or ``"video"``: which watermark a file takes, by its content
    (see :func:`marking.pipeline.jobs.watermark_kind`)."""
    from marking.pipeline.jobs import watermark_kind as kind_of

    return kind_of(path)


def progress_bar(
    total: float | None,
    *,
    label: str = "",
    unit: str = "frame",
    delay: float = 1.0,
    stream: Any = None,
    **options: Any,
) -> Any:
    """The one progress bar of the command line: a tqdm bar on ``stream`` (stderr), or
    ``None`` when that is not a terminal (pipes, logs and tests get no bar).

    tqdm shows the rate and the time left from a smoothed rate over recent updates, not the
    rate since the start (which a slow start, or an encoder's lookahead, throws off);
    ``delay`` seconds pass before the bar first shows (short work prints nothing).
    """
    stream = stream if stream is not None else sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=label or None,
        unit=unit,
        file=stream,
        delay=delay,
        dynamic_ncols=True,
        leave=False,
        **options,
    )


#: A single file's bar: known length, and unknown (a count of frames and the rate).
_BAR_FORMAT = "[{bar:30}] {percentage:3.0f}% {remaining} left, {rate_fmt}  {desc}"
_COUNT_FORMAT = "{n_fmt} {unit}s, {elapsed}, {rate_fmt}  {desc}"


class ProgressBar:
    """``progress(done, total)`` (a video's frames, as :data:`marking.files.video.Progress`
    calls it, or a recording's samples with ``unit="sample"``) drawn by :func:`progress_bar`:
    on stderr, only on a terminal; :meth:`close` clears it."""

    def __init__(
        self, label: str, *, delay: float = 1.0, stream: Any = None, unit: str = "frame"
    ) -> None:
        from marking.media.atomic import display_path

        self.label = display_path(label)
        self.unit = unit
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = progress_bar(
                total,
                label=self.label,
                unit=self.unit,
                unit_scale=self.unit != "frame",
                delay=self.delay,
                stream=self.stream,
                ascii="-#",
                bar_format=_BAR_FORMAT if total else _COUNT_FORMAT,
            )
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)
        if total is not None and done >= total:
            self.bar.refresh()  # the last step is shown even within tqdm's minimum interval

    def close(self) -> None:
        """Clear the bar's line (nothing happens if it was never drawn)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
