"""What a video file holds: :func:`probe_video` (container, codec, size, pixel format, timing,
colour, rotation, other streams), :func:`video_duration` and :func:`truncation`.

Every way a file can be unusable becomes one :class:`~marking.errors.InputError` with a
one-line message. Also the facts of a video stream the frame reader and the transcoder
share: which stream is the video, its frame rate, the layout of a pixel format's planes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marking.errors import InputError, UnsupportedInputError
from marking.media.atomic import StrPath, display_path
from marking.media.av_util import (
    Completeness,
    av,
    cut_short,
    first_line,
    is_cover,
    open_input,
)
from marking.media.interrupts import check as check_interrupted

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

#: FFmpeg colour enums (libavutil/pixfmt.h) by value, for readable reports.
COLOR_RANGES = {0: "unspecified", 1: "tv", 2: "pc"}
COLORSPACES = {
    0: "rgb",
    1: "bt709",
    2: "unspecified",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    14: "ictcp",
}
COLOR_PRIMARIES = {1: "bt709", 2: "unspecified", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"}
COLOR_TRCS = {
    1: "bt709",
    2: "unspecified",
    6: "smpte170m",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}


# --- descriptions ------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a file other than the video stream being processed."""

    index: int
    type: str  # "audio", "subtitle", "data", "attachment", "video"
    codec: str | None
    time_base: Fraction | None
    duration_s: float | None
    language: str | None


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learned about a file and its (first) video stream."""

    path: str
    container: str  # one of CONTAINERS
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    chroma_subsampling: tuple[int, int]  # horizontal, vertical factors: (2, 2) for 4:2:0
    frame_rate: Fraction
    time_base: Fraction
    duration_s: float
    frame_count: int  # exact when the container indexes frames, else duration x rate
    rotation: int  # counter-clockwise degrees to turn the coded picture for display
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    video_index: int
    streams: tuple[StreamInfo, ...] = ()

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown, after the rotation."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["frame_rate"] = str(self.frame_rate)
        record["time_base"] = str(self.time_base)
        record["color_range"] = COLOR_RANGES.get(self.color_range, str(self.color_range))
        record["colorspace"] = COLORSPACES.get(self.colorspace, str(self.colorspace))
        record["color_primaries"] = COLOR_PRIMARIES.get(
            self.color_primaries, str(self.color_primaries)
        )
        record["color_trc"] = COLOR_TRCS.get(self.color_trc, str(self.color_trc))
        record["streams"] = [
            {**asdict(s), "time_base": None if s.time_base is None else str(s.time_base)}
            for s in self.streams
        ]
        return record


def container_name(container: InputContainer, source: Path) -> str:
    """One of CONTAINERS for an open input, or :class:`UnsupportedInputError`."""
    names = set(container.format.name.split(","))
    suffix = source.suffix.lower()
    if "mp4" in names or "mov" in names:
        brand = str(container.metadata.get("major_brand", "")).strip()
        return "mov" if suffix in (".mov", ".qt") or brand == "qt" else "mp4"
    if "matroska" in names or "webm" in names:
        if suffix == ".webm":
            return "webm"
        codecs = {s.codec_context.name for s in container.streams if s.codec_context}
        webm_codecs = {"vp8", "vp9", "av1", "opus", "vorbis", "webvtt"}
        if suffix != ".mkv" and codecs and codecs <= webm_codecs:
            return "webm"
        return "matroska"
    raise UnsupportedInputError(
        f"{display_path(source)}: {container.format.long_name or container.format.name} is "
        "not a supported video container (MP4, MOV, MKV, WebM)"
    )


def video_stream(container: InputContainer, shown: str) -> VideoStream:
    """The first video stream that is not a cover picture."""
    for stream in container.streams.video:
        if not is_cover(stream):
            return stream
    raise UnsupportedInputError(f"{shown}: has no video stream")


def plane_layout(pix_fmt: str) -> tuple[int, tuple[int, int], np.dtype[Any]]:
    """(bit depth, chroma subsampling factors, plane dtype) of a supported pixel format."""
    library = av()
    fmt = library.VideoFormat(pix_fmt)
    planes = [c.plane for c in fmt.components]
    supported = (
        not fmt.is_rgb
        and not fmt.has_palette
        and not fmt.is_bit_stream
        and not fmt.is_big_endian
        and not fmt.is_bayer
        and len(set(planes)) == len(planes)  # one component per plane: no NV12, no packed
        and all(1 <= c.bits <= 16 for c in fmt.components)
    )
    if not supported:
        raise UnsupportedInputError(
            f"pixel format {pix_fmt} is not supported (planar YUV or grey, up to 16 bits)"
        )
    depth = fmt.components[0].bits
    probe = library.VideoFormat(pix_fmt, 64, 64)
    chroma = (64 // probe.chroma_width(), 64 // probe.chroma_height())
    return depth, chroma, np.dtype(np.uint8 if depth <= 8 else "<u2")


def frame_rate(stream: VideoStream) -> Fraction:
    """The stream's frame rate: average, else guessed, else base, else 25."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)


def _other_streams(container: InputContainer, video_index: int) -> tuple[StreamInfo, ...]:
    infos = []
    for stream in container.streams:
        if stream.index == video_index:
            continue
        tb = stream.time_base
        duration = None if stream.duration is None or tb is None else float(stream.duration * tb)
        ctx = stream.codec_context
        codec = ctx.name if ctx is not None else None
        infos.append(
            StreamInfo(
                index=stream.index,
                type=stream.type,
                codec=codec,
                time_base=Fraction(tb) if tb is not None else None,
                duration_s=duration,
                language=stream.metadata.get("language"),
            )
        )
    return tuple(infos)


# --- probing -----------------------------------------------------------------------------


def probe_video(path: StrPath) -> VideoInfo:
    """Describe a video file; decodes its first frame to make sure it really is decodable."""
    library = av()
    source = Path(path)
    shown = display_path(source)
    with open_input(source) as container:
        name = container_name(container, source)
        stream = video_stream(container, shown)
        stream.thread_type = "AUTO"
        first = None
        size = source.stat().st_size
        cut = False
        try:
            for packet in container.demux(stream):
                check_interrupted()  # a safe point: see marking.media.interrupts
                if cut_short(packet, size):
                    cut = True
                    continue
                for frame in stream.decode(packet):
                    first = frame
                    break
                if first is not None:
                    break
        except library.FFmpegError as error:
            raise InputError(f"{shown}: corrupt video data: {first_line(error)}") from error
        if first is None:
            raise InputError(no_frames_message(shown, cut))
        pix_fmt = first.format.name
        depth, chroma, _ = plane_layout(pix_fmt)
        rate = frame_rate(stream)
        time_base = Fraction(stream.time_base) if stream.time_base else 1 / rate
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frame_count = stream.frames or round(duration * rate)
        ctx = stream.codec_context
        return VideoInfo(
            path=os.fspath(source),
            container=name,
            codec=ctx.name,
            width=first.width,
            height=first.height,
            pix_fmt=pix_fmt,
            bit_depth=depth,
            chroma_subsampling=chroma,
            frame_rate=rate,
            time_base=time_base,
            duration_s=duration,
            frame_count=int(frame_count),
            rotation=int(first.rotation) % 360,
            color_range=int(first.color_range or ctx.color_range),
            colorspace=int(first.colorspace),
            color_primaries=int(first.color_primaries),
            color_trc=int(first.color_trc),
            video_index=stream.index,
            streams=_other_streams(container, stream.index),
        )


def video_duration(path: StrPath) -> float:
    """Seconds from the first video frame to the end of the last, read from packet timestamps.

    For files that do not declare a duration; demuxes the video packets without decoding.
    """
    source = Path(path)
    shown = display_path(source)
    library = av()
    with open_input(source) as container:
        stream = video_stream(container, shown)
        rate = frame_rate(stream)
        time_base = Fraction(stream.time_base) if stream.time_base else 1 / rate
        first: int | None = stream.start_time
        end = None
        try:
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                stop = packet.pts + (packet.duration or round(1 / rate / time_base))
                end = stop if end is None else max(end, stop)
        except library.FFmpegError as error:
            raise InputError(f"{shown}: corrupt video data: {first_line(error)}") from error
    if end is None or first is None:
        return 0.0
    return float((end - first) * time_base)


def no_frames_message(shown: str, cut: bool) -> str:
    """The message for a video stream that gave no frame (``cut``: the file ends inside one)."""
    if cut:
        return f"{shown}: truncated: the file ends before its first complete video frame"
    return f"{shown}: the video stream has no decodable frames (truncated?)"


def truncation(path: StrPath) -> str | None:
    """Why ``path`` looks truncated (one line, without the file name), or None if it does not.

    Reads the packets without decoding them: fewer video packets, or an earlier end, than the
    container declares, or a last packet the file ends inside. Readers (detection,
    verification) look at the frames that are there; this says that they are not all there.
    """
    library = av()
    source = Path(path)
    shown = display_path(source)
    with open_input(source) as container:
        stream = video_stream(container, shown)
        completeness = Completeness.of_video(stream, frame_rate(stream))
        size = source.stat().st_size
        cut = None
        try:
            for packet in container.demux():
                if cut_short(packet, size):
                    cut = packet.stream.type
                elif packet.stream.index == stream.index:
                    completeness.add(packet)
        except library.FFmpegError as error:
            frames_read = completeness.packets
            return f"unreadable data after {frames_read} video frames: {first_line(error)}"
    try:
        completeness.check(shown)
    except InputError as error:
        return str(error).removeprefix(f"{shown}: ").removeprefix("truncated: ")
    if cut is not None:
        return f"the file ends inside its last {cut} packet"
    return None


__all__ = [
    "COLORSPACES",
    "COLOR_PRIMARIES",
    "COLOR_RANGES",
    "COLOR_TRCS",
    "StreamInfo",
    "VideoInfo",
    "container_name",
    "frame_rate",
    "no_frames_message",
    "plane_layout",
    "probe_video",
    "truncation",
    "video_duration",
    "video_stream",
]
