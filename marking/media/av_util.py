"""The PyAV helpers every reader and writer of audio-video containers shares.

PyAV imported on first use (the command line starts without it), a file opened with the
project's one-line errors, the first line of FFmpeg's error text, the check that a file
holds every packet it declares, and the one rule for copying a stream packet for packet
(used by :func:`marking.media.transcode.transcode` and by the label remux in
:mod:`marking.media.remux`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marking.errors import InputError, UnsupportedInputError
from marking.media.atomic import StrPath, display_path, input_file_problem

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer
    from av.video.stream import VideoStream

#: Per-stream tags that describe the *old* encoding and would be stale after re-encoding.
STALE_TAGS = frozenset(
    {"encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "vendor_id"}
)
#: Container tags the muxer writes itself; copying the old value would be stale or doubled.
CONTAINER_SKIP_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})
#: Why a QuickTime timecode track is not copied into MP4 or MOV: it is not lost.
TIMECODE_REWRITTEN = "timecode track: rewritten from the video stream's timecode tag"
#: Why an MP4/MOV chapter track is not copied: the muxer writes it from the chapters.
CHAPTERS_REWRITTEN = "chapter track: rewritten from the chapters"
_REWRITTEN = (TIMECODE_REWRITTEN, CHAPTERS_REWRITTEN)


def av() -> Any:
    """PyAV, imported on first use so the command line starts fast without it."""
    try:
        import av
    except ImportError as error:  # pragma: no cover - av is a declared dependency
        raise UnsupportedInputError("video support needs PyAV: pip install av") from error
    return av


def first_line(error: BaseException) -> str:
    """The first line of an error's text (FFmpeg's can run to several), or its type's name."""
    text = (getattr(error, "strerror", None) or str(error) or "").strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_input_file(path: StrPath, what: str = "video") -> Path:
    """``path`` as a Path, or a one-line :class:`InputError` if it is not a readable file
    (missing, a directory, a FIFO or device, empty, unreadable)."""
    problem = input_file_problem(path, what)
    if problem:
        raise InputError(f"{display_path(path)}: {problem}")
    return Path(path)


@contextlib.contextmanager
def open_input(path: StrPath, what: str = "video") -> Iterator[InputContainer]:
    """Open a media file for reading, mapping FFmpeg's failures onto :class:`InputError`.

    ``what`` names the kind of file in messages ("video", "audio or video").
    """
    library = av()
    source = check_input_file(path, what)
    shown = display_path(source)
    try:
        container = library.open(os.fspath(source), "r", metadata_errors="replace")
    except library.error.InvalidDataError:
        raise InputError(
            f"{shown}: not a readable {what} file (truncated, corrupt or not media)"
        ) from None
    except library.FFmpegError as error:
        raise InputError(f"{shown}: cannot open: {first_line(error)}") from None
    with container:
        yield container


def cut_short(packet: Any, file_size: int) -> bool:
    """Whether the file ends inside ``packet``: the demuxer read fewer bytes than the index
    promised (it flags such a packet corrupt) and the packet runs to the end of the file.

    A faststart MP4 (index first) cut inside its media data still lists every frame; the
    last packet it yields is then a stump. Decoding a stump fails ("Invalid data") or gives
    a half-drawn frame, so readers skip it: the file is truncated, not corrupt.
    """
    if not packet.is_corrupt or not packet.size:
        return False
    position = packet.pos
    return position is not None and position >= 0 and position + packet.size >= file_size


def tag_seconds(text: str | None) -> float | None:
    """Seconds of a Matroska DURATION tag such as ``00:00:02.000000000``."""
    if not text:
        return None
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class Completeness:
    """Notices a truncated input: fewer packets, or an earlier end, than the file declares.

    Made for what a reader goes through: :meth:`of_video` for one video stream (its declared
    frames and duration, or a Matroska DURATION tag), :meth:`of_file` for every stream of a
    file (the declared packets of its sound and pictures, the container's duration). Feed
    it the packets read (:meth:`add`), then :meth:`check`.
    """

    def __init__(
        self,
        declared: dict[int, tuple[str, int]],
        start: float,
        duration: float | None,
        slack: float,
        subject: str,
        time_base: Fraction | None = None,
    ) -> None:
        self.declared = declared  # stream index -> (stream type, packets it lists)
        self.start, self.duration, self.slack, self.subject = start, duration, slack, subject
        self.time_base = time_base  # for packets that carry none
        self.counts: dict[int, int] = {}
        self.end = start
        self.longest = 0.0  # the longest packet: the slack allowed at the end

    @classmethod
    def of_video(cls, stream: VideoStream, rate: Fraction) -> Completeness:
        """The check for the video stream ``stream`` (frame rate ``rate``) alone."""
        time_base = Fraction(stream.time_base) if stream.time_base else 1 / rate
        start = float((stream.start_time or 0) * time_base)
        duration = float(stream.duration * time_base) if stream.duration else None
        if duration is None:
            duration = tag_seconds(stream.metadata.get("DURATION"))
        declared = {stream.index: ("video", stream.frames)} if stream.frames else {}
        return cls(declared, start, duration, max(0.1, 2 / float(rate)), "video", time_base)

    @classmethod
    def of_file(cls, container: InputContainer) -> Completeness:
        """The check for every stream of ``container``."""
        # Packet counts of sound and pictures only: a subtitle track's count includes the
        # empty closing sample the MP4 muxer writes, which the demuxer does not return.
        declared = {
            s.index: (s.type, s.frames)
            for s in container.streams
            if s.frames and s.type in ("audio", "video")
        }
        duration = container.duration / 1_000_000 if container.duration else None
        start = container.start_time / 1_000_000 if container.start_time else 0.0
        return cls(declared, start, duration, 0.1, "file")

    @property
    def packets(self) -> int:
        """Packets counted so far, all streams."""
        return sum(self.counts.values())

    def add(self, packet: Any) -> None:
        """Count one demuxed packet (a demuxer's flush marker is not one)."""
        if not packet.size and packet.dts is None:
            return
        index = packet.stream.index
        self.counts[index] = self.counts.get(index, 0) + 1
        time_base = packet.time_base or self.time_base
        if packet.pts is not None and time_base:
            length = float((packet.duration or 0) * time_base)
            self.end = max(self.end, float(packet.pts * time_base) + length)
            self.longest = max(self.longest, length)

    def check(self, shown: str) -> None:
        """Raise a one-line :class:`InputError` ("truncated: ...") if packets are missing."""
        for index, (kind, listed) in self.declared.items():
            present = self.counts.get(index, 0)
            if present < listed:
                raise InputError(
                    f"{shown}: truncated: stream {index} lists {listed} {kind} packets, "
                    f"only {present} are present"
                )
        slack = max(self.slack, self.longest)
        if self.duration is not None and self.end < self.start + self.duration - slack:
            raise InputError(
                f"{shown}: truncated: the {self.subject} should last {self.duration:.2f} s, "
                f"its data ends at {self.end - self.start:.2f} s"
            )


def copy_metadata(into: Any, tags: dict[str, str], skip: frozenset[str]) -> None:
    """Copy ``tags`` into the mapping ``into``, but the ``skip`` keys and FFmpeg statistics."""
    into.update(
        {
            key: value
            for key, value in tags.items()
            if key.lower() not in skip and not key.lower().startswith("_statistics")
        }
    )


def _uses_mdta(output: OutputContainer) -> bool:
    """Whether an MP4/MOV output writes its tags as mdta keys (``use_metadata_tags``)."""
    return "use_metadata_tags" in str((output.options or {}).get("movflags", ""))


def is_cover(stream: Any) -> bool:
    """Whether ``stream`` is an attached picture (cover art), not a moving picture."""
    return bool(stream.disposition & av().stream.Disposition.attached_pic)


def add_stream_copy(
    output: OutputContainer,
    stream: Any,
    skip_tags: frozenset[str] = STALE_TAGS,
    chapters: bool = False,
) -> tuple[Any | None, str | None]:
    """An output stream taking ``stream``'s packets unchanged, or None and why not.

    The one rule for every remux and transcode. A data stream whose codec the muxer does not
    know is not added (the muxer would fail when writing its header); a QuickTime timecode
    track (no codec id) and an MP4/MOV chapter track (``chapters``: the input has chapters,
    copied as chapters) are among those, and the muxer writes them anew, so the reason says
    rewritten, not lost. Cover art cannot go into an MP4/MOV whose tags are mdta keys (the
    muxer writes it in the iTunes tag list only). The copy gets ``stream``'s tags (but
    ``skip_tags``), disposition and frame rate (which MOV timecode tracks are timed by).
    """
    library = av()
    codec = stream.codec_context.name if stream.codec_context else stream.name
    iso = output.format.name in ("mp4", "mov", "ipod")
    if stream.type == "data" and codec not in output.supported_codecs:
        if "timecode" in stream.metadata and iso:
            return None, TIMECODE_REWRITTEN
        if chapters and codec == "bin_data" and iso:
            return None, CHAPTERS_REWRITTEN
        return None, f"{output.format.name} cannot store {codec or 'untyped'} data streams"
    attached = is_cover(stream)
    if attached and iso and _uses_mdta(output):
        return None, (
            "cover art cannot be kept: the MP4 muxer writes it only beside iTunes-style "
            "tags, not the mdta tags the AIGC label needs"
        )
    try:
        copy = output.add_stream_from_template(stream)
    except (ValueError, library.FFmpegError) as error:
        return None, first_line(error)
    copy_metadata(copy.metadata, dict(stream.metadata), skip_tags)
    copy.disposition = stream.disposition
    if stream.type == "video" and not attached and stream.average_rate:
        copy.codec_context.framerate = stream.average_rate
    return copy, None


def dropped_stream_note(index: int, kind: str, codec: str | None, reason: str) -> str | None:
    """The note that says a stream was left out of an output (None for a rewritten timecode)."""
    if reason in _REWRITTEN:
        return None
    return f"stream {index} ({kind}, {codec or 'untyped'}) not copied: {reason}"


__all__ = [
    "CHAPTERS_REWRITTEN",
    "CONTAINER_SKIP_TAGS",
    "STALE_TAGS",
    "TIMECODE_REWRITTEN",
    "Completeness",
    "add_stream_copy",
    "av",
    "check_input_file",
    "copy_metadata",
    "cut_short",
    "dropped_stream_note",
    "first_line",
    "is_cover",
    "open_input",
    "tag_seconds",
]
