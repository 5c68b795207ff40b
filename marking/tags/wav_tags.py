"""The GB 45438 label of a WAV file: a RIFF chunk ``AIGC`` holding the label's JSON.

Written by copying the file chunk by chunk with the label chunk replaced (or appended), and
read back by the same chunk walk (:mod:`marking.media.riff`); the samples are never decoded.
Used by :mod:`marking.tags.containers`, which holds the label of every other audio and video
format.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

from marking.errors import InputError, OutputError, UnsupportedInputError
from marking.media.atomic import display_path, open_regular
from marking.media.audio import probe_audio
from marking.media.riff import (
    RiffChunk,
    RiffLayout,
    chunk_name,
    require_wave_chunks,
    riff_layout,
    runs_past_end,
)
from marking.tags.aigc_label import WRAPPER_KEY as KEY
from marking.tags.aigc_label import AigcLabel

_MAX_RIFF = 0xFFFFFFFF
#: A 'data' size that streaming writers leave for "up to the end of the file".
_UNKNOWN_SIZE = 0xFFFFFFFF
#: Bytes copied at a time.
COPY_BLOCK = 1 << 20


# --- WAV: RIFF chunks --------------------------------------------------------------------
#
# The chunk walk is as lenient as libsndfile's, so that what libsndfile plays can be read:
# the RIFF size field is not trusted (streaming writers leave 0 or 0xFFFFFFFF there, others
# forget chunks appended later), a chunk cut off by the end of the file keeps the bytes that
# are there (a 'data' chunk of 0xFFFFFFFF bytes is a streaming writer's "to the end"), an odd
# final chunk may lack its pad byte, and the walk stops quietly where the bytes stop looking
# like chunks (zero padding, an ID3 tag, junk after the RIFF). Rewriting (tag) is stricter:
# it refuses a file it cannot copy without guessing (see _rewrite_problem).
# The walk itself is marking.media.riff's.


def _all_zero(stream: BinaryIO, start: int, stop: int) -> bool:
    """Whether the bytes from ``start`` to ``stop`` are all zero (read until one is not)."""
    stream.seek(start)
    while start < stop:
        block = stream.read(min(stop - start, COPY_BLOCK))
        if not block or block.count(0) != len(block):
            return False
        start += len(block)
    return True


def _rewrite_problem(stream: BinaryIO, layout: RiffLayout) -> str | None:
    """Why the file cannot be copied chunk by chunk without guessing, or None.

    Allowed: any RIFF size (it is written anew), a 'data' chunk of 0xFFFFFFFF bytes running
    to the end of the file (it gets its real size), an AIGC chunk cut off at the end (it is
    replaced), an odd final chunk without its pad byte (it gets one), and bytes after the
    chunks that the RIFF size does not count, or that are zero (they are kept after the RIFF,
    as they were). Refused: any other chunk cut off by the end of the file (the file is
    truncated), and bytes that the RIFF size counts but that are not chunks (a chunk size is
    wrong, typically a 'data' size of 0 left by a writer that never finished, with the
    samples after it: libsndfile then plays nothing while other players play them).
    """
    for chunk in layout.chunks:
        if not chunk.cut or chunk.name.upper() == KEY.encode():
            continue
        if chunk.name == b"data" and chunk.declared == _UNKNOWN_SIZE:
            continue
        return f"{runs_past_end(chunk)}; the file is truncated"
    if layout.end < layout.riff_end and not _all_zero(stream, layout.end, layout.riff_end):
        counted = layout.riff_end - layout.end
        last = layout.chunks[-1]  # there are chunks: 'fmt ' and 'data' at least
        return (
            f"the {counted} bytes after chunk {chunk_name(last.name)} (from byte {layout.end}) "
            f"are not RIFF chunks, though the RIFF size counts them (is the size of "
            f"{chunk_name(last.name)}, {last.declared}, wrong?)"
        )
    return None


def _copy_range(source: BinaryIO, target: BinaryIO, offset: int, size: int) -> None:
    source.seek(offset)
    while size > 0:
        block = source.read(min(size, COPY_BLOCK))
        if not block:
            raise InputError("the input changed while it was being copied")
        target.write(block)
        size -= len(block)


def write_wav_label(source: Path, target: BinaryIO, text: str) -> None:
    """Write ``source`` to ``target`` with one AIGC chunk (replacing any, else appended)."""
    shown = display_path(source)
    payload = text.encode("utf-8")
    with open_regular(source) as stream:
        layout = riff_layout(stream, shown)
        require_wave_chunks(layout, shown)
        problem = _rewrite_problem(stream, layout)
        if problem:
            raise InputError(f"{shown}: cannot rewrite this WAV file safely: {problem}")
        plan: list[tuple[bytes, int, int]] = []
        placed = False
        for chunk in layout.chunks:
            if chunk.name.upper() == KEY.encode():
                if not placed:
                    plan.append((KEY.encode(), -1, len(payload)))
                    placed = True
                continue
            plan.append((chunk.name, chunk.offset, chunk.size))
        if not placed:
            plan.append((KEY.encode(), -1, len(payload)))
        riff_size = 4 + sum(8 + size + (size & 1) for _, _, size in plan)
        if riff_size > _MAX_RIFF:
            raise UnsupportedInputError(
                f"{shown}: the labelled file would exceed the 4 GiB RIFF limit (use RF64)"
            )
        target.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
        for name, offset, size in plan:
            target.write(name + struct.pack("<I", size))
            if offset < 0:
                target.write(payload)
            else:
                _copy_range(stream, target, offset, size)
            if size & 1:
                target.write(b"\0")
        stream.seek(0, os.SEEK_END)
        trailing = stream.tell() - layout.end
        if trailing > 0:  # bytes after the chunks (a stray ID3 tag, say) are kept as they are
            _copy_range(stream, target, layout.end, trailing)


def check_wav_copy(source: Path, temp: Path, target: Path) -> None:
    """Refuse a labelled copy that libsndfile cannot read, or reads unlike the input.

    Only when libsndfile reads the input: ``tag`` does not decode, so it also labels WAV
    files whose format libsndfile refuses (a rate of 1 Hz, say). Both are opened as the
    readers open them (:func:`~marking.media.audio.probe_audio`: a WAV with more chunks than
    libsndfile takes in is read through a view without them, so the check still runs).
    """
    fields = ("format", "subtype", "samplerate", "channels", "frames")
    try:
        before = probe_audio(source)
    except InputError:
        return
    shown = display_path(target)
    try:
        after = probe_audio(temp)
    except InputError as error:
        reason = str(error).removeprefix(f"{display_path(temp)}: ")
        raise OutputError(f"{shown}: libsndfile cannot read the labelled WAV ({reason})") from None
    changed = [name for name in fields if getattr(before, name) != getattr(after, name)]
    if changed:
        raise OutputError(
            f"{shown}: libsndfile would read the labelled WAV unlike the input ("
            + ", ".join(
                f"{name} {getattr(after, name)} instead of {getattr(before, name)}"
                for name in changed
            )
            + ")"
        )


def wav_label_text(path: Path, notes: list[str] | None = None) -> str | None:
    """The AIGC chunk's text. A chunk that declares more bytes than the file holds is read
    as far as it goes when ``notes`` collects the reader's notes (what verify does: readers
    salvage), with a note saying so; without ``notes`` it is an error."""
    shown = display_path(path)
    with open_regular(path) as stream:
        layout = riff_layout(stream, shown)
        require_wave_chunks(layout, shown)
        for chunk in layout.chunks:
            if chunk.name.upper() == KEY.encode():
                if chunk.cut and notes is None:
                    raise InputError(f"{shown}: the label is cut off: {runs_past_end(chunk)}")
                stream.seek(chunk.offset)
                text = stream.read(chunk.size).rstrip(b"\0").decode("utf-8", "replace")
                if chunk.cut:
                    return _salvaged_label_text(text, chunk, notes)
                return text
    return None


def _salvaged_label_text(text: str, chunk: RiffChunk, notes: list[str] | None) -> str | None:
    """The text of a label chunk that runs past the end of the file, if it is whole.

    A wrong size over a complete label (the JSON parses) gives the label, a cut label (it
    does not) gives None; either way ``notes`` says what happened.
    """
    try:
        AigcLabel.from_json(text)
    except InputError:
        if notes is not None:
            notes.append(f"the label is cut off: {runs_past_end(chunk)}; it was not read")
        return None
    if notes is not None:
        notes.append(f"the label reads whole, but its {runs_past_end(chunk)}")
    return text


__all__ = ["COPY_BLOCK", "check_wav_copy", "wav_label_text", "write_wav_label"]
