"""The GB 45438 implicit label in audio and video files, written without re-encoding.

Each format gets the ``AIGC`` entry where the TC260 practice guides put it (see
``labeling-rules.md``): MP4/MOV/M4A a ``moov/udta/meta`` keys + ilst (mdta) entry, Matroska
and WebM a global SimpleTag, WAV a RIFF chunk, MP3 an ID3v2 ``TXXX`` frame, FLAC and Ogg a
Vorbis comment. The value is the wrapped ``{"AIGC":{...}}`` JSON (the bare object belongs
inside XMP only). Media data is never decoded or re-encoded: MP4 and Matroska are remuxed
packet for packet (:mod:`marking.media.remux`), WAV is rewritten chunk by chunk
(:mod:`marking.tags.wav_tags`), and the rest is edited with mutagen on a copy. Re-tagging
replaces the one entry and keeps every other tag. Output is atomic (complete at ``dst`` or
absent), is read back before it replaces ``dst``, and ``src`` is never modified.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from pathlib import Path
from typing import Any

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
from marking.media.audio import check_tail_decodes
from marking.media.av_util import first_line
from marking.media.remux import container_tags, remux_with_tags
from marking.media.sniffing import is_mpeg_audio
from marking.media.temporaries import part_path_of
from marking.tags.aigc_label import WRAPPER_KEY, AigcLabel
from marking.tags.wav_tags import COPY_BLOCK, check_wav_copy, wav_label_text, write_wav_label

#: The key every format stores the label under: GB 45438's, the same as the JSON wrapper's.
KEY = WRAPPER_KEY

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


# --- MP4 / MOV / M4A / MKV / WebM: container tags (marking.media.remux) -------------------


def _container_label_text(path: Path) -> str | None:
    """The container-level AIGC tag, matched case-insensitively (exact ``AIGC`` first)."""
    tags = container_tags(path)
    if KEY in tags:
        return tags[KEY]
    for key, value in tags.items():
        if key.lower() == KEY.lower():
            return value
    for key, value in tags.items():  # GB 45438: "a key that contains AIGC"
        if KEY.lower() in key.lower():
            return value
    return None


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
            f"{first_line(error)})"
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
        check_tail_decodes(path, "FLAC")


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
        raise OutputError(f"{shown}: cannot write the tag: {first_line(error)}") from None


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
                f"{display_path(path)}: unreadable ID3 tag ({first_line(error)})"
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
        return _container_label_text(path)
    if kind == "wav":
        return wav_label_text(path, notes)
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
    from marking.media.sniffing import suffix_mismatch, suffixes_of

    written = _TABLE_NAMES[kind]
    fits = (written, *(other for first, other in _FITTING if first == written))
    mismatch = suffix_mismatch(
        display_path(target),
        f"{written}, the input's format",
        fits,
        source=source,
        expected=suffixes_of(*fits),
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
            temp = part_path_of(stream, target)
            if kind in _FAMILY:
                remux_with_tags(source, temp, _MUXERS[kind], {KEY: text}, _NAMES[kind], notes)
            elif kind == "wav":
                write_wav_label(source, stream, text)
                stream.flush()
                check_wav_copy(source, temp, target)
            else:
                with open_regular(source) as original:
                    shutil.copyfileobj(original, stream, COPY_BLOCK)
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
