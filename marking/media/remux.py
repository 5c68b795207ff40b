"""Container tags of MP4, MOV, M4A, MKV and WebM files, read and rewritten without decoding.

:func:`container_tags` reads a file's container-level tags; :func:`remux_with_tags` copies
a file packet for packet into a new one with some container tags set (the GB 45438 label of
:mod:`marking.tags.containers`). Streams are copied by the one rule of
:func:`marking.media.av_util.add_stream_copy`; a copy that lacks packets the input declares
is refused (:class:`~marking.media.av_util.Completeness`).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marking.errors import InputError, OutputError, UnsupportedInputError
from marking.media.atomic import StrPath, display_path, open_regular
from marking.media.av_util import (
    CONTAINER_SKIP_TAGS,
    Completeness,
    add_stream_copy,
    av,
    dropped_stream_note,
    first_line,
    is_cover,
    open_input,
)

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer

#: What :func:`open_input` calls the files read here, in messages.
_WHAT = "audio or video"
#: Muxers that write ISO base media files (MP4, MOV, M4A).
_ISO_MUXERS = ("mp4", "mov", "ipod")
#: Stream tags the Matroska muxer writes itself.
_SKIP_STREAM_TAGS = frozenset({"duration"})


def container_tags(path: StrPath) -> dict[str, str]:
    """The container-level tags of an audio or video file (one-line errors if unreadable)."""
    with open_input(path, _WHAT) as container:
        return {str(key): str(value) for key, value in container.metadata.items()}


def moov_first(path: StrPath) -> bool:
    """Whether the top-level ``moov`` box comes before ``mdat`` (a web-optimised file)."""
    with open_regular(path) as stream:
        while header := stream.read(8):
            if len(header) < 8:
                return False
            size, name = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", stream.read(8))[0] - 8
            elif size == 0:
                return False
            if name == b"moov":
                return True
            if name == b"mdat":
                return False
            stream.seek(size - 8, os.SEEK_CUR)
    return False


def _muxer_options(muxer: str, source: Path, container: InputContainer) -> dict[str, str]:
    """Muxer options: mdta tags for ISO files, faststart and brand kept as in the source."""
    if muxer not in _ISO_MUXERS:
        return {}
    flags = "+use_metadata_tags"
    if moov_first(source):
        flags += "+faststart"
    options = {"movflags": flags}
    brand = str(container.metadata.get("major_brand", ""))
    if muxer != "mov" and len(brand) == 4 and brand.isascii() and brand.isprintable():
        options["brand"] = brand
    return options


def _add_streams(
    output: OutputContainer, container: InputContainer, name: str, shown: str, notes: list[str]
) -> dict[int, Any]:
    """Output streams copying every input stream's parameters, tags and disposition.

    A stream the container cannot hold (a data track of a codec the muxer does not know, cover
    art beside the mdta tags) is left out with a note; QuickTime timecode and chapter tracks
    are rewritten by the muxer (see :func:`~marking.media.av_util.add_stream_copy`).
    Sound or pictures that cannot be copied are refused: the tags must not cost a track.
    """
    copies: dict[int, Any] = {}
    for stream in container.streams:
        if stream.type == "attachment":
            output.add_attachment(stream.name or "", stream.mimetype or "", bytes(stream.data))
            continue
        copy, reason = add_stream_copy(
            output, stream, _SKIP_STREAM_TAGS, chapters=bool(container.chapters())
        )
        if copy is not None:
            copies[stream.index] = copy
            continue
        if stream.type in ("audio", "video") and not is_cover(stream):
            raise UnsupportedInputError(
                f"{shown}: stream {stream.index} ({stream.type}) cannot be copied into "
                f"{name}: {reason}"
            )
        codec = stream.codec_context.name if stream.codec_context else stream.name
        note = dropped_stream_note(stream.index, stream.type, codec, reason or "")
        if note is not None:
            notes.append(note)
    return copies


def _copy_packets(
    container: InputContainer,
    output: OutputContainer,
    copies: dict[int, Any],
    completeness: Completeness,
    shown: str,
) -> None:
    """Every packet of the copied streams, unchanged, counted for the completeness check."""
    library = av()
    packets = container.demux()
    while True:
        try:
            packet = next(packets, None)
        except library.FFmpegError as error:
            raise InputError(f"{shown}: unreadable data: {first_line(error)}") from None
        if packet is None:
            return
        target = copies.get(packet.stream.index)
        if target is None or (not packet.size and packet.dts is None):
            continue  # a stream not copied, or a demuxer flush marker
        completeness.add(packet)
        packet.stream = target
        output.mux(packet)


def _kept_tags(container: InputContainer, new: dict[str, str]) -> dict[str, str]:
    """The input's container tags with ``new`` set: a key of ``new`` replaces any key that
    differs from it only in case; tags the muxer writes itself are left out."""
    replaced = {key.lower() for key in new}
    kept = {
        key: value
        for key, value in container.metadata.items()
        if key.lower() not in CONTAINER_SKIP_TAGS and key.lower() not in replaced
    }
    return {**kept, **new}


def remux_with_tags(
    source: StrPath,
    target: StrPath,
    muxer: str,
    tags: dict[str, str],
    name: str,
    notes: list[str],
) -> None:
    """Copy ``source`` packet for packet into the file ``target`` with the container ``tags``.

    ``muxer`` is PyAV's name of the output format (mp4, mov, ipod, matroska, webm) and
    ``name`` the user's (MP4, M4A...). ``target`` is a path (not a file object): the
    faststart pass reopens it by name. An MP4/MOV/M4A output keeps the input's brand and
    layout (faststart or not) and writes its tags as mdta keys. What could not be copied (a
    stream the container cannot hold) is said in ``notes``; an input that holds fewer
    packets than it declares is refused (one-line :class:`InputError`, "truncated").
    """
    library = av()
    source, target = Path(source), Path(target)
    shown = display_path(source)
    with open_input(source, _WHAT) as container:
        if not container.streams.video and not container.streams.audio:
            raise UnsupportedInputError(f"{shown}: holds no audio or video stream")
        options = _muxer_options(muxer, source, container)
        completeness = Completeness.of_file(container)
        chapters = container.chapters()
        url = "file:" + os.fspath(target.resolve())
        try:
            with library.open(url, "w", format=muxer, options=options) as output:
                output.metadata.update(_kept_tags(container, tags))
                copies = _add_streams(output, container, name, shown, notes)
                if chapters:
                    output.set_chapters(chapters)
                _copy_packets(container, output, copies, completeness, shown)
        except library.FFmpegError as error:
            if isinstance(error, OSError) and not isinstance(
                error, library.error.FileNotFoundError
            ):
                raise  # disk full and the like: atomic_write reports it
            raise OutputError(
                f"{display_path(target)}: cannot write the {name} file: {first_line(error)}"
            ) from None
        completeness.check(shown)


__all__ = ["container_tags", "moov_first", "remux_with_tags"]
