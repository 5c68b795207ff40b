"""The GB 45438 implicit label in audio and video files, written without re-encoding.

Each format gets the ``AIGC`` entry where the TC260 practice guides put it (see
``labeling-rules.md``): MP4/MOV/M4A a ``moov/udta/meta`` keys + ilst (mdta) entry, Matroska
and WebM a global SimpleTag, WAV a RIFF chunk, MP3 an ID3v2 ``TXXX`` frame, FLAC and Ogg a
Vorbis comment. The value is the wrapped ``{"AIGC":{...}}`` JSON (the bare object belongs
inside XMP only). Media data is never decoded or re-encoded: MP4 and Matroska are remuxed
packet for packet with PyAV, WAV is rewritten chunk by chunk, and the rest is edited with
mutagen on a copy. Re-tagging replaces the one entry and keeps every other tag. Output is
atomic (complete at ``dst`` or absent), is read back before it replaces ``dst``, and ``src``
is never modified.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from marking.errors import (
    InputError,
    MarkingError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.media.atomic import (
    StrPath,
    atomic_write,
    check_output_path,
    display_path,
    input_file_problem,
    name_in_error,
    open_regular,
)
from marking.media.riff import (
    RiffChunk,
    RiffLayout,
    chunk_name,
    require_wave_chunks,
    riff_layout,
    runs_past_end,
)
from marking.media.sniffing import is_mpeg_audio
from marking.tags.aigc_label import AigcLabel

if TYPE_CHECKING:
    from av.container import InputContainer

#: The key every format stores the label under.
KEY = "AIGC"

#: Formats :func:`tag_media` writes, with where the label goes.
SUPPORTED: dict[str, str] = {
    "mp4": "moov/udta/meta keys + ilst entry 'AIGC' (mdta)",
    "mov": "moov/udta/meta keys + ilst entry 'AIGC' (mdta)",
    "m4a": "moov/udta/meta keys + ilst entry 'AIGC' (mdta)",
    "mkv": "global SimpleTag 'AIGC'",
    "webm": "global SimpleTag 'AIGC'",
    "wav": "RIFF chunk 'AIGC'",
    "mp3": "ID3v2 TXXX frame, description 'AIGC'",
    "flac": "Vorbis comment 'AIGC='",
    "ogg": "Vorbis comment 'AIGC=' (Ogg Vorbis)",
    "opus": "Vorbis comment 'AIGC=' (Ogg Opus)",
    "oggflac": "Vorbis comment 'AIGC=' (FLAC in Ogg)",
}
_FAMILY = {"mp4": "isobmff", "mov": "isobmff", "m4a": "isobmff", "mkv": "mkv", "webm": "mkv"}
_MUXERS = {"mp4": "mp4", "mov": "mov", "m4a": "ipod", "mkv": "matroska", "webm": "webm"}
_NAMES = {"mp4": "MP4", "mov": "MOV", "m4a": "M4A", "mkv": "MKV", "webm": "WebM"}
#: Container tags the muxer writes itself; copying the old value would be stale or doubled.
_SKIP_CONTAINER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})
#: Stream tags the Matroska muxer writes itself.
_SKIP_STREAM_TAGS = frozenset({"duration"})
_MAX_RIFF = 0xFFFFFFFF
#: A 'data' size that streaming writers leave for "up to the end of the file".
_UNKNOWN_SIZE = 0xFFFFFFFF
_COPY_BLOCK = 1 << 20


# --- detection ---------------------------------------------------------------------------


def _check_input(path: StrPath) -> Path:
    """``path`` as a Path, or a one-line :class:`InputError` if it is not a readable file."""
    problem = input_file_problem(path, "media")
    if problem:
        raise InputError(f"{display_path(path)}: {problem}")
    return Path(path)


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType string of an EBML header ("matroska", "webm"), if it is in ``head``."""
    at = head.find(b"\x42\x82")
    if at < 0 or at + 3 > len(head):
        return None
    first = head[at + 2]
    width = 1
    while width <= 8 and not first & (0x80 >> (width - 1)):
        width += 1
    if width > 8 or at + 2 + width > len(head):
        return None
    size = first & (0xFF >> width)
    for byte in head[at + 3 : at + 2 + width]:
        size = size << 8 | byte
    start = at + 2 + width
    return head[start : start + size].decode("ascii", "replace").rstrip("\0")


def _id3_size(head: bytes) -> int:
    """Bytes an ID3v2 tag at the start of ``head`` takes (header, body, footer)."""
    size = 0
    for byte in head[6:10]:
        size = size << 7 | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def detect_format(path: StrPath) -> str:
    """The key of :data:`SUPPORTED` that ``path`` holds, judged by its first bytes."""
    from marking.media.sniffing import NoLabelPlaceError, format_of_head, label_refusal

    source = _check_input(path)
    shown = display_path(source)
    with open_regular(source) as stream:
        head = stream.read(4096)
        known = format_of_head(head)
        if known is not None and known.refused is not None:
            raise UnsupportedInputError(f"{shown}: {known.refused}")
        if known is not None and not known.label:
            raise NoLabelPlaceError(f"{shown}: {label_refusal(known)}")
        if head.startswith(b"ID3") and len(head) >= 10:
            stream.seek(_id3_size(head))
            after = stream.read(4)
            if after == b"fLaC":
                return "flac"
            if not after:  # whether MP3 or FLAC followed cannot be told
                raise InputError(f"{shown}: truncated: the file ends inside its ID3 tag")
            if is_mpeg_audio(after):
                return "mp3"
            raise UnsupportedInputError(f"{shown}: ID3-tagged data that is not MP3 or FLAC")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFX":
        raise UnsupportedInputError(f"{shown}: RIFX (big-endian) WAV is not supported")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        return "m4a" if brand in (b"M4A ", b"M4B ") else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "mov"  # old QuickTime files have no ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if _ebml_doctype(head) == "webm" else "mkv"
    if head.startswith(b"fLaC"):
        return "flac"
    if is_mpeg_audio(head):
        return "mp3"
    if head.startswith(b"OggS") and len(head) >= 27:
        packet = head[27 + head[26] :]
        if packet.startswith(b"\x01vorbis"):
            return "ogg"
        if packet.startswith(b"OpusHead"):
            return "opus"
        if packet.startswith(b"\x7fFLAC"):
            return "oggflac"
        raise UnsupportedInputError(f"{shown}: an Ogg stream that is not Vorbis, Opus or FLAC")
    raise UnsupportedInputError(
        f"{shown}: not a supported audio or video file ({', '.join(SUPPORTED).upper()})"
    )


# --- MP4 / MOV / M4A / MKV / WebM: PyAV remux ----------------------------------------------


def _av() -> Any:
    import av

    return av


def _first_line(error: BaseException) -> str:
    text = (getattr(error, "strerror", None) or str(error) or "").strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def _open_av(path: Path) -> Iterator[InputContainer]:
    """Open a file with PyAV, mapping FFmpeg's failures onto one-line :class:`InputError`."""
    av = _av()
    shown = display_path(path)
    try:
        container = av.open(os.fspath(path), "r", metadata_errors="replace")
    except av.error.InvalidDataError:
        raise InputError(f"{shown}: not a readable media file (truncated or corrupt)") from None
    except av.FFmpegError as error:
        raise InputError(f"{shown}: cannot open: {_first_line(error)}") from None
    with container:
        yield container


def _av_label_text(path: Path) -> str | None:
    """The container-level AIGC tag, matched case-insensitively (exact ``AIGC`` first)."""
    with _open_av(path) as container:
        tags = dict(container.metadata)
    if KEY in tags:
        return str(tags[KEY])
    for key, value in tags.items():
        if key.lower() == KEY.lower():
            return str(value)
    for key, value in tags.items():  # GB 45438: "a key that contains AIGC"
        if KEY.lower() in key.lower():
            return str(value)
    return None


def _moov_first(path: Path) -> bool:
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


def _av_options(kind: str, source: Path, container: InputContainer) -> dict[str, str]:
    """Muxer options: mdta tags for ISO files, faststart and brand kept as in the source."""
    if _FAMILY[kind] != "isobmff":
        return {}
    flags = "+use_metadata_tags"
    if _moov_first(source):
        flags += "+faststart"
    options = {"movflags": flags}
    brand = str(container.metadata.get("major_brand", ""))
    if kind != "mov" and len(brand) == 4 and brand.isascii() and brand.isprintable():
        options["brand"] = brand
    return options


def _add_streams(
    output: Any, container: InputContainer, kind: str, shown: str, notes: list[str]
) -> dict[int, Any]:
    """Output streams copying every input stream's parameters, tags and disposition.

    A stream the container cannot hold (a data track of a codec the muxer does not know, cover
    art beside the mdta tags) is left out with a note; QuickTime timecode and chapter tracks
    are rewritten by the muxer (see :func:`marking.media.video.add_stream_copy`, the one rule).
    Sound or pictures that cannot be copied are refused: the label must not cost a track.
    """
    from marking.media.video import add_stream_copy, dropped_stream_note

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
        cover = bool(stream.disposition & _av().stream.Disposition.attached_pic)
        if stream.type in ("audio", "video") and not cover:
            raise UnsupportedInputError(
                f"{shown}: stream {stream.index} ({stream.type}) cannot be copied into "
                f"{_NAMES[kind]}: {reason}"
            )
        codec = stream.codec_context.name if stream.codec_context else stream.name
        note = dropped_stream_note(stream.index, stream.type, codec, reason or "")
        if note is not None:
            notes.append(note)
    return copies


class _Completeness:
    """Notices a truncated input: fewer packets, or an earlier end, than it declares."""

    def __init__(self, container: InputContainer) -> None:
        # Packet counts of sound and pictures only: a subtitle track's count includes the
        # empty closing sample the MP4 muxer writes, which the demuxer does not return.
        self.declared = {
            s.index: s.frames
            for s in container.streams
            if s.frames and s.type in ("audio", "video")
        }
        self.duration = container.duration / 1_000_000 if container.duration else None
        self.start = container.start_time / 1_000_000 if container.start_time else 0.0
        self.counts: dict[int, int] = {}
        self.end = 0.0
        self.longest = 0.0  # the longest packet: the slack allowed at the end

    def add(self, packet: Any) -> None:
        index = packet.stream.index
        self.counts[index] = self.counts.get(index, 0) + 1
        if packet.pts is not None and packet.time_base is not None:
            length = float((packet.duration or 0) * packet.time_base)
            self.end = max(self.end, float(packet.pts * packet.time_base) + length)
            self.longest = max(self.longest, length)

    def check(self, shown: str) -> None:
        for index, frames in self.declared.items():
            if self.counts.get(index, 0) < frames:
                raise InputError(
                    f"{shown}: truncated: stream {index} lists {frames} packets, only "
                    f"{self.counts.get(index, 0)} are present"
                )
        slack = max(0.1, self.longest)
        if self.duration is not None and self.end < self.start + self.duration - slack:
            raise InputError(
                f"{shown}: truncated: the file should last {self.duration:.2f} s, "
                f"its data ends at {self.end - self.start:.2f} s"
            )


def _write_av(source: Path, temp: Path, kind: str, text: str, notes: list[str]) -> None:
    """Remux ``source`` packet for packet into ``temp`` with the container tag AIGC=text.

    What could not be copied (a stream the container cannot hold) is said in ``notes``.
    """
    av = _av()
    shown = display_path(source)
    with _open_av(source) as container:
        if not container.streams.video and not container.streams.audio:
            raise UnsupportedInputError(f"{shown}: holds no audio or video stream")
        tags = {
            key: value
            for key, value in container.metadata.items()
            if key.lower() not in _SKIP_CONTAINER_TAGS and key.lower() != KEY.lower()
        }
        tags[KEY] = text
        options = _av_options(kind, source, container)
        completeness = _Completeness(container)
        chapters = container.chapters()
        # A path (not a file object): faststart reopens the output by name to move moov.
        url = "file:" + os.fspath(temp.resolve())
        try:
            with av.open(url, "w", format=_MUXERS[kind], options=options) as output:
                output.metadata.update(tags)
                copies = _add_streams(output, container, kind, shown, notes)
                if chapters:
                    output.set_chapters(chapters)
                _copy_packets(container, output, copies, completeness, shown)
        except av.FFmpegError as error:
            if isinstance(error, OSError) and not isinstance(error, av.error.FileNotFoundError):
                raise  # disk full and the like: atomic_write reports it
            raise OutputError(
                f"{display_path(temp)}: cannot write the {_NAMES[kind]} file: {_first_line(error)}"
            ) from None
        completeness.check(shown)


def _copy_packets(
    container: InputContainer,
    output: Any,
    copies: dict[int, Any],
    completeness: _Completeness,
    shown: str,
) -> None:
    av = _av()
    packets = container.demux()
    while True:
        try:
            packet = next(packets, None)
        except av.FFmpegError as error:
            raise InputError(f"{shown}: unreadable data: {_first_line(error)}") from None
        if packet is None:
            return
        target = copies.get(packet.stream.index)
        if target is None or (not packet.size and packet.dts is None):
            continue  # a stream not copied, or a demuxer flush marker
        completeness.add(packet)
        packet.stream = target
        output.mux(packet)


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
        block = stream.read(min(stop - start, _COPY_BLOCK))
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
        block = source.read(min(size, _COPY_BLOCK))
        if not block:
            raise InputError("the input changed while it was being copied")
        target.write(block)
        size -= len(block)


def _write_wav(source: Path, target: BinaryIO, text: str) -> None:
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


def _check_wav_copy(source: Path, temp: Path, target: Path) -> None:
    """Refuse a labelled copy that libsndfile cannot read, or reads unlike the input.

    Only when libsndfile reads the input: ``tag`` does not decode, so it also labels WAV
    files whose format libsndfile refuses (a rate of 1 Hz, say).
    """
    import soundfile as sf

    from marking.media.audio import open_sound

    fields = ("format", "subtype", "samplerate", "channels", "frames")

    def read(path: Path) -> dict[str, Any]:
        # As the readers open it: a WAV with more chunks than libsndfile takes in is read
        # through a view without them (5,000 LIST chunks), so the check still runs.
        with open_sound(path) as sound:
            return {name: getattr(sound, name) for name in fields}

    try:
        before = read(source)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError):
        return
    shown = display_path(target)
    try:
        after = read(temp)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as error:
        raise OutputError(
            f"{shown}: libsndfile cannot read the labelled WAV ({_first_line(error)})"
        ) from None
    changed = [name for name in fields if before[name] != after[name]]
    if changed:
        raise OutputError(
            f"{shown}: libsndfile would read the labelled WAV unlike the input ("
            + ", ".join(f"{name} {after[name]} instead of {before[name]}" for name in changed)
            + ")"
        )


def _wav_label_text(path: Path, notes: list[str] | None = None) -> str | None:
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


# --- MP3 / FLAC / Ogg: mutagen -----------------------------------------------------------


def _mutagen_file(path: Path, kind: str) -> Any:
    """The mutagen object for ``path`` as ``kind``; one-line InputError when it is damaged."""
    import mutagen
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    kinds = {"mp3": MP3, "flac": FLAC, "ogg": OggVorbis, "opus": OggOpus, "oggflac": OggFLAC}
    try:
        return kinds[kind](os.fspath(path))
    # IndexError: a Vorbis comment whose declared length runs past its packet.
    except (mutagen.MutagenError, struct.error, EOFError, ValueError, IndexError) as error:
        raise InputError(
            f"{display_path(path)}: not a readable {kind.upper()} file (truncated or corrupt: "
            f"{_first_line(error)})"
        ) from None


def _check_audio_complete(path: Path, kind: str) -> None:
    """Refuse inputs whose audio visibly stops early (Ogg without its last page, FLAC cut)."""
    shown = display_path(path)
    if kind in ("ogg", "opus", "oggflac"):
        from mutagen.ogg import OggPage

        with open_regular(path) as stream:
            first = OggPage(stream)
            try:
                last = OggPage.find_last(stream, first.serial, finishing=True)
            except Exception:  # mutagen raises assorted errors on damage
                last = None
        if last is None or not last.last:
            raise InputError(f"{shown}: truncated: the Ogg stream has no end-of-stream page")
    elif kind == "flac":
        import soundfile as sf

        try:
            with sf.SoundFile(path) as sound:
                if sound.frames > 0:
                    start = max(0, sound.frames - 4096)
                    sound.seek(start)
                    got = len(sound.read(sound.frames - start, dtype="int16"))
                    if got < sound.frames - start:
                        raise InputError(f"{shown}: truncated: the FLAC audio ends early")
        except (sf.LibsndfileError, RuntimeError, ValueError) as error:
            raise InputError(f"{shown}: truncated or corrupt FLAC audio ({error})") from None


def _write_mutagen(temp: Path, kind: str, text: str) -> None:
    """Set the AIGC entry in ``temp`` (a copy of the input) in place, keeping all else."""
    shown = display_path(temp)
    if kind == "mp3":
        from mutagen.id3 import ID3, TXXX, ID3NoHeaderError

        try:
            tags = ID3(os.fspath(temp))
        except ID3NoHeaderError:
            tags = ID3()
        version = 3 if tags.version[:2] == (2, 3) else 4
        for frame_key in [k for k in tags if _is_aigc_txxx(k)]:
            del tags[frame_key]
        tags.add(TXXX(encoding=3, desc=KEY, text=[text]))
        tags.save(os.fspath(temp), v2_version=version)
        return
    audio = _mutagen_file(temp, kind)
    if audio.tags is None:
        audio.add_tags()
    for existing in [k for k in audio.tags.keys() if k.lower() == KEY.lower()]:  # noqa: SIM118
        del audio.tags[existing]
    audio.tags[KEY] = [text]
    try:
        audio.save()
    except Exception as error:  # mutagen raises assorted errors on odd files
        raise OutputError(f"{shown}: cannot write the tag: {_first_line(error)}") from None


def _is_aigc_txxx(frame_key: str) -> bool:
    return frame_key.startswith("TXXX:") and frame_key[5:].lower() == KEY.lower()


def _mutagen_label_text(path: Path, kind: str) -> str | None:
    if kind == "mp3":
        from mutagen.id3 import ID3, ID3NoHeaderError

        try:
            tags = ID3(os.fspath(path))
        except ID3NoHeaderError:
            return None
        except Exception as error:  # mutagen raises assorted errors on damage
            raise InputError(
                f"{display_path(path)}: unreadable ID3 tag ({_first_line(error)})"
            ) from None
        frames = [tags[k] for k in tags if _is_aigc_txxx(k)]
        return str(frames[0].text[0]) if frames and frames[0].text else None
    audio = _mutagen_file(path, kind)
    if audio.tags is None:
        return None
    values = audio.tags.get(KEY) or []  # VComment lookups ignore case
    return str(values[0]) if values else None


# --- public API --------------------------------------------------------------------------


def _label_text(path: Path, kind: str, notes: list[str] | None = None) -> str | None:
    """The raw AIGC entry of ``path`` read as ``kind``, or None (see read_media_label)."""
    if kind in _FAMILY:
        return _av_label_text(path)
    if kind == "wav":
        return _wav_label_text(path, notes)
    return _mutagen_label_text(path, kind)


def _resolve_kind(source: Path, kind: str | None) -> str:
    detected = detect_format(source)
    if kind is None:
        return detected
    if kind not in SUPPORTED:
        raise UsageError(f"unknown format {kind!r}: one of {', '.join(SUPPORTED)}")
    if _FAMILY.get(kind, kind) != _FAMILY.get(detected, detected):
        raise UsageError(f"{display_path(source)}: is {detected.upper()}, not {kind.upper()}")
    return kind


def _temp_path_of(stream: BinaryIO, target: Path) -> Path:
    """The path of the temporary file :func:`atomic_write` opened (found by its inode)."""
    status = os.fstat(stream.fileno())
    pattern = f".{glob.escape(target.name)}.*.part"
    for candidate in target.parent.glob(pattern):
        with contextlib.suppress(OSError):
            found = candidate.stat()
            if (found.st_ino, found.st_dev) == (status.st_ino, status.st_dev):
                return candidate
    raise OutputError(f"{display_path(target)}: cannot find the temporary output file")


#: The format table's name (marking.media.sniffing.FORMATS) of each kind written here.
_TABLE_NAMES = {
    **_NAMES,
    **{"wav": "WAV", "mp3": "MP3", "flac": "FLAC", "ogg": "Ogg", "opus": "Ogg", "oggflac": "Ogg"},
}
#: Output suffixes that fit another format than the input's: an audio-only MP4 named .m4a
#: (or the reverse), WebM named .mkv (WebM is Matroska).
_FITTING = {("MP4", "M4A"), ("M4A", "MP4"), ("WebM", "MKV")}


def _check_output_suffix(source: Path, target: Path, kind: str) -> None:
    """Refuse an output name whose suffix promises another format than the input's: the
    label is written without re-encoding, so the output keeps the input's format (an input
    named against its content may pass its suffix on)."""
    from marking.media.sniffing import suffix_mismatch

    written = _TABLE_NAMES[kind]
    fits = (written, *(other for first, other in _FITTING if first == written))
    mismatch = suffix_mismatch(
        display_path(target), f"{written}, the input's format", fits, source=source
    )
    if mismatch is not None:
        raise UsageError(mismatch)


def read_media_label(path: StrPath, *, notes: list[str] | None = None) -> AigcLabel | None:
    """The GB 45438 label of an audio or video file (bare or wrapped JSON), or None.

    With ``notes`` (a reader's list of notes), a damaged label container that can be read in
    part (a WAV label chunk that declares more bytes than remain) is salvaged with a note
    instead of refused: the label when it reads whole, else None.
    """
    source = _check_input(path)
    text = _label_text(source, detect_format(source), notes)
    return None if text is None else AigcLabel.from_json(text)


def tag_media(
    src: StrPath, dst: StrPath, label: AigcLabel, *, kind: str | None = None
) -> dict[str, Any]:
    """Copy ``src`` to ``dst`` with ``label`` as its one AIGC entry, without re-encoding.

    ``kind`` (a key of :data:`SUPPORTED`) overrides the detected format within its family
    (mp4/mov/m4a pick the muxer). Raises :class:`InputError` for a damaged input,
    :class:`UnsupportedInputError` for another format and :class:`OutputError` when ``dst``
    cannot be written; ``dst`` then stays as it was. Returns a report for logs and JSON.
    """
    source = _check_input(src)
    target = check_output_path(dst, forbid=[source])
    kind = _resolve_kind(source, kind)
    _check_output_suffix(source, target, kind)
    text = label.to_json(wrapped=True)
    previous: str | None = None
    with contextlib.suppress(InputError):
        previous = _label_text(source, kind)
    if kind in ("mp3", "flac", "ogg", "opus", "oggflac"):
        _mutagen_file(source, kind)  # fail on a damaged input before any copying
        _check_audio_complete(source, kind)
    notes: list[str] = []
    temp: Path | None = None
    try:
        with atomic_write(target, forbid=[source]) as stream:
            temp = _temp_path_of(stream, target)
            if kind in _FAMILY:
                _write_av(source, temp, kind, text, notes)
            elif kind == "wav":
                _write_wav(source, stream, text)
                stream.flush()
                _check_wav_copy(source, temp, target)
            else:
                with open_regular(source) as original:
                    shutil.copyfileobj(original, stream, _COPY_BLOCK)
                stream.flush()
                _write_mutagen(temp, kind, text)
            written = _label_text(temp, kind)
            if written is None or AigcLabel.from_json(written) != label:
                raise OutputError(
                    f"{display_path(target)}: the AIGC entry did not read back from the "
                    f"{kind.upper()} file"
                )
    except MarkingError as error:
        name_in_error(error, [] if temp is None else [temp], target)
        raise
    return {
        "input": os.fspath(source),
        "output": os.fspath(target),
        "format": kind,
        "placement": SUPPORTED[kind],
        "label": text,
        "replaced": previous is not None,
        "bytes": target.stat().st_size,
        "notes": notes,
    }


__all__ = ["KEY", "SUPPORTED", "detect_format", "read_media_label", "tag_media"]
