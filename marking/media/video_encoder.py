"""The video encoder of :func:`marking.media.transcode.transcode`: the output video stream set
up like the input's (size, rate, time base, colour, display matrix), the pixel format the
encoder gets, and the encoder's options from :class:`~marking.media.encoding.EncoderSettings`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marking.errors import UnsupportedInputError, UsageError
from marking.media.av_util import STALE_TAGS, av, copy_metadata, first_line
from marking.media.encoding import VP9_CPU_USED, X26X_ENCODERS, EncoderSettings
from marking.media.video_probe import frame_rate, plane_layout

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream


def _display_matrix(frame: VideoFrame) -> list[int] | None:
    """The frame's display matrix (9 int32), or None."""
    library = av()
    with contextlib.suppress(KeyError, TypeError, ValueError):
        data = bytes(frame.side_data[library.sidedata.sidedata.Type.DISPLAYMATRIX])
        if len(data) == 36:
            return np.frombuffer(data, dtype="<i4").tolist()
    return None


def _output_pix_fmt(codec: Any, pix_fmt: str) -> str:
    """The decoded format if the encoder takes it, else the closest one it does take."""
    formats = [f.name for f in (codec.video_formats or ())]
    if not formats or pix_fmt in formats:
        return pix_fmt
    depth, chroma, _ = plane_layout(pix_fmt)

    def rank(name: str) -> tuple[int, int, int]:
        try:
            other_depth, other_chroma, _ = plane_layout(name)
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
    if codec in X26X_ENCODERS:
        options["preset"] = settings.preset
        if settings.bitrate is None:
            options["crf"] = str(settings.crf)
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
    elif codec == "libvpx-vp9":
        options.update(deadline="good", **{"cpu-used": str(VP9_CPU_USED[settings.preset])})
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
    if codec.name not in X26X_ENCODERS:
        return None
    depth, chroma, _ = plane_layout(pix_fmt)
    if not ((chroma[0] > 1 and width % 2) or (chroma[1] > 1 and height % 2)):
        return None
    full = []
    for candidate in codec.video_formats or ():
        if len(candidate.components) < 3 or candidate.name.startswith("yuvj"):
            continue  # grey would drop the colour; yuvj is the deprecated full-range alias
        with contextlib.suppress(UnsupportedInputError):
            other_depth, other_chroma, _ = plane_layout(candidate.name)
            if other_chroma == (1, 1) and other_depth >= depth:
                full.append((other_depth, candidate.name))
    if not full:
        raise UnsupportedInputError(
            f"{codec.name} cannot encode {width}x{height} with subsampled chroma (it needs "
            "even width and height); use the libvpx-vp9 encoder (--codec libvpx-vp9; MKV, "
            "WebM, MP4)"
        )
    return min(full)[1]


def video_encoder(codec_name: str) -> Any:
    """The PyAV codec of a video encoder name, or :class:`UsageError`."""
    library = av()
    try:
        codec = library.Codec(codec_name, "w")
    except (ValueError, library.FFmpegError) as error:
        raise UsageError(f"unknown video encoder {codec_name!r}") from error
    if codec.type != "video":
        raise UsageError(f"{codec_name!r} is not a video encoder")
    return codec


def add_video_stream(
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
    codec = video_encoder(codec_name)
    pix_fmt = _output_pix_fmt(codec, first.format.name)
    full = _odd_size_format(codec, pix_fmt, first.width, first.height)
    if full is not None:
        notes.append(
            f"{codec_name} cannot encode {first.width}x{first.height} in {pix_fmt} (it needs "
            f"even sizes there): encoded in {full} to keep the size"
        )
        pix_fmt = full
    rate = frame_rate(stream)
    try:
        out = output.add_stream(
            codec_name, rate=rate, options=_encoder_options(settings, codec_name)
        )
    except ValueError as error:
        raise UsageError(
            f"{output.format.name} cannot hold {codec_name} video: {first_line(error)}"
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
    copy_metadata(out.metadata, dict(stream.metadata), STALE_TAGS)
    out.disposition = stream.disposition
    return out, pix_fmt


__all__ = ["add_video_stream", "video_encoder"]


def write_rgb_clip(
    path: Path, frames: Iterable[np.ndarray], fps: int, options: dict[str, str]
) -> Path:
    """Encode RGB ``frames`` (all one size) as an H.264 clip at ``fps``: for synthetic test
    and benchmark clips. One frame is held at a time."""
    library = av()
    with library.open(str(path), "w") as output:
        stream = None
        for rgb in frames:
            if stream is None:
                stream = output.add_stream("libx264", rate=fps)
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = options
            output.mux(stream.encode(library.VideoFrame.from_ndarray(rgb, format="rgb24")))
        if stream is not None:
            output.mux(stream.encode())
    return path
