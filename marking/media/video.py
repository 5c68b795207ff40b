"""Reading and re-encoding video files: the one streaming transcode every video feature shares.

:func:`probe_video` describes a file (container, codec, size, pixel format, timing, colour,
rotation, other streams) and turns every way a file can be unusable into one
:class:`~marking.errors.InputError` with a one-line message. :func:`transcode` decodes the first
video stream one frame at a time, lets a callback edit the decoded planes *in place* (Y, U, V of
the decoded pixel format: no RGB round trip, no colour conversion loss), re-encodes them with
the same size, frame rate, time base, pixel format and colour metadata, and copies every other
stream (audio, subtitles, data) packet for packet. Given ``process_audio``, it also decodes the
first audio stream, passes its samples through a streaming processor (the audio watermark's
embedder) and re-encodes them with the source's codec, rate, layout and bit rate, in the same
pass. :func:`frames` is the read-only twin for detectors. Memory stays bounded whatever the
duration: one decoded frame at a time, plus what the encoders, the audio processor and the
muxer buffer internally.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.media.atomic import StrPath, atomic_write, check_output_path, display_path
from marking.media.interrupts import check as check_interrupted
from marking.media.sniffing import suffix_mismatch

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

#: Containers we read and write, by the name PyAV's muxer knows them by.
CONTAINERS = ("mp4", "mov", "matroska", "webm")
_CONTAINER_NAMES = {"mp4": "MP4", "mov": "MOV", "matroska": "MKV", "webm": "WebM"}
_SUFFIX_CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".qt": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
}
#: The encoder used when :class:`EncoderSettings` names none.
DEFAULT_CODECS = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "webm": "libvpx-vp9"}
#: Encoders that take ``crf`` and ``preset`` the x264 way.
_X26X = ("libx264", "libx265")
_X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
#: libvpx has no presets: x264's names map to its speed knob (cpu-used, 0 slowest).
_VP9_CPU_USED = dict(zip(_X264_PRESETS, (8, 7, 6, 5, 4, 3, 2, 1, 0, 0), strict=True))
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
#: Per-stream tags that describe the *old* encoding and would be stale after re-encoding.
_STALE_TAGS = frozenset(
    {"encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "vendor_id"}
)
#: Container tags the MP4/MOV muxer writes natively; any other key needs ``use_metadata_tags``.
_MOV_NATIVE_TAGS = frozenset(
    {
        "title", "artist", "author", "album", "album_artist", "comment", "composer",
        "copyright", "date", "description", "encoder", "genre", "grouping", "lyrics",
        "synopsis", "show", "episode_id", "network", "track", "disc", "creation_time",
        "location", "keywords", "compilation", "media_type", "rating", "handler_name",
        "language",
    }
)  # fmt: skip
_CONTAINER_SKIP_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})

#: Audio encoders by the source codec's name, best first; other codecs try their own name.
_AUDIO_ENCODERS = {
    "aac": ("aac", "libfdk_aac"),
    "opus": ("libopus", "opus"),
    "mp3": ("libmp3lame",),
    "vorbis": ("libvorbis", "vorbis"),
}
#: The encoder used when the source's audio codec cannot be encoded or stored in the output.
_FALLBACK_AUDIO = {"mp4": "aac", "mov": "aac", "matroska": "libopus", "webm": "libopus"}
#: Bit rate per channel when the source's is unknown: 128 kb/s per stereo pair.
_AUDIO_BITS_PER_CHANNEL = 64_000
#: Packed sample formats PyAV turns into NumPy arrays (and their planar twins).
_NUMPY_SAMPLE_FORMATS = frozenset({"u8", "s16", "s32", "flt", "dbl"})
#: Full scale of integer sample formats, by bytes per sample (u8 is offset by 128).
_INT_FULL_SCALE = {1: 128.0, 2: 32768.0, 4: 2147483648.0}
#: Samples of silence pushed at a time when filling a gap in the audio timestamps.
_GAP_BLOCK = 48_000

ProcessFrame = Callable[[list[np.ndarray], "FrameInfo"], None]


class AudioProcessor(Protocol):
    """A streaming sound editor, as :class:`marking.AudioEmbedder` is.

    ``push`` takes float32 samples of shape (n, channels) and returns the samples that are
    final, float of shape (m, channels), possibly none and possibly later than their input;
    ``finish`` returns the rest. Output sample k is input sample k: a processor may delay
    delivery, never shift time. Returned samples are clipped to [-1, 1] before encoding.
    """

    def push(self, samples: np.ndarray) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


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


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """One decoded frame, as :func:`transcode` and :func:`frames` hand it over.

    ``time`` is in seconds from the start of the video stream (pts x time base; frames without
    a pts are timed by their index and the frame rate). ``max_value`` is the largest sample
    value (255 for 8-bit, 1023 for 10-bit); the planes' dtype is uint8 up to 8 bits, else
    uint16.
    """

    index: int
    pts: int | None
    time: float
    time_base: Fraction
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    chroma_subsampling: tuple[int, int]
    color_range: int
    colorspace: int
    color_trc: int
    rotation: int

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1


@dataclass(frozen=True)
class AudioStreamInfo:
    """The audio stream :func:`transcode` hands to a ``process_audio`` factory.

    ``bit_rate`` is the source's (bits per second; None when the file does not say).
    Samples reach the processor at ``sample_rate`` with ``channels`` columns, in the order of
    ``layout`` (an FFmpeg layout name such as ``"stereo"`` or ``"5.1(side)"``).
    """

    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    sample_format: str
    bit_rate: int | None
    time_base: Fraction | None


ProcessAudio = Callable[[AudioStreamInfo], AudioProcessor | None]


@dataclass(frozen=True)
class EncoderSettings:
    """How the processed video stream is encoded (audio: see :func:`transcode`).

    ``codec`` None picks libx264 (MP4, MOV, MKV) or libvpx-vp9 (WebM). ``crf`` and ``preset``
    apply to libx264/libx265 (libvpx-vp9 takes ``crf`` and maps the preset to ``cpu-used``);
    ``bitrate`` (bits per second) replaces CRF with a target rate. ``extra_options`` go to the
    encoder as FFmpeg options (for example ``{"tune": "film"}``). ``container`` None keeps the
    input's container.
    """

    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    bitrate: int | None = None
    extra_options: dict[str, str] = field(default_factory=dict)
    container: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise UsageError("crf must be between 0 and 63")
        if self.preset not in _X264_PRESETS:
            raise UsageError(f"preset must be one of {', '.join(_X264_PRESETS)}")
        if self.bitrate is not None and self.bitrate <= 0:
            raise UsageError("bitrate must be positive")
        if self.container is not None and self.container not in CONTAINERS:
            raise UsageError(f"container must be one of {', '.join(CONTAINERS)}")


@dataclass
class TranscodeReport:
    """What :func:`transcode` did, for logs and JSON output."""

    input: str
    output: str
    container: str
    codec_in: str
    encoder: str
    width: int
    height: int
    pix_fmt_in: str
    pix_fmt_out: str
    frames: int = 0
    duration_s: float = 0.0
    copied_streams: list[dict[str, Any]] = field(default_factory=list)
    skipped_streams: list[dict[str, Any]] = field(default_factory=list)
    timestamp_fixes: int = 0
    corrupt_frames: int = 0  # frames the decoder flagged as damaged (errors concealed)
    # The first audio stream: {"index", "action": "copied" | "skipped" | "re-encoded", ...};
    # None without audio. Re-encoded, it names codec_in, encoder, bit_rate, sample rates,
    # channels, layout, fallback (why the source codec was not kept, or None), samples_in,
    # samples_out, gap_samples (silence put in timestamp gaps) and dropped_packets.
    audio: dict[str, Any] | None = None
    seconds: float = 0.0
    #: What changed on the way that a user should know (a stream the container cannot hold,
    #: 4:4:4 chroma for an odd size): one sentence each, printed by the commands.
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- helpers -----------------------------------------------------------------------------


def _av() -> Any:
    """PyAV, imported on first use so the command line starts fast without it."""
    try:
        import av
    except ImportError as error:  # pragma: no cover - av is a declared dependency
        raise UnsupportedInputError("video support needs PyAV: pip install av") from error
    return av


def _first_line(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _check_input_file(path: StrPath) -> Path:
    source = Path(path)
    shown = display_path(source)
    if not source.exists():
        raise InputError(f"{shown}: no such file")
    if source.is_dir():
        raise InputError(f"{shown}: is a directory, not a video file")
    try:
        size = source.stat().st_size
    except OSError as error:
        raise InputError(f"{shown}: cannot read: {error.strerror}") from error
    if size == 0:
        raise InputError(f"{shown}: file is empty")
    if not os.access(source, os.R_OK):
        raise InputError(f"{shown}: permission denied")
    return source


def _cut_short(packet: Any, file_size: int) -> bool:
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


@contextlib.contextmanager
def _open_input(path: StrPath) -> Iterator[InputContainer]:
    """Open a media file for reading, mapping FFmpeg's failures onto :class:`InputError`."""
    av = _av()
    source = _check_input_file(path)
    shown = display_path(source)
    try:
        container = av.open(os.fspath(source), "r", metadata_errors="replace")
    except av.error.InvalidDataError as error:
        raise InputError(
            f"{shown}: not a readable video file (truncated, corrupt or not media)"
        ) from error
    except av.FFmpegError as error:
        raise InputError(f"{shown}: cannot open: {_first_line(error)}") from error
    with container:
        yield container


def _container_name(container: InputContainer, source: Path) -> str:
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


def _video_stream(container: InputContainer, shown: str) -> VideoStream:
    """The first video stream that is not a cover picture."""
    av = _av()
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise UnsupportedInputError(f"{shown}: has no video stream")


def _plane_layout(pix_fmt: str) -> tuple[int, tuple[int, int], np.dtype[Any]]:
    """(bit depth, chroma subsampling factors, plane dtype) of a supported pixel format."""
    av = _av()
    fmt = av.VideoFormat(pix_fmt)
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
    probe = av.VideoFormat(pix_fmt, 64, 64)
    chroma = (64 // probe.chroma_width(), 64 // probe.chroma_height())
    return depth, chroma, np.dtype(np.uint8 if depth <= 8 else "<u2")


def _frame_rate(stream: VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)


def _display_matrix(frame: VideoFrame) -> list[int] | None:
    """The frame's display matrix (9 int32), or None."""
    av = _av()
    with contextlib.suppress(KeyError, TypeError, ValueError):
        data = bytes(frame.side_data[av.sidedata.sidedata.Type.DISPLAYMATRIX])
        if len(data) == 36:
            return np.frombuffer(data, dtype="<i4").tolist()
    return None


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
    av = _av()
    source = Path(path)
    shown = display_path(source)
    with _open_input(source) as container:
        name = _container_name(container, source)
        stream = _video_stream(container, shown)
        stream.thread_type = "AUTO"
        first = None
        size = source.stat().st_size
        cut = False
        try:
            for packet in container.demux(stream):
                check_interrupted()  # a safe point: see marking.media.interrupts
                if _cut_short(packet, size):
                    cut = True
                    continue
                for frame in stream.decode(packet):
                    first = frame
                    break
                if first is not None:
                    break
        except av.FFmpegError as error:
            raise InputError(f"{shown}: corrupt video data: {_first_line(error)}") from error
        if first is None:
            raise InputError(_no_frames(shown, cut))
        pix_fmt = first.format.name
        depth, chroma, _ = _plane_layout(pix_fmt)
        rate = _frame_rate(stream)
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
    av = _av()
    with _open_input(source) as container:
        stream = _video_stream(container, shown)
        rate = _frame_rate(stream)
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
        except av.FFmpegError as error:
            raise InputError(f"{shown}: corrupt video data: {_first_line(error)}") from error
    if end is None or first is None:
        return 0.0
    return float((end - first) * time_base)


# --- frames ------------------------------------------------------------------------------


class _Clock:
    """Turns decoded frames into :class:`FrameInfo`, times measured from the stream start."""

    def __init__(self, stream: VideoStream) -> None:
        self.rate = _frame_rate(stream)
        self.time_base = Fraction(stream.time_base) if stream.time_base else 1 / self.rate
        self.origin: int | None = stream.start_time
        self.layout: tuple[str, tuple[int, tuple[int, int], np.dtype[Any]]] | None = None

    def info(self, frame: VideoFrame, index: int) -> tuple[FrameInfo, np.dtype[Any]]:
        pix_fmt = frame.format.name
        if self.layout is None or self.layout[0] != pix_fmt:
            self.layout = (pix_fmt, _plane_layout(pix_fmt))
        depth, chroma, dtype = self.layout[1]
        pts = frame.pts
        if pts is not None and self.origin is None:
            self.origin = pts
        # Frames without a pts are timed by their index.
        seconds = index / self.rate if pts is None else (pts - (self.origin or 0)) * self.time_base
        info = FrameInfo(
            index=index,
            pts=pts,
            time=float(seconds),
            time_base=self.time_base,
            width=frame.width,
            height=frame.height,
            pix_fmt=pix_fmt,
            bit_depth=depth,
            chroma_subsampling=chroma,
            color_range=int(frame.color_range),
            colorspace=int(frame.colorspace),
            color_trc=int(frame.color_trc),
            rotation=int(frame.rotation) % 360,
        )
        return info, dtype


def _plane_views(frame: VideoFrame, dtype: np.dtype[Any], writable: bool) -> list[np.ndarray]:
    """NumPy views of a frame's planes (no copy): (height, width) each, strides per line."""
    views = []
    for plane in frame.planes:
        flat = np.frombuffer(plane, dtype=dtype)
        rows = flat.reshape(plane.height, plane.line_size // dtype.itemsize)
        view = rows[:, : plane.width]
        view.flags.writeable = writable
        views.append(view)
    return views


def frames(
    src: StrPath, *, reference_only: bool = False
) -> Iterator[tuple[list[np.ndarray], FrameInfo]]:
    """Iterate over the decoded frames of the first video stream, read-only.

    The planes are views into FFmpeg's frame buffer, valid until the next iteration: copy
    what you keep. ``reference_only`` asks the decoder to skip frames no other frame refers
    to (most B-frames), which roughly halves decoding time for a detector that samples frames
    anyway; ``FrameInfo.index`` then counts the frames delivered.
    """
    av = _av()
    source = Path(src)
    shown = display_path(source)
    with _open_input(source) as container:
        stream = _video_stream(container, shown)
        stream.thread_type = "AUTO"
        if reference_only:
            stream.codec_context.skip_frame = "NONREF"
        clock = _Clock(stream)
        index = 0
        size = source.stat().st_size
        cut = False
        try:
            for packet in container.demux(stream):
                check_interrupted()  # a safe point: see marking.media.interrupts
                if _cut_short(packet, size):
                    cut = True  # the end of the file: the demuxer's flush packet follows
                    continue
                for frame in stream.decode(packet):
                    info, dtype = clock.info(frame, index)
                    yield _plane_views(frame, dtype, writable=False), info
                    index += 1
        except av.FFmpegError as error:
            raise InputError(
                f"{shown}: corrupt video data near frame {index}: {_first_line(error)}"
            ) from error
        if index == 0:
            raise InputError(_no_frames(shown, cut))


def _no_frames(shown: str, cut: bool) -> str:
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
    av = _av()
    source = Path(path)
    shown = display_path(source)
    with _open_input(source) as container:
        stream = _video_stream(container, shown)
        completeness = _Completeness(stream, _frame_rate(stream))
        size = source.stat().st_size
        cut = None
        try:
            for packet in container.demux():
                if _cut_short(packet, size):
                    cut = packet.stream.type
                elif packet.stream.index == stream.index:
                    completeness.add(packet)
        except av.FFmpegError as error:
            frames_read = completeness.packets
            return f"unreadable data after {frames_read} video frames: {_first_line(error)}"
    try:
        completeness.check(shown)
    except InputError as error:
        return str(error).removeprefix(f"{shown}: ").removeprefix("truncated: ")
    if cut is not None:
        return f"the file ends inside its last {cut} packet"
    return None


# --- transcoding -------------------------------------------------------------------------


def _output_pix_fmt(codec: Any, pix_fmt: str) -> str:
    """The decoded format if the encoder takes it, else the closest one it does take."""
    formats = [f.name for f in (codec.video_formats or ())]
    if not formats or pix_fmt in formats:
        return pix_fmt
    depth, chroma, _ = _plane_layout(pix_fmt)

    def rank(name: str) -> tuple[int, int, int]:
        try:
            other_depth, other_chroma, _ = _plane_layout(name)
        except UnsupportedInputError:
            return (9, 99, 99)
        return (
            int(other_chroma != chroma),
            int(other_depth < depth),
            abs(other_depth - depth),
        )

    return min(formats, key=rank)


def _encoder_options(settings: EncoderSettings, codec: str) -> dict[str, str]:
    options: dict[str, str] = {}
    if codec in _X26X:
        options["preset"] = settings.preset
        if settings.bitrate is None:
            options["crf"] = str(settings.crf)
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
    elif codec == "libvpx-vp9":
        options.update(deadline="good", **{"cpu-used": str(_VP9_CPU_USED[settings.preset])})
        options["row-mt"] = "1"
        if settings.bitrate is None:
            options.update(crf=str(settings.crf), b="0")
    options.update(settings.extra_options)
    return options


def _odd_size_format(codec: Any, pix_fmt: str, width: int, height: int) -> str | None:
    """The 4:4:4 format x264/x265 get for an odd size with subsampled chroma, or None.

    x264 and x265 need even dimensions wherever the chroma is subsampled, and H.264/HEVC
    cropping works in whole chroma samples, so an odd 4:2:0 size cannot be kept in 4:2:0.
    In 4:4:4 (same bit depth, luma untouched) it can: the size is never changed.
    """
    if codec.name not in _X26X:
        return None
    depth, chroma, _ = _plane_layout(pix_fmt)
    if not ((chroma[0] > 1 and width % 2) or (chroma[1] > 1 and height % 2)):
        return None
    full = []
    for candidate in codec.video_formats or ():
        if len(candidate.components) < 3 or candidate.name.startswith("yuvj"):
            continue  # grey would drop the colour; yuvj is the deprecated full-range alias
        with contextlib.suppress(UnsupportedInputError):
            other_depth, other_chroma, _ = _plane_layout(candidate.name)
            if other_chroma == (1, 1) and other_depth >= depth:
                full.append((other_depth, candidate.name))
    if not full:
        raise UnsupportedInputError(
            f"{codec.name} cannot encode {width}x{height} with subsampled chroma (it needs "
            "even width and height); use the libvpx-vp9 encoder (--codec libvpx-vp9; MKV, "
            "WebM, MP4)"
        )
    return min(full)[1]


def _output_container(
    settings: EncoderSettings, container: InputContainer, source: Path, target: Path
) -> str:
    name = settings.container or _container_name(container, source)
    implied = _SUFFIX_CONTAINERS.get(target.suffix.lower())
    mismatch = suffix_mismatch(
        display_path(target), f"{_CONTAINER_NAMES[name]} video", source=source
    )
    if implied is None and mismatch is not None:  # a picture's or a sound's name (.png, .wav)
        raise UsageError(mismatch)
    if implied is not None and implied != name:
        raise UsageError(
            f"{display_path(target)}: the suffix means {_CONTAINER_NAMES[implied]} but the "
            f"output is {_CONTAINER_NAMES[name]}; change the suffix or the container setting"
        )
    return name


def _copy_metadata(into: dict[str, str], tags: dict[str, str], skip: frozenset[str]) -> None:
    into.update(
        {
            key: value
            for key, value in tags.items()
            if key.lower() not in skip and not key.lower().startswith("_statistics")
        }
    )


def _video_encoder(codec_name: str) -> Any:
    """The PyAV codec of a video encoder name, or :class:`UsageError`."""
    av = _av()
    try:
        codec = av.Codec(codec_name, "w")
    except (ValueError, av.FFmpegError) as error:
        raise UsageError(f"unknown video encoder {codec_name!r}") from error
    if codec.type != "video":
        raise UsageError(f"{codec_name!r} is not a video encoder")
    return codec


def _add_video_stream(
    output: OutputContainer,
    stream: VideoStream,
    first: VideoFrame,
    settings: EncoderSettings,
    codec_name: str,
    notes: list[str],
) -> tuple[VideoStream, str]:
    """The output video stream, set up like the input's; returns it and its pixel format.

    The size is always the input's; a change of pixel format it needs goes into ``notes``.
    """
    codec = _video_encoder(codec_name)
    pix_fmt = _output_pix_fmt(codec, first.format.name)
    full = _odd_size_format(codec, pix_fmt, first.width, first.height)
    if full is not None:
        notes.append(
            f"{codec_name} cannot encode {first.width}x{first.height} in {pix_fmt} (it needs "
            f"even sizes there): encoded in {full} to keep the size"
        )
        pix_fmt = full
    rate = _frame_rate(stream)
    try:
        out = output.add_stream(
            codec_name, rate=rate, options=_encoder_options(settings, codec_name)
        )
    except ValueError as error:
        raise UsageError(
            f"{output.format.name} cannot hold {codec_name} video: {_first_line(error)}"
        ) from error
    ctx = out.codec_context
    out.width, out.height, out.pix_fmt = first.width, first.height, pix_fmt
    time_base = Fraction(stream.time_base) if stream.time_base else 1 / rate
    out.time_base = time_base
    ctx.time_base = time_base
    ctx.framerate = rate
    ctx.thread_type = "AUTO"
    if settings.bitrate is not None:
        ctx.bit_rate = settings.bitrate
    if stream.sample_aspect_ratio:
        ctx.sample_aspect_ratio = stream.sample_aspect_ratio
    in_ctx = stream.codec_context
    ctx.color_range = int(first.color_range or in_ctx.color_range)
    ctx.colorspace = int(first.colorspace)
    ctx.color_primaries = int(first.color_primaries)
    ctx.color_trc = int(first.color_trc)
    matrix = _display_matrix(first)
    if matrix is not None:
        out.set_display_matrix(matrix)
    if codec_name == "libx265" and output.format.name in ("mp4", "mov"):
        ctx.codec_tag = "hvc1"  # the tag Apple players require for HEVC
    _copy_metadata(out.metadata, dict(stream.metadata), _STALE_TAGS)
    out.disposition = stream.disposition
    return out, pix_fmt


#: Why a QuickTime timecode track is not copied into MP4 or MOV: it is not lost.
TIMECODE_REWRITTEN = "timecode track: rewritten from the video stream's timecode tag"
#: Why an MP4/MOV chapter track is not copied: the muxer writes it from the chapters.
CHAPTERS_REWRITTEN = "chapter track: rewritten from the chapters"
_REWRITTEN = (TIMECODE_REWRITTEN, CHAPTERS_REWRITTEN)


def _uses_mdta(output: OutputContainer) -> bool:
    """Whether an MP4/MOV output writes its tags as mdta keys (``use_metadata_tags``)."""
    return "use_metadata_tags" in str((output.options or {}).get("movflags", ""))


def add_stream_copy(
    output: OutputContainer,
    stream: Any,
    skip_tags: frozenset[str] = _STALE_TAGS,
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
    av = _av()
    codec = stream.codec_context.name if stream.codec_context else stream.name
    iso = output.format.name in ("mp4", "mov", "ipod")
    if stream.type == "data" and codec not in output.supported_codecs:
        if "timecode" in stream.metadata and iso:
            return None, TIMECODE_REWRITTEN
        if chapters and codec == "bin_data" and iso:
            return None, CHAPTERS_REWRITTEN
        return None, f"{output.format.name} cannot store {codec or 'untyped'} data streams"
    attached = bool(stream.disposition & av.stream.Disposition.attached_pic)
    if attached and iso and _uses_mdta(output):
        return None, (
            "cover art cannot be kept: the MP4 muxer writes it only beside iTunes-style "
            "tags, not the mdta tags the AIGC label needs"
        )
    try:
        copy = output.add_stream_from_template(stream)
    except (ValueError, av.FFmpegError) as error:
        return None, _first_line(error)
    _copy_metadata(copy.metadata, dict(stream.metadata), skip_tags)
    copy.disposition = stream.disposition
    if stream.type == "video" and not attached and stream.average_rate:
        copy.codec_context.framerate = stream.average_rate
    return copy, None


def dropped_stream_note(index: int, kind: str, codec: str | None, reason: str) -> str | None:
    """The note that says a stream was left out of an output (None for a rewritten timecode)."""
    if reason in _REWRITTEN:
        return None
    return f"stream {index} ({kind}, {codec or 'untyped'}) not copied: {reason}"


def _copy_stream(
    output: OutputContainer, stream: Any, report: TranscodeReport, chapters: bool
) -> Any | None:
    """An output stream that takes ``stream``'s packets unchanged (None if the muxer refuses)."""
    codec = stream.codec_context.name if stream.codec_context else stream.name
    copy, reason = add_stream_copy(output, stream, chapters=chapters)
    if copy is None:
        report.skipped_streams.append(
            {"index": stream.index, "type": stream.type, "codec": codec, "reason": reason}
        )
        note = dropped_stream_note(stream.index, stream.type, codec, reason or "")
        if note is not None:
            report.notes.append(note)
        return None
    report.copied_streams.append(
        {"index": stream.index, "type": stream.type, "codec": codec, "packets": 0}
    )
    return copy


# --- audio ---------------------------------------------------------------------------------


def _first_audio_stream(container: InputContainer) -> AudioStream | None:
    return next(iter(container.streams.audio), None)


def _source_bit_rate(stream: AudioStream) -> int | None:
    """The audio stream's bit rate: the container's, the codec's, or a Matroska BPS tag."""
    for rate in (stream.bit_rate, stream.codec_context.bit_rate):
        if rate:
            return int(rate)
    for key, value in stream.metadata.items():
        if key.upper().split("-")[0] == "BPS":
            with contextlib.suppress(ValueError):
                return int(value) or None
    return None


def _audio_facts(stream: AudioStream) -> AudioStreamInfo:
    ctx = stream.codec_context
    return AudioStreamInfo(
        index=stream.index,
        codec=ctx.codec.canonical_name,  # "mp3", where the decoder is called "mp3float"
        sample_rate=int(ctx.sample_rate),
        channels=int(ctx.channels),
        layout=ctx.layout.name,
        sample_format=ctx.format.name,
        bit_rate=_source_bit_rate(stream),
        time_base=Fraction(stream.time_base) if stream.time_base else None,
    )


def _audio_encoder(codec_in: str) -> tuple[Any | None, str | None]:
    """A stable encoder for the source codec, or (None, why there is none)."""
    av = _av()
    experimental = None
    for name in _AUDIO_ENCODERS.get(codec_in, (codec_in,)):
        try:
            codec = av.Codec(name, "w")
        except (ValueError, av.FFmpegError):
            continue
        if codec.type != "audio":
            continue
        if codec.experimental:
            experimental = codec.name
            continue
        return codec, None
    if experimental is not None:
        return None, f"FFmpeg's {codec_in} encoder ({experimental}) is experimental"
    return None, f"this FFmpeg build has no {codec_in} encoder"


def _audio_sample_format(codec: Any, source: str) -> str:
    """The source's sample format if the encoder takes it, else the closest one it does take."""
    av = _av()
    formats = [f.name for f in (codec.audio_formats or ())]
    if not formats or source in formats:
        return source
    src = av.AudioFormat(source)

    def rank(name: str) -> tuple[int, int, int]:
        fmt = av.AudioFormat(name)
        return (
            int(fmt.bits < src.bits),  # never lose precision if avoidable
            abs(fmt.bits - src.bits),
            int(fmt.is_planar != src.is_planar),
        )

    return min(formats, key=rank)


def _audio_rate(codec: Any, rate: int) -> int:
    """The source rate if the encoder takes it, else the next higher one it does (or its top)."""
    rates = sorted(codec.audio_rates or ())
    if not rates or rate in rates:
        return rate
    return next((r for r in rates if r >= rate), rates[-1])


def _interleaved(frame: AudioFrame) -> np.ndarray:
    """A decoded frame's samples as float32 (n, channels), from any sample format."""
    channels = frame.layout.nb_channels
    if frame.format.packed.name not in _NUMPY_SAMPLE_FORMATS:  # s64: FFmpeg converts it
        resampler = _av().AudioResampler(format="flt", layout=frame.layout, rate=frame.sample_rate)
        pieces = [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
        return np.concatenate(pieces) if pieces else np.zeros((0, channels), np.float32)
    array = frame.to_ndarray()
    samples = array.T if frame.format.is_planar else array.reshape(-1, channels)
    if samples.dtype.kind == "f":
        return np.ascontiguousarray(samples, dtype=np.float32)
    scale = _INT_FULL_SCALE[samples.dtype.itemsize]
    if samples.dtype.kind == "u":  # u8: silence is 128
        return ((samples.astype(np.float32) - scale) / scale).astype(np.float32)
    return (samples.astype(np.float64) / scale).astype(np.float32)


class _AudioPass:
    """Decodes the first audio stream, runs its samples through a processor, re-encodes them.

    Timing: the first output sample sits where the first decoded sample sat; output frames
    are then stamped by counting samples, so a processor's delay never shifts the sound.
    Gaps in the source's timestamps (a lost packet) are filled with silence, so the sound
    stays in step with the video after them.
    """

    def __init__(
        self,
        output: OutputContainer,
        stream: AudioStream,
        info: AudioStreamInfo,
        processor: AudioProcessor,
        container_name: str,
        mux: Callable[[Any], None],
        shown: str,
    ) -> None:
        self.stream, self.info, self.processor, self.mux = stream, info, processor, mux
        self.shown = shown
        self.out, self.entry = self._add_stream(output, container_name)
        self.layout = stream.codec_context.layout
        self.origin: int | None = None  # the first sample's position, in samples
        self.next = 0  # where the next decoded sample belongs, in samples
        self.emitted = 0
        tick = float(stream.time_base or 0) * info.sample_rate
        self.tolerance = max(int(np.ceil(2 * tick)), info.sample_rate // 100)

    def _add_stream(self, output: OutputContainer, container_name: str) -> tuple[Any, dict]:
        info = self.info
        codec, fallback = _audio_encoder(info.codec)
        out = None
        if codec is not None:
            try:
                out = output.add_stream(codec.name)
            except ValueError:
                fallback = f"{_CONTAINER_NAMES[container_name]} cannot store {info.codec} audio"
        if out is None:
            codec = _av().Codec(_FALLBACK_AUDIO[container_name], "w")
            out = output.add_stream(codec.name)
        ctx = out.codec_context
        rate = _audio_rate(codec, info.sample_rate)
        ctx.sample_rate = rate
        ctx.layout = self.stream.codec_context.layout
        ctx.format = _audio_sample_format(codec, info.sample_format)
        ctx.time_base = Fraction(1, rate)
        out.time_base = Fraction(1, rate)
        bit_rate = None
        if not codec.lossless:
            bit_rate = info.bit_rate
            # Falling back from a lossless source, its bit rate would be far too high.
            source_lossy = self.stream.codec_context.codec.lossy or not fallback
            if not bit_rate or not source_lossy:
                bit_rate = _AUDIO_BITS_PER_CHANNEL * info.channels
            ctx.bit_rate = bit_rate
        try:
            ctx.open()
        except _av().FFmpegError as error:
            raise OutputError(
                f"cannot encode {info.channels}-channel {info.sample_rate} Hz audio with "
                f"{codec.name}: {_first_line(error)}"
            ) from error
        _copy_metadata(out.metadata, dict(self.stream.metadata), _STALE_TAGS)
        out.disposition = self.stream.disposition
        entry = {
            "index": self.stream.index,
            "action": "re-encoded",
            "codec_in": info.codec,
            "encoder": codec.name,
            "bit_rate": bit_rate,
            "sample_rate": info.sample_rate,
            "sample_rate_out": rate,
            "channels": info.channels,
            "layout": info.layout,
            "fallback": fallback,
            "samples_in": 0,
            "samples_out": 0,
            "gap_samples": 0,
            "dropped_packets": 0,
        }
        return out, entry

    def decode(self, packet: Any) -> None:
        try:
            frames = self.stream.decode(packet)
        except _av().FFmpegError:
            # A damaged packet: skip it like players do; the gap it leaves is filled below.
            self.entry["dropped_packets"] += 1
            return
        for frame in frames:
            self._take(frame)

    def _take(self, frame: AudioFrame) -> None:
        info = self.info
        if (frame.sample_rate, frame.layout.nb_channels) != (info.sample_rate, info.channels):
            raise UnsupportedInputError(
                f"{self.shown}: the audio changes from {info.channels} channels at "
                f"{info.sample_rate} Hz to {frame.layout.nb_channels} at {frame.sample_rate} Hz "
                "mid-stream"
            )
        start = None
        if frame.pts is not None and frame.time_base:
            start = round(frame.pts * frame.time_base * info.sample_rate)
        if self.origin is None:
            self.origin = self.next = start or 0
        elif start is not None and start - self.next > self.tolerance:
            gap = start - self.next
            self.entry["gap_samples"] += gap
            while gap > 0:
                block = min(gap, _GAP_BLOCK)
                self._push(np.zeros((block, info.channels), np.float32))
                gap -= block
        self._push(_interleaved(frame))

    def _push(self, samples: np.ndarray) -> None:
        self.entry["samples_in"] += len(samples)
        self.next += len(samples)
        self._encode(self.processor.push(samples))

    def _encode(self, processed: Any) -> None:
        channels = self.info.channels
        array = np.asarray(processed, dtype=np.float32)
        if not array.size:
            return
        if array.ndim == 1 and channels == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != channels:
            raise ValueError(
                f"the audio processor returned shape {array.shape}; expected (n, {channels})"
            )
        packed = np.clip(array, -1.0, 1.0).reshape(1, -1)
        frame = _av().AudioFrame.from_ndarray(packed, format="flt", layout=self.layout)
        frame.sample_rate = self.info.sample_rate
        frame.time_base = Fraction(1, self.info.sample_rate)
        frame.pts = (self.origin or 0) + self.emitted
        self.emitted += len(array)
        self.entry["samples_out"] += len(array)
        self._encode_frame(frame)

    def _encode_frame(self, frame: AudioFrame | None) -> None:
        av = _av()
        try:
            packets = self.out.encode(frame)
        except av.FFmpegError as error:
            raise OutputError(
                f"{self.entry['encoder']} audio encoding failed: {_first_line(error)}"
            ) from error
        self.mux(packets)

    def finish(self) -> None:
        self.decode(None)
        self._encode(self.processor.finish())
        self._encode_frame(None)


def _container_options(name: str, tags: dict[str, str]) -> dict[str, str]:
    """Muxer options. MP4 and MOV are always written "faststart" (``moov``, the index,
    before ``mdat``, the media data), so a file made for the web streams as it downloads."""
    if name not in ("mp4", "mov"):
        return {}
    flags = "+faststart"
    if any(k.lower() not in _MOV_NATIVE_TAGS for k in tags):
        flags += "+use_metadata_tags"
    return {"movflags": flags}


#: ``AVIO_FLAG_WRITE`` of FFmpeg's ``avio.h``: an open for writing.
_AVIO_FLAG_WRITE = 2


class _Reread:
    """A second, read-only view of the output file being written, for the faststart pass.

    At the end the MP4/MOV muxer moves ``moov`` before ``mdat`` by reopening its output by
    name and reading the media data while it writes it further on. The output here is the
    open atomic temporary file, whose name FFmpeg cannot reopen; this reads it through the
    writer's own handle at a position of its own, putting the writer's position back.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        back = self._handle.tell()
        try:
            self._handle.seek(self._position)
            data: bytes = self._handle.read(size)
        finally:
            self._handle.seek(back)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._position
        elif whence == os.SEEK_END:
            back = self._handle.tell()
            offset += self._handle.seek(0, os.SEEK_END)
            self._handle.seek(back)
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        pass


def _reopener(handle: Any) -> Callable[[str, int, dict[str, str]], _Reread]:
    """PyAV's ``io_open``: the muxer's reopening of its output, for reading only."""

    def io_open(url: str, flags: int, options: dict[str, str]) -> _Reread:
        if flags & _AVIO_FLAG_WRITE:
            raise OSError(f"the muxer asked to open another output file ({url!r})")
        return _Reread(handle)

    return io_open


class _Encoder:
    """The output side of :func:`transcode`, opened at the first decoded frame.

    The output streams are created then, in the input's order, because the video stream's
    settings (pixel format, colour, display matrix) are read from that frame. Packets of other
    streams that arrive earlier wait in ``pending`` (a few, as the decoder's delay allows).
    """

    def __init__(
        self,
        output: OutputContainer,
        container: InputContainer,
        stream: VideoStream,
        settings: EncoderSettings,
        codec_name: str,
        report: TranscodeReport,
        process_audio: ProcessAudio | None = None,
        shown: str = "",
    ) -> None:
        self.output, self.container, self.stream = output, container, stream
        self.shown = shown
        self.settings, self.codec_name, self.report = settings, codec_name, report
        self.process_audio = process_audio
        self.video: VideoStream | None = None
        self.copies: dict[int, Any] = {}
        self.counts: dict[int, int] = {}
        self.pending: list[Any] = []
        self.last_pts: int | None = None
        self.sound = _first_audio_stream(container)
        self.audio: _AudioPass | None = None
        self.chapters = bool(container.chapters())

    def open(self, first: VideoFrame) -> None:
        for stream in self.container.streams:
            if stream.index == self.stream.index:
                self.video, self.report.pix_fmt_out = _add_video_stream(
                    self.output,
                    self.stream,
                    first,
                    self.settings,
                    self.codec_name,
                    self.report.notes,
                )
            elif self._is_sound(stream) and self._open_audio(stream):
                continue
            else:
                copy = _copy_stream(self.output, stream, self.report, self.chapters)
                if copy is not None:
                    self.copies[stream.index] = copy
                if self._is_sound(stream):
                    action = "skipped" if copy is None else "copied"
                    codec = stream.codec_context.name
                    self.report.audio = {"index": stream.index, "action": action, "codec": codec}
        pending, self.pending = self.pending, []
        for packet in pending:
            self.copy(packet)

    def _is_sound(self, stream: Any) -> bool:
        return self.sound is not None and stream.index == self.sound.index

    def _open_audio(self, stream: AudioStream) -> bool:
        """Set up the re-encoded audio stream; False if it is to be copied instead."""
        if self.process_audio is None or stream.codec_context is None:
            return False
        info = _audio_facts(stream)
        processor = self.process_audio(info)
        if processor is None:
            return False
        self.audio = _AudioPass(
            self.output, stream, info, processor, self.output.format.name, self._mux, self.shown
        )
        self.report.audio = self.audio.entry
        return True

    def copy(self, packet: Any) -> None:
        if self.video is None:
            self.pending.append(packet)
            return
        index = packet.stream.index
        if self.audio is not None and index == self.audio.stream.index:
            self.audio.decode(packet)
            return
        target = self.copies.get(index)
        if target is None:
            return
        packet.stream = target
        self._mux(packet)
        self.counts[index] = self.counts.get(index, 0) + 1

    def encode(self, frame: VideoFrame | None) -> None:
        if self.video is None:
            return
        if frame is not None:
            if frame.pts is not None and self.last_pts is not None and frame.pts <= self.last_pts:
                frame.pts = self.last_pts + 1  # encoders need strictly increasing pts
                self.report.timestamp_fixes += 1
            self.last_pts = frame.pts
        av = _av()
        try:
            packets = self.video.encode(frame)
        except av.FFmpegError as error:
            raise OutputError(f"{self.codec_name} encoding failed: {_first_line(error)}") from error
        self._mux(packets)

    def _mux(self, packets: Any) -> None:
        av = _av()
        try:
            self.output.mux(packets)
        except av.FFmpegError as error:
            if isinstance(error, OSError):
                raise  # disk full and the like: atomic_write reports it as an OutputError
            raise OutputError(f"writing the output failed: {_first_line(error)}") from error

    def finish(self) -> None:
        if self.audio is not None:
            self.audio.finish()
        self.encode(None)
        for entry in self.report.copied_streams:
            entry["packets"] = self.counts.get(entry["index"], 0)


class _Completeness:
    """Notices a truncated input: fewer video packets, or an earlier end, than it declares."""

    def __init__(self, stream: VideoStream, rate: Fraction) -> None:
        self.declared_frames = stream.frames or 0
        self.time_base = Fraction(stream.time_base) if stream.time_base else 1 / rate
        declared_end = None
        if stream.duration:
            declared_end = float((stream.start_time or 0) + stream.duration) * self.time_base
        else:
            declared_end = _tag_seconds(stream.metadata.get("DURATION"))
        self.declared_end = declared_end
        self.tolerance = max(0.1, 2 / float(rate))
        self.packets = 0
        self.end = 0.0

    def add(self, packet: Any) -> None:
        if not packet.size:
            return
        self.packets += 1
        if packet.pts is not None:
            end = (packet.pts + (packet.duration or 0)) * self.time_base
            self.end = max(self.end, float(end))

    def check(self, shown: str) -> None:
        if self.declared_frames and self.packets < self.declared_frames:
            raise InputError(
                f"{shown}: truncated: the file lists {self.declared_frames} video frames, "
                f"only {self.packets} are present"
            )
        if self.declared_end is not None and self.end < self.declared_end - self.tolerance:
            raise InputError(
                f"{shown}: truncated: the video should last {self.declared_end:.2f} s, "
                f"its data ends at {self.end:.2f} s"
            )


def _tag_seconds(text: str | None) -> float | None:
    """Seconds of a Matroska DURATION tag such as ``00:00:02.000000000``."""
    if not text:
        return None
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def transcode(
    src: StrPath,
    dst: StrPath,
    process_frame: ProcessFrame,
    settings: EncoderSettings | None = None,
    process_audio: ProcessAudio | None = None,
) -> TranscodeReport:
    """Re-encode the first video stream of ``src`` into ``dst``, editing every frame in place.

    ``process_frame(planes, info)`` gets the decoded pixel format's planes as writable 2-D
    arrays (Y, U, V: uint8, or uint16 above 8 bits) and edits them in place; it must not keep
    them. The size is always kept (x264 gets 4:4:4 for odd sizes it cannot encode in 4:2:0).
    Chapters are copied; so is every other stream, packet for packet (one the output cannot
    hold is dropped, and ``report.notes`` says so; see :func:`add_stream_copy`), except, given
    ``process_audio``, the first audio stream: ``process_audio(info)`` is called once with
    its :class:`AudioStreamInfo` and returns an :class:`AudioProcessor` (or None to copy the
    stream after all). Its samples go through ``push`` as float32 (n, channels) and what comes
    back is re-encoded with the source's codec, sample rate, layout and bit rate (128 kb/s
    per stereo pair when the file does not say), timed from the first source sample whatever
    the processor's delay. A source codec that FFmpeg cannot encode (or the output container
    cannot store) falls back to AAC in MP4/MOV and Opus in MKV/WebM; ``report.audio`` says
    what was done. ``dst`` appears complete or not at all; an MP4 or MOV is written
    "faststart" (index before the media data, as web players need), whatever the input's.
    """
    av = _av()
    settings = settings or EncoderSettings()
    source = _check_input_file(src)
    target = check_output_path(dst, forbid=[source])
    shown = display_path(source)
    started = time.perf_counter()
    size = source.stat().st_size
    with _open_input(source) as container:
        name = _output_container(settings, container, source, target)
        stream = _video_stream(container, shown)
        stream.thread_type = "AUTO"
        codec_name = settings.codec or DEFAULT_CODECS[name]
        _video_encoder(codec_name)  # fail before any decoding
        report = TranscodeReport(
            input=os.fspath(source),
            output=os.fspath(target),
            container=name,
            codec_in=stream.codec_context.name,
            encoder=codec_name,
            width=0,
            height=0,
            pix_fmt_in="",
            pix_fmt_out="",
        )
        tags: dict[str, str] = {}
        _copy_metadata(tags, dict(container.metadata), _CONTAINER_SKIP_TAGS)
        # Readable: the faststart pass reads back what was written (see _Reread).
        with atomic_write(target, forbid=[source], readable=True) as handle:
            try:
                with av.open(
                    handle,
                    "w",
                    format=name,
                    options=_container_options(name, tags),
                    io_open=_reopener(handle),
                ) as output:
                    output.metadata.update(tags)
                    chapters = container.chapters()
                    if chapters:
                        output.set_chapters(chapters)
                    encoder = _Encoder(
                        output,
                        container,
                        stream,
                        settings,
                        codec_name,
                        report,
                        process_audio,
                        shown,
                    )
                    _run(container, encoder, process_frame, report, shown, size)
            except av.FFmpegError as error:  # raised by the muxer while finishing the file
                if isinstance(error, OSError):
                    raise  # disk full and the like: atomic_write reports it
                raise OutputError(
                    f"{display_path(target)}: cannot finish the {_CONTAINER_NAMES[name]} "
                    f"file: {_first_line(error)}"
                ) from error
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _run(
    container: InputContainer,
    encoder: _Encoder,
    process_frame: ProcessFrame,
    report: TranscodeReport,
    shown: str,
    size: int,
) -> None:
    """The demux-decode-process-encode loop of :func:`transcode` (``size``: the input's bytes)."""
    av = _av()
    stream = encoder.stream
    clock = _Clock(stream)
    completeness = _Completeness(stream, clock.rate)
    index = 0
    last_time = 0.0
    packets = container.demux()
    while True:
        check_interrupted()  # a safe point: see marking.media.interrupts
        try:
            packet = next(packets, None)
        except av.FFmpegError as error:
            raise InputError(
                f"{shown}: unreadable data near frame {index}: {_first_line(error)}"
            ) from error
        if packet is None:
            break
        if _cut_short(packet, size):
            # The file ends inside this packet: neither decoded nor copied (a stump in the
            # output would be corrupt); the completeness check below says what is missing.
            continue
        if packet.stream.index != stream.index:
            if packet.size:  # size 0: a demuxer flush marker, nothing to copy
                encoder.copy(packet)
            continue
        completeness.add(packet)
        try:
            decoded = stream.decode(packet)
        except av.FFmpegError as error:
            raise InputError(
                f"{shown}: corrupt video data near frame {index}: {_first_line(error)}"
            ) from error
        for frame in decoded:
            if encoder.video is None:
                report.width, report.height = frame.width, frame.height
                report.pix_fmt_in = frame.format.name
                encoder.open(frame)
            if (frame.width, frame.height) != (report.width, report.height):
                raise UnsupportedInputError(
                    f"{shown}: the frame size changes mid-stream at frame {index} "
                    f"({report.width}x{report.height} to {frame.width}x{frame.height})"
                )
            report.corrupt_frames += bool(frame.is_corrupt)
            frame.make_writable()  # the decoder may still reference this buffer
            info, dtype = clock.info(frame, index)
            process_frame(_plane_views(frame, dtype, writable=True), info)
            if frame.pts is None:
                frame.pts = round(index / clock.rate / clock.time_base)
            last_time = info.time
            encoder.encode(frame)
            index += 1
    if encoder.video is None:
        completeness.check(shown)
        raise InputError(_no_frames(shown, False))
    completeness.check(shown)
    encoder.finish()
    report.frames = index
    report.duration_s = round(last_time + float(1 / clock.rate), 6)


__all__ = [
    "CONTAINERS",
    "AudioProcessor",
    "AudioStreamInfo",
    "EncoderSettings",
    "FrameInfo",
    "StreamInfo",
    "TranscodeReport",
    "VideoInfo",
    "frames",
    "probe_video",
    "transcode",
    "truncation",
    "video_duration",
]
