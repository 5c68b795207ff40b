"""Which kind of media a file holds (image, audio or video), judged by its content.

Extensions lie; the first bytes rarely do. Containers that can hold either sound or pictures
(MP4, Matroska, Ogg) are opened with PyAV to see which streams they carry.
"""

from __future__ import annotations

import os
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

#: File suffixes that promise media: a file found by walking a directory whose content is not
#: media is reported as failed under one of these names (a corrupt picture), skipped otherwise
#: (a README next to the renders).
MEDIA_SUFFIXES = frozenset(
    {
        *IMAGE_SUFFIX_FORMATS,
        *(".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff"),
        *(".aifc", ".caf", ".w64", ".rf64", ".m4a", ".mp4", ".m4v", ".mov", ".mkv"),
        ".webm",
    }
)

_IMAGE_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)
_AUDIO_MAGIC = (
    b"fLaC",
    b"ID3",
    b"caff",  # Core Audio Format
    b"RF64",  # WAV over 4 GiB
    b"riff\x2e\x91\xcf\x11",  # Sony Wave64
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
    from marking.atomic import file_error, open_input

    file = Path(path)
    # Only a regular file is opened (a FIFO would block, a device such as /dev/zero never ends).
    with open_input(file) as stream:
        try:
            head = stream.read(64)
        except OSError as error:
            raise file_error(InputError, path, error.strerror or str(error)) from None
    if not head:
        raise file_error(InputError, path, "file is empty")
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return IMAGE
    if head.startswith(_AUDIO_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
        return AUDIO
    if is_mpeg_audio(head):
        return AUDIO
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return AUDIO
    if head[4:8] == b"ftyp" or head.startswith((b"\x1a\x45\xdf\xa3", b"OggS")):
        return _container_kind(file)
    raise file_error(UnsupportedInputError, path, "not a supported image, audio or video file")


def _container_kind(file: Path) -> str:
    """Video when the container has a video stream (cover art aside), else audio."""
    import av

    from marking.atomic import file_error, open_input

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
