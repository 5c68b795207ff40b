"""The hidden temporary files the toolkit leaves beside an output while it works: every such
name is made here, and recognised here, so that the batch's clean-up knows exactly what the
writers leave.

Each temporary lies in its output's directory (a rename then publishes it atomically) and is
hidden; ``<random>`` is :func:`tempfile.mkstemp`'s, 8 characters of ``[a-z0-9_]``:

- ``.<name>.<random>.part``: :func:`marking.media.atomic.atomic_write`'s file being written,
  for the output ``<name>``;
- ``.<stem>.aigc-<random><suffix>``: an intermediate of :func:`marking.pipeline.mark.mark_file`
  or of size-matched video marking (:mod:`marking.files.video_size`)
  (``<stem>``: the output's name less its suffix);
- ``.tagged.<random><suffix>``: :func:`marking.tags.tagging.tag_file`'s tagged copy before it
  is signed into place.

An intermediate being written has a ``.part`` of its own
(``..clip.aigc-k3j4h5g6.mp4.<random>.part``). The writers remove their own, even when
stopped; :func:`leftovers` finds those of a process killed outright.

Files no output needs beside it (an encoder's two-pass statistics) go in a
:func:`private_directory` of the system's temporary directory instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from marking.errors import OutputError, display_path

#: Suffix of a file being written by atomic_write.
PART_SUFFIX = ".part"
#: What marks the pipeline's intermediates: ``.<stem>.aigc-<random><suffix>``.
SCRATCH_MARK = ".aigc-"
#: Prefix of tag_file's tagged copy before signing.
TAGGED_PREFIX = ".tagged."

#: A temporary name's random part (tempfile.mkstemp's: 8 of [a-z0-9_]).
_RANDOM = "[a-z0-9_]{8}"
_PART = re.compile(rf"\.(?P<name>.+)\.{_RANDOM}{re.escape(PART_SUFFIX)}")
_SCRATCH = re.compile(rf"\.(?P<stem>.+?){re.escape(SCRATCH_MARK)}{_RANDOM}.*")
_TAGGED = re.compile(rf"{re.escape(TAGGED_PREFIX)}{_RANDOM}.*")


def open_part(target: Path) -> tuple[int, Path]:
    """Create ``.<name>.<random>.part`` beside ``target``: its open descriptor and its path
    (raises :class:`OSError` where no file can be created)."""
    descriptor, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=PART_SUFFIX
    )
    return descriptor, Path(name)


def private_file(directory: Path, prefix: str) -> tuple[int, Path]:
    """A new file only this user can read, in ``directory``, which holds nothing but such
    files (the detection server's upload spool, made with :func:`tempfile.mkdtemp`): its open
    descriptor and its path. Never beside an output, so no batch sweep looks for it."""
    descriptor, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    return descriptor, Path(name)


@contextlib.contextmanager
def private_directory(prefix: str) -> Iterator[Path]:
    """A new directory only this user can read, in the system's temporary directory (for an
    encoder's two-pass statistics, say); removed with all it holds at the end, whatever
    happens (an error, an interrupt). Not beside an output: nothing a batch sweeps."""
    try:
        path = Path(tempfile.mkdtemp(prefix=prefix))
    except OSError as error:
        raise OutputError(
            f"cannot make a temporary directory: {error.strerror or error}"
        ) from error
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def part_pattern(target: Path) -> str:
    """A glob pattern matching the ``.part`` files of ``target`` (in its directory)."""
    import glob

    return f".{glob.escape(target.name)}.*{PART_SUFFIX}"


def part_path_of(stream: BinaryIO, target: Path) -> Path:
    """The path of the ``.part`` file of ``target`` that ``stream`` (from
    :func:`~marking.media.atomic.atomic_write`) writes, found by its inode."""
    status = os.fstat(stream.fileno())
    for candidate in target.parent.glob(part_pattern(target)):
        with contextlib.suppress(OSError):
            found = candidate.stat()
            if (found.st_ino, found.st_dev) == (status.st_ino, status.st_dev):
                return candidate
    raise OutputError(f"{display_path(target)}: cannot find the temporary output file")


def scratch_name(output: Path, suffix: str) -> Path:
    """A free name ``.<stem>.aigc-<random><suffix>`` for an intermediate of ``output``.

    When ``output`` is itself an intermediate (``.<stem>.aigc-<random><suffix>``), the new
    name has the same ``<stem>``: it belongs to the same final output, whose clean-up
    (:func:`leftovers`) then finds it too."""
    scratch = _SCRATCH.fullmatch(output.name)
    stem = output.stem if scratch is None else scratch["stem"]
    return _reserve(output.parent, f".{stem}{SCRATCH_MARK}", suffix)


def tagged_name(directory: Path, suffix: str) -> Path:
    """A free name ``.tagged.<random><suffix>`` in ``directory`` for a tagged copy."""
    return _reserve(directory, TAGGED_PREFIX, suffix)


def _reserve(directory: Path, prefix: str, suffix: str) -> Path:
    """A new name in ``directory``: created (so no other process takes it), then removed,
    since the writers create their file themselves, atomically."""
    descriptor, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(descriptor)
    path = Path(name)
    path.unlink()
    return path


def is_temporary(name: str, outputs: set[str], stems: set[str] | None = None) -> bool:
    """Whether the file ``name`` is a temporary of one of ``outputs`` (names in the same
    directory) or a tagged copy. ``stems``: the outputs' stems, if already at hand."""
    if stems is None:
        stems = {Path(output).stem for output in outputs}
    part = _PART.fullmatch(name)
    if part is not None:
        if part["name"] in outputs:
            return True
        name = part["name"]  # the .part of a scratch or tagged file
    scratch = _SCRATCH.fullmatch(name)
    if scratch is not None and scratch["stem"] in stems:
        return True
    return _TAGGED.fullmatch(name) is not None


def leftovers(directory: Path, outputs: Iterable[str]) -> list[Path]:
    """The temporary files in ``directory`` of the ``outputs`` named (and tagged copies):
    hidden regular files only, the directory listed once; none if it cannot be listed."""
    names = set(outputs)
    stems = {Path(name).stem for name in names}
    try:
        with os.scandir(directory) as entries:
            return [
                Path(entry.path)
                for entry in entries
                if entry.name.startswith(".")
                and is_temporary(entry.name, names, stems)
                and entry.is_file(follow_symlinks=False)
            ]
    except OSError:
        return []
