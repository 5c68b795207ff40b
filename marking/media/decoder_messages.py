"""libmpg123's own complaints about damaged MP3, caught so a bad file gets one error line.

libsndfile decodes MP3 through libmpg123, which prints to file descriptor 2 itself.
:func:`decoder_messages` catches those lines around the libsndfile calls that can reach it
(see its docstring); :func:`decoder_detail` turns the first one into a clause for an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

#: A line libmpg123 prints itself: "Note: ...", "Warning: ...", or its error macros'
#: "[src/libmpg123/parse.c:wetwork():1349] error: ..." (libsndfile itself never prints).
_DECODER_LINE = re.compile(rb"^(?:(?:Note|Warning): |\[[^\]\n]*mpg123[^\]\n]*:\w*\(\):\d+\] \w+: )")
#: Longest decoder message folded into an error line (characters).
_DECODER_DETAIL_LENGTH = 120
#: Where the first clause of a decoder message ends.
_DECODER_CLAUSE_END = re.compile(r",\s|;\s|\s-\s|\s\(|\.\s|\.\.\.")
#: Decoder messages kept per call (a long damaged stream can produce one per resync).
_DECODER_MESSAGES_KEPT = 20
#: Serialises redirections of file descriptor 2 within the process (see decoder_messages).
_STDERR_LOCK = threading.RLock()


def _flush_python_stderr() -> None:
    """Write out what Python buffered for stderr, so it lands on the right side of a dup2."""
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


@contextlib.contextmanager
def decoder_messages(messages: list[str]) -> Iterator[None]:
    """Catch what libmpg123 prints on file descriptor 2 during the block into ``messages``.

    libsndfile decodes MP3 through libmpg123, which reports damaged input itself with
    ``fprintf(stderr, ...)`` ("Note: Illegal Audio-MPEG-Header 0x... at offset 1587.",
    "Note: Trying to resync...", "Warning: Xing stream size off by more than 1%..."). That
    would break the rule that a bad input gets exactly one error line. libmpg123's own switch
    (the ``MPG123_QUIET`` flag) is out of reach: the decoder handle belongs to libsndfile,
    which never sets it and has no command for it, and the soundfile wheel links libmpg123
    statically. So, around the libsndfile calls that can reach the decoder (opening any
    file, since libsndfile tries MPEG on data it does not otherwise recognise, and reading
    an MP3), file descriptor 2 goes to an anonymous temporary file, and is put back when the
    block ends, whatever happens in it.

    Then every libmpg123 line (see ``_DECODER_LINE``) is appended to ``messages``, its prefix
    removed, for the caller to fold into its one-line error if the call failed (and to drop
    if it succeeded: the callers check truncation themselves). Every other byte written to
    the descriptor meanwhile (a Python warning, another thread's output) is copied to the
    real stderr afterwards, so nothing but libmpg123's chatter is ever lost; Python's own
    ``sys.stderr`` buffer is flushed before and after, so its text stays in order.

    File descriptors belong to the whole process: the lock below keeps two threads from
    redirecting at once (they would restore each other's descriptor), and output another
    thread writes during the block is delayed until it ends. The command line decodes in one
    thread per process (batch workers are separate processes), so neither matters there;
    the blocks are short (one libsndfile call). Nested use is fine (the lock is re-entrant).
    If the redirection cannot be set up (no descriptor 2, no temporary directory), the block
    simply runs with stderr as it is.
    """
    with _STDERR_LOCK:
        _flush_python_stderr()
        redirected = _redirect_stderr()
        if redirected is None:
            yield
            return
        capture, saved = redirected
        try:
            yield
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            with capture:
                _sort_decoder_output(capture, messages)


def _redirect_stderr() -> tuple[Any, int] | None:
    """Point file descriptor 2 at a new temporary file: (that file, a copy of the old fd 2)."""
    try:
        capture = tempfile.TemporaryFile()  # noqa: SIM115 - decoder_messages closes it
    except OSError:
        return None
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all
        capture.close()
        return None
    try:
        os.dup2(capture.fileno(), 2)
    except OSError:
        os.close(saved)
        capture.close()
        return None
    return capture, saved


def _sort_decoder_output(capture: Any, messages: list[str]) -> None:
    """Keep libmpg123's lines from ``capture`` in ``messages``; copy the rest to stderr."""
    capture.seek(0)
    for line in capture:
        match = _DECODER_LINE.match(line)
        if match is None:
            _write_stderr(line)
        elif len(messages) < _DECODER_MESSAGES_KEPT:
            text = line[match.end() :].decode("utf-8", "replace").strip().rstrip(".").strip()
            if text:
                messages.append(text)


def _write_stderr(data: bytes) -> None:
    """Write ``data`` to file descriptor 2 in full (best effort: a closed stderr is ignored)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(2, view)
        except OSError:
            return
        view = view[written:]


def decoder_detail(messages: list[str]) -> str | None:
    """The decoder's first message as a short clause for an error line, or None.

    libmpg123 tends to add advice ("Giving up resync after 1024 bytes - your stream is not
    nice... (maybe increasing resync limit could help)"): only the first clause is kept.
    """
    if not messages:
        return None
    text = " ".join(messages[0].split())
    text = _DECODER_CLAUSE_END.split(text, maxsplit=1)[0].rstrip(".")
    if len(text) > _DECODER_DETAIL_LENGTH:
        text = text[: _DECODER_DETAIL_LENGTH - 3].rstrip() + "..."
    return f"MP3 decoder: {text}"
