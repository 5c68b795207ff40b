"""The inputs of a batch: files, directories, glob patterns and ``-``, made into jobs.

Inputs are files, directories (walked recursively, hidden entries skipped), glob patterns, or
``-`` for paths on standard input. Outputs mirror each directory's tree under the output
directory (a file given directly goes to its top); an output that would fall outside it, or
that two inputs would share, is a problem of that job, reported when it runs.
"""

from __future__ import annotations

import glob
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from marking.errors import UsageError
from marking.media.atomic import not_regular

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
                if "\0" in path:  # a file piped in, or find -print0: no path holds a NUL
                    raise UsageError(
                        "-: standard input holds a NUL byte, not paths one a line (name a "
                        "file to mark rather than piping it in; find -print, not -print0)"
                    )
                if path.strip():
                    yield path
        else:
            yield spec


def collect(inputs: Sequence[str], stdin: TextIO | None = None) -> list[tuple[Path, Path | None]]:
    """``(file, root)`` for every input file, in order, each once.

    ``root`` is the directory a file was found under (its output mirrors the path below
    ``root``), or None for a file named directly. A name that matches nothing is kept (with
    root None) so that the batch reports it (:func:`unmatched_pattern`).
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


def unmatched_pattern(file: Path, root: Path | None) -> str | None:
    """ "no file matches PATTERN" when ``file`` is a glob pattern that matched nothing (rather
    than a name that does not exist: the batch says which), else None."""
    if root is not None or not _GLOB_CHARACTERS & set(str(file)):
        return None
    if file.exists() or file.is_symlink():
        return None
    from marking.media.atomic import display_path

    return f"no file matches {display_path(file)}"


def refuse_unmatched(jobs: Sequence[Job]) -> None:
    """A UsageError, one line, when the inputs were only glob patterns that matched nothing:
    not one failed file per pattern, nor "no such file"."""
    if jobs and all(job.problem and job.problem.startswith("no file matches ") for job in jobs):
        raise UsageError("; ".join(str(job.problem) for job in jobs))


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
        unmatched = unmatched_pattern(file, root)
        if unmatched is not None:
            jobs.append(Job(str(file), None, size, unmatched))
            continue
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


def verify_jobs(inputs: Sequence[str], stdin: TextIO | None = None) -> list[Job]:
    """The jobs of a ``verify`` batch: every input file, none with an output."""
    return [
        Job(
            str(file),
            None,
            _size(file),
            unmatched_pattern(file, root),
            found=root is not None,
            skip=_not_regular(file, root),
        )
        for file, root in collect(inputs, stdin)
    ]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
