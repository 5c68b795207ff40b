"""The decoded frames of a video, one at a time: :func:`frames` for readers (detectors), and
the :class:`FrameInfo` and plane views :func:`marking.media.transcode.transcode` hands its
frame callback.

The planes are the decoded pixel format's (Y, U, V): no RGB round trip, no colour
conversion. Memory stays bounded whatever the duration: one decoded frame at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marking.errors import InputError
from marking.media.atomic import StrPath, display_path
from marking.media.av_util import av, cut_short, first_line, open_input
from marking.media.interrupts import check as check_interrupted
from marking.media.video_probe import frame_rate, no_frames_message, plane_layout, video_stream

if TYPE_CHECKING:
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """One decoded frame, as :func:`~marking.media.transcode.transcode` and :func:`frames`
    hand it over.

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


class Clock:
    """Turns decoded frames into :class:`FrameInfo`, times measured from the stream start."""

    def __init__(self, stream: VideoStream) -> None:
        self.rate = frame_rate(stream)
        self.time_base = Fraction(stream.time_base) if stream.time_base else 1 / self.rate
        self.origin: int | None = stream.start_time
        self.layout: tuple[str, tuple[int, tuple[int, int], np.dtype[Any]]] | None = None

    def info(self, frame: VideoFrame, index: int) -> tuple[FrameInfo, np.dtype[Any]]:
        pix_fmt = frame.format.name
        if self.layout is None or self.layout[0] != pix_fmt:
            self.layout = (pix_fmt, plane_layout(pix_fmt))
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


def plane_views(frame: VideoFrame, dtype: np.dtype[Any], writable: bool) -> list[np.ndarray]:
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
    library = av()
    source = Path(src)
    shown = display_path(source)
    with open_input(source) as container:
        stream = video_stream(container, shown)
        stream.thread_type = "AUTO"
        if reference_only:
            stream.codec_context.skip_frame = "NONREF"
        clock = Clock(stream)
        index = 0
        size = source.stat().st_size
        cut = False
        try:
            for packet in container.demux(stream):
                check_interrupted()  # a safe point: see marking.media.interrupts
                if cut_short(packet, size):
                    cut = True  # the end of the file: the demuxer's flush packet follows
                    continue
                for frame in stream.decode(packet):
                    info, dtype = clock.info(frame, index)
                    yield plane_views(frame, dtype, writable=False), info
                    index += 1
        except library.FFmpegError as error:
            raise InputError(
                f"{shown}: corrupt video data near frame {index}: {first_line(error)}"
            ) from error
        if index == 0:
            raise InputError(no_frames_message(shown, cut))


__all__ = ["Clock", "FrameInfo", "frames", "plane_views"]
