"""RIFF WAVE files chunk by chunk: the one walker the sound reader and the WAV tag writer share.

The chunk walk is as lenient as libsndfile's, so that what libsndfile plays can be read:
the RIFF size field is not trusted (streaming writers leave 0 or 0xFFFFFFFF there, others
forget chunks appended later), a chunk cut off by the end of the file keeps the bytes that
are there (a 'data' chunk of 0xFFFFFFFF bytes is a streaming writer's "to the end"), an odd
final chunk may lack its pad byte, and the walk stops quietly where the bytes stop looking
like chunks (zero padding, an ID3 tag, junk after the RIFF). Rewriting (tag) is stricter:
it refuses a file it cannot copy without guessing (``_rewrite_problem`` in
:mod:`marking.tags.containers`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from marking.errors import InputError

#: More chunks than any real WAV has: a file of empty chunks is refused, not walked forever.
MAX_RIFF_CHUNKS = 10_000


@dataclass(frozen=True)
class RiffChunk:
    """A RIFF chunk: its id, where its data starts, the bytes present and the size declared."""

    name: bytes
    offset: int
    size: int
    declared: int

    @property
    def cut(self) -> bool:
        """Whether the chunk runs past the end of the file."""
        return self.size < self.declared


@dataclass(frozen=True)
class RiffLayout:
    """The chunks of a RIFF WAVE file, and where they stop."""

    chunks: list[RiffChunk]
    #: Where the chunks end: the bytes from here to the end of the file are not chunks.
    end: int
    #: Where the RIFF header says the RIFF ends (at most the file size).
    riff_end: int


def chunk_name(name: bytes) -> str:
    """A chunk id for messages: 'LIST' as text, an id that is not text as hex digits."""
    if is_chunk_id(name):
        return f"'{name.decode('ascii')}'"
    return f"with the id {name.hex(' ')} (not text)"


def is_chunk_id(name: bytes) -> bool:
    """Whether four bytes can be a chunk id: printable ASCII, as libsndfile requires."""
    return len(name) == 4 and all(0x20 <= byte < 0x7F for byte in name)


def runs_past_end(chunk: RiffChunk) -> str:
    return (
        f"RIFF chunk {chunk_name(chunk.name)} at byte {chunk.offset - 8} runs past the end of "
        f"the file (it declares {chunk.declared} bytes, {chunk.size} remain)"
    )


def riff_layout(stream: BinaryIO, shown: str) -> RiffLayout:
    """Walk the chunks of a RIFF WAVE file (see the comment above)."""
    stream.seek(0, os.SEEK_END)
    file_size = stream.tell()
    stream.seek(0)
    header = stream.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise InputError(f"{shown}: not a RIFF WAVE file")
    riff_end = min(8 + struct.unpack("<I", header[4:8])[0], file_size)
    chunks: list[RiffChunk] = []
    position = 12
    while position + 8 <= file_size:
        stream.seek(position)
        name, declared = struct.unpack("<4sI", stream.read(8))
        if not is_chunk_id(name):
            break  # zero padding, an ID3 tag, samples after a wrong 'data' size: not chunks
        start = position + 8
        size = min(declared, file_size - start)
        if size < declared and name != b"data" and position >= riff_end:
            break  # after the RIFF, bytes that only look like a chunk (an ID3v1 "TAG...")
        if len(chunks) >= MAX_RIFF_CHUNKS:
            raise InputError(f"{shown}: more than {MAX_RIFF_CHUNKS} RIFF chunks")
        chunks.append(RiffChunk(name, start, size, declared))
        position = start + declared + (declared & 1)
        if size < declared:
            break
    return RiffLayout(chunks, min(position, file_size), riff_end)


def require_wave_chunks(layout: RiffLayout, shown: str) -> None:
    """Refuse a RIFF WAVE file without its 'fmt ' and 'data' chunks, saying why if it can."""
    names = {chunk.name for chunk in layout.chunks}
    missing = [f"'{name.decode()}'" for name in (b"fmt ", b"data") if name not in names]
    if not missing:
        return
    cut = [chunk for chunk in layout.chunks if chunk.cut]
    if cut:
        why = f": {runs_past_end(cut[0])}"
    elif layout.chunks:
        last = layout.chunks[-1]
        why = f": the chunks stop after {chunk_name(last.name)}, at byte {layout.end}"
    else:
        why = ""
    raise InputError(f"{shown}: not a WAV file: no {' or '.join(missing)} chunk{why}")
