"""Which format and kind of media a file holds (image, audio or video), judged by its content.

Extensions lie; the first bytes rarely do. Containers that can hold either sound or pictures
(MP4, Matroska, Ogg) are opened with PyAV to see which streams they carry. :data:`FORMATS` is
the one table of formats every command (embed, label, tag, mark, verify, detect) goes by.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from marking.errors import InputError, UnsupportedInputError

IMAGE, AUDIO, VIDEO = "image", "audio", "video"

#: Image file suffixes and the format (Pillow's name) each one promises.
IMAGE_SUFFIX_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


@dataclass(frozen=True)
class MediaFormat:
    """A file format as every command sees it: embed, label, tag, mark, verify and detect.

    ``kind`` is IMAGE, AUDIO or VIDEO, or None for containers whose streams decide (MP4,
    MOV, MKV, WebM, Ogg). ``label``: whether the format has a place for the GB 45438 metadata
    label (``tag``, ``mark``'s metadata step); without one, every other command still works
    and ``verify`` reads the watermark and says there is no label to read. ``refused``: why
    no command takes the format (one line, the same from every command), or None.
    """

    name: str
    kind: str | None
    suffixes: tuple[str, ...]
    label: bool = True
    refused: str | None = None


_CONVERT = "convert it to JPEG, PNG, WebP or TIFF"
#: Every format the commands know, in one place: what :func:`media_kind` accepts or refuses,
#: which formats take a metadata label, and the suffixes that promise each.
FORMATS: tuple[MediaFormat, ...] = (
    MediaFormat("JPEG", IMAGE, (".jpg", ".jpeg", ".jpe", ".jfif")),
    MediaFormat("PNG", IMAGE, (".png",)),
    MediaFormat("WebP", IMAGE, (".webp",)),
    MediaFormat("TIFF", IMAGE, (".tif", ".tiff")),
    MediaFormat("WAV", AUDIO, (".wav", ".wave")),
    MediaFormat("RF64", AUDIO, (".rf64",), label=False),
    MediaFormat("Wave64", AUDIO, (".w64",), label=False),
    MediaFormat("AIFF", AUDIO, (".aif", ".aiff", ".aifc"), label=False),
    MediaFormat("CAF", AUDIO, (".caf",), label=False),
    MediaFormat("FLAC", AUDIO, (".flac",)),
    MediaFormat("MP3", AUDIO, (".mp3",)),
    MediaFormat("Ogg", None, (".ogg", ".oga", ".opus")),
    MediaFormat("M4A", None, (".m4a",)),
    MediaFormat("MP4", None, (".mp4", ".m4v")),
    MediaFormat("MOV", None, (".mov", ".qt")),
    MediaFormat("MKV", None, (".mkv",)),
    MediaFormat("WebM", None, (".webm",)),
    MediaFormat("AVIF", IMAGE, (".avif",), refused=f"AVIF pictures are not supported: {_CONVERT}"),
    MediaFormat(
        "HEIF", IMAGE, (".heic", ".heif"), refused=f"HEIF pictures are not supported: {_CONVERT}"
    ),
    MediaFormat(
        "CR3", IMAGE, (".cr3",), refused=f"camera raw (CR3) pictures are not supported: {_CONVERT}"
    ),
)
_BY_NAME = {fmt.name: fmt for fmt in FORMATS}
#: Pillow's names of the picture formats read and written, by their name in :data:`FORMATS`.
PILLOW_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WebP": "WEBP", "TIFF": "TIFF"}

#: How the pictures read and written start: a JPEG (and an MPO) with its SOI marker, a PNG with
#: its signature, a TIFF with its byte order and 42 (classic) or 43 (BigTIFF).
JPEG_START = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_STARTS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: The formats that hold a GB 45438 label, for messages.
LABEL_FORMATS = "WAV, MP3, FLAC, Ogg, M4A, MP4, MOV, MKV and WebM"

#: File suffixes that promise media: a file found by walking a directory whose content is not
#: media is reported as failed under one of these names (a corrupt picture), skipped otherwise
#: (a README next to the renders).
MEDIA_SUFFIXES = frozenset(suffix for fmt in FORMATS for suffix in fmt.suffixes)

#: ftyp brands of still pictures in ISO media files, and the format each is.
_PICTURE_BRANDS = {
    **dict.fromkeys((b"avif", b"avis"), "AVIF"),
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1"), "HEIF"),
    b"crx ": "CR3",
}
_ISO_BRANDS = {b"qt  ": "MOV", b"M4A ": "M4A", b"M4B ": "M4A"}


class NoLabelPlaceError(UnsupportedInputError):
    """The format has no place for the GB 45438 metadata label (AIFF, CAF, Wave64, RF64)."""


def format_of_head(head: bytes) -> MediaFormat | None:
    """The format a file's first bytes (64 or more) show, or None when no format matches.

    An ID3 tag counts as MP3 (FLAC behind one is audio too). The one sniffer: pictures are
    told apart here for every command (:func:`image_format_of_head` gives Pillow's names).
    """
    name = None
    if head.startswith(JPEG_START):  # MPO (a phone camera's JPEG with extra frames) too
        name = "JPEG"
    elif head.startswith(PNG_SIGNATURE):
        name = "PNG"
    elif head.startswith(TIFF_STARTS):  # classic TIFF and BigTIFF
        name = "TIFF"
    elif head[:4] == b"RIFF":
        name = {b"WEBP": "WebP", b"WAVE": "WAV"}.get(head[8:12])
    elif head.startswith((b"RF64", b"BW64")):
        name = "RF64"
    elif head.startswith(b"riff\x2e\x91\xcf\x11"):
        name = "Wave64"
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        name = "AIFF"
    elif head.startswith(b"caff"):
        name = "CAF"
    elif head.startswith(b"fLaC"):
        name = "FLAC"
    elif head.startswith(b"ID3") or is_mpeg_audio(head):
        name = "MP3"
    elif head[4:8] == b"ftyp":
        brand = head[8:12]
        name = _PICTURE_BRANDS.get(brand) or _ISO_BRANDS.get(brand, "MP4")
    elif head.startswith(b"\x1a\x45\xdf\xa3"):
        name = "WebM" if b"webm" in head[:64] else "MKV"
    elif head.startswith(b"OggS"):
        name = "Ogg"
    return None if name is None else _BY_NAME[name]


def image_format_of_head(head: bytes) -> str | None:
    """Pillow's name (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ``"TIFF"``) of the picture format the
    first bytes show, or None for anything else (:func:`format_of_head` decides)."""
    fmt = format_of_head(head)
    return PILLOW_NAMES.get(fmt.name) if fmt is not None else None


def image_format_of_file(path: str | os.PathLike[str]) -> str | None:
    """:func:`image_format_of_head` of a file's first bytes; None when it cannot be read."""
    from marking.media.atomic import open_regular

    try:
        with open_regular(path) as stream:
            head = stream.read(64)
    except OSError:
        return None
    return image_format_of_head(head)


def suffix_format(path: str | os.PathLike[str]) -> MediaFormat | None:
    """The format ``path``'s suffix promises, or None for a suffix no format claims."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt in FORMATS if suffix in fmt.suffixes), None)


def suffix_mismatch(
    path: str | os.PathLike[str],
    written: str,
    fits: tuple[str, ...] = (),
    source: str | os.PathLike[str] | None = None,
    *,
    expected: Sequence[str] = (),
) -> str | None:
    """Why an output named ``path`` would lie about its format, or None.

    ``written`` names what is written (``"a WAV file"``), ``fits`` the table's formats whose
    suffixes suit it, ``expected`` the suffixes to suggest. A suffix no format claims (``.xyz``)
    or none at all is refused too, naming ``expected``; the suffix of the ``source`` itself is
    accepted: a file named against its content keeps the name it was given.
    """
    promised = suffix_format(path)
    if promised is not None and promised.name in fits:
        return None
    suffix = Path(path).suffix
    if source is not None and Path(source).suffix.lower() == suffix.lower():
        return None
    if promised is None:
        said = f"the suffix {suffix} names no format" if suffix else "the name has no suffix"
        hint = f": name it {', '.join(expected)}" if expected else ""
        return f"{os.fspath(path)}: {said}; the output is {written}{hint}"
    return (
        f"{os.fspath(path)}: the suffix {suffix} means {promised.name}, but the output is {written}"
    )


def suffixes_of(*names: str) -> tuple[str, ...]:
    """The suffixes that promise the formats ``names`` (names of :data:`FORMATS`), in order."""
    return tuple(suffix for name in names if name in _BY_NAME for suffix in _BY_NAME[name].suffixes)


def label_refusal(fmt: MediaFormat) -> str:
    """Why ``fmt`` takes no metadata label: one line, the same for ``tag`` and ``mark``."""
    return (
        f"{fmt.name} files have no place for the GB 45438 label (it goes into {LABEL_FORMATS} "
        "files)"
    )


def is_mpeg_audio(head: bytes) -> bool:
    """Whether ``head`` starts with an MPEG audio frame header (MP3, MP2, MP1; not AAC ADTS).

    Every MPEG version: 1 (32-48 kHz, sync ``FF FB``), 2 (16-24 kHz, ``FF F3``) and 2.5 (8-12
    kHz, ``FF E3``), with or without a CRC (``FF FA``, ``FF F2``, ``FF E2``), any layer. The
    reserved values (version 01, layer 00: ADTS AAC, bit rate 1111, sample rate 11) are not.
    """
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = head[1] >> 3 & 0b11, head[1] >> 1 & 0b11
    bitrate, rate = head[2] >> 4, head[2] >> 2 & 0b11
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111 and rate != 0b11


def media_kind(path: str | os.PathLike[str]) -> str:
    """``"image"``, ``"audio"`` or ``"video"``; a one-line InputError when it is none of them."""
    from marking.media.atomic import file_error, open_input

    file = Path(path)
    # Only a regular file is opened (a FIFO would block, a device such as /dev/zero never ends).
    with open_input(file) as stream:
        try:
            head = stream.read(64)
        except OSError as error:
            raise file_error(InputError, path, error.strerror or str(error)) from None
    if not head:
        raise file_error(InputError, path, "file is empty")
    fmt = format_of_head(head)
    if fmt is None:
        raise file_error(UnsupportedInputError, path, "not a supported image, audio or video file")
    if fmt.refused is not None:
        raise file_error(UnsupportedInputError, path, fmt.refused)
    return fmt.kind or _container_kind(file)


def _container_kind(file: Path) -> str:
    """Video when the container has a video stream (cover art aside), else audio."""
    import av

    from marking.media.atomic import file_error, open_input

    try:
        # FFmpeg reads the file through the descriptor open_input checked (no second open).
        with open_input(file) as stream, av.open(stream) as container:
            for video in container.streams.video:
                if not video.disposition & getattr(av.stream.Disposition, "attached_pic", 0):
                    return VIDEO
            if container.streams.audio:
                return AUDIO
    except (av.error.FFmpegError, OSError, ValueError) as error:
        # FFmpeg's errors read "[Errno N] reason: 'path'"; keep the reason only.
        reason = getattr(error, "strerror", None) or str(error)
        raise file_error(InputError, file, f"cannot read the container ({reason})") from None
    raise file_error(UnsupportedInputError, file, "the container holds no audio or video")
