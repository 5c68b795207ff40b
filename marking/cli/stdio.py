"""``-`` as standard input or standard output, as in audiowmark.

The toolkit's readers and writers work on files (they seek, sniff and publish atomically), so a
``-`` becomes a private temporary file: standard input is spooled into one (size-bounded, its
format sniffed from the content and put in its name), and an output for standard output is
written to one and copied to standard output once it is complete. Generic on purpose: any verb
(single-file or batch) resolves its ``-`` here.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from marking.errors import InputError, InputTooLargeError, UsageError

#: The name that means standard input (as an input) or standard output (as ``-o``).
STDIO = "-"
#: The largest standard input spooled to disk (the largest file the toolkit is asked to read).
MAX_STDIN_BYTES = 8 << 30
#: Enough of the start of a file to tell its format (:func:`marking.media.sniffing.format_of_head`).
_HEAD_BYTES = 64
_CHUNK = 1 << 20


@contextlib.contextmanager
def private_directory() -> Iterator[str]:
    """A new directory only this user can enter (mode 0700), removed with what it holds."""
    with tempfile.TemporaryDirectory(prefix="aigc-mark-") as directory:
        yield directory


def _read_head(stream: BinaryIO) -> bytes:
    """The first bytes of ``stream`` (fewer only at its end)."""
    head = b""
    while len(head) < _HEAD_BYTES:
        chunk = stream.read(_HEAD_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _sniffed_suffix(head: bytes) -> str | None:
    """The usual suffix of the format ``head`` starts, or None for content no format claims."""
    from marking.media.sniffing import format_of_head

    found = format_of_head(head)
    return found.suffixes[0] if found is not None else None


def _check_not_terminal(stream: BinaryIO) -> None:
    if getattr(stream, "isatty", lambda: False)():
        raise UsageError("-: standard input is a terminal; pipe a file in, or name one")


def spool(
    stream: BinaryIO, directory: str, *, head: bytes = b"", limit: int = MAX_STDIN_BYTES
) -> str:
    """Copy ``stream`` (after the already read ``head``) into ``directory``; return its path.

    The copy is named ``stdin`` plus the suffix of the format its content shows, so the
    suffix rules and the readers see what the bytes are. Raises :class:`InputError` for an
    empty stream and :class:`InputTooLargeError` past ``limit`` bytes (the copy is removed).
    """
    head = head + _read_head(stream) if len(head) < _HEAD_BYTES else head
    if not head:
        raise InputError("-: standard input is empty")
    path = Path(directory, "stdin" + (_sniffed_suffix(head) or ""))
    size = len(head)
    with path.open("xb") as copy:
        copy.write(head)
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                copy.close()
                path.unlink()
                raise InputTooLargeError(
                    f"-: standard input is larger than {limit / (1 << 30):g} GiB; name a file"
                )
            copy.write(chunk)
    return str(path)


@contextlib.contextmanager
def input_path(
    name: str, stream: BinaryIO | None = None, *, limit: int = MAX_STDIN_BYTES
) -> Iterator[str]:
    """``name``, or for ``-`` the path of a private copy of standard input (removed after)."""
    if name != STDIO:
        yield name
        return
    source = stream if stream is not None else sys.stdin.buffer
    _check_not_terminal(source)
    with private_directory() as directory:
        yield spool(source, directory, limit=limit)


def output_suffix(source: str) -> str:
    """The suffix an output written in ``source``'s format takes: ``source``'s own when it
    promises the format its content shows, else that format's usual one ("" if unknown)."""
    from marking.media.sniffing import format_of_head, suffix_format

    try:
        with Path(source).open("rb") as stream:
            found = format_of_head(_read_head(stream))
    except OSError:
        found = None
    if found is None:
        return ""
    if suffix_format(source) == found:
        return Path(source).suffix
    return found.suffixes[0]


@contextlib.contextmanager
def output_path(name: str, source: str, stdout: BinaryIO | None = None) -> Iterator[str]:
    """``name``, or for ``-`` a private temporary path in ``source``'s format whose content
    is copied to standard output once the block ends without error (nothing is copied
    otherwise: a failed command writes no half file to the pipe)."""
    if name != STDIO:
        yield name
        return
    target = stdout if stdout is not None else sys.stdout.buffer
    with private_directory() as directory:
        path = Path(directory, "stdout" + output_suffix(source))
        yield str(path)
        with path.open("rb") as written:
            shutil.copyfileobj(written, target, _CHUNK)
        target.flush()


class _Prepended(io.RawIOBase):
    """A byte stream that gives ``head`` first, then what ``rest`` holds."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def stdin_inputs(
    inputs: Sequence[str], stream: BinaryIO | None = None, *, limit: int = MAX_STDIN_BYTES
) -> Iterator[tuple[list[str], TextIO | None]]:
    """A batch's inputs with ``-`` resolved by what standard input holds.

    Media (content a format claims: a picture, a recording, a video) is spooled to a private
    file whose path takes the place of ``-``; anything else is a list of paths, one a line,
    given back as the text stream to read it from (the bytes read to tell are put back).
    Yields ``(inputs, paths)``; ``paths`` is None when no ``-`` is given or stdin held media.
    """
    if STDIO not in inputs:
        yield list(inputs), None
        return
    source = stream if stream is not None else sys.stdin.buffer
    if getattr(source, "isatty", lambda: False)():  # paths typed in, one a line
        yield list(inputs), None
        return
    head = _read_head(source)
    if _sniffed_suffix(head) is None:
        raw = io.BufferedReader(_Prepended(head, source))
        yield list(inputs), io.TextIOWrapper(raw, errors="surrogateescape")
        return
    with private_directory() as directory:
        path = spool(source, directory, head=head, limit=limit)
        yield [path if name == STDIO else name for name in inputs], None
