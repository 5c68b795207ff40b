"""Re-encoding a video file: the one streaming transcode every video feature shares.

:func:`transcode` decodes the first video stream one frame at a time, lets a callback edit
the decoded planes *in place* (Y, U, V of the decoded pixel format: no RGB round trip, no
colour conversion loss), re-encodes them with the same size, frame rate, time base, pixel
format and colour metadata (:mod:`marking.media.video_encoder`), and copies every other
stream (audio, subtitles, data) packet for packet. Given ``process_audio``, it also runs the
first audio stream through a streaming processor in the same pass
(:mod:`marking.media.sound_pass`). Memory stays bounded whatever the duration: one decoded
frame at a time, plus what the encoders, the audio processor and the muxer buffer
internally.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.media.atomic import StrPath, atomic_write, check_output_path, display_path
from marking.media.av_util import (
    CONTAINER_SKIP_TAGS,
    Completeness,
    add_stream_copy,
    av,
    check_input_file,
    copy_metadata,
    cut_short,
    dropped_stream_note,
    first_line,
    open_input,
)
from marking.media.encoding import (
    CONTAINER_NAMES,
    DEFAULT_CODECS,
    SUFFIX_CONTAINERS,
    EncoderSettings,
)
from marking.media.interrupts import check as check_interrupted
from marking.media.sniffing import suffix_mismatch
from marking.media.sound_pass import AudioPass, ProcessAudio, audio_facts, first_audio_stream
from marking.media.video_encoder import add_video_stream, video_encoder
from marking.media.video_frames import Clock, FrameInfo, plane_views
from marking.media.video_probe import container_name, no_frames_message, video_stream

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

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

ProcessFrame = Callable[[list[np.ndarray], FrameInfo], None]


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
    video_bytes: int = 0  # the encoded video stream's packets, in bytes
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


def _output_container(
    settings: EncoderSettings, container: InputContainer, source: Path, target: Path
) -> str:
    name = settings.container or container_name(container, source)
    implied = SUFFIX_CONTAINERS.get(target.suffix.lower())
    expected = tuple(suffix for suffix, kind in SUFFIX_CONTAINERS.items() if kind == name)
    mismatch = suffix_mismatch(
        display_path(target), f"{CONTAINER_NAMES[name]} video", source=source, expected=expected
    )
    if implied is None and mismatch is not None:  # a picture's or a sound's name, or no format's
        raise UsageError(mismatch)
    if implied is not None and implied != name:
        raise UsageError(
            f"{display_path(target)}: the suffix means {CONTAINER_NAMES[implied]} but the "
            f"output is {CONTAINER_NAMES[name]}; change the suffix or the container setting"
        )
    return name


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
        self.sound = first_audio_stream(container)
        self.audio: AudioPass | None = None
        self.chapters = bool(container.chapters())

    def open(self, first: VideoFrame) -> None:
        for stream in self.container.streams:
            if stream.index == self.stream.index:
                self.video, self.report.pix_fmt_out = add_video_stream(
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
        info = audio_facts(stream)
        processor = self.process_audio(info)
        if processor is None:
            return False
        self.audio = AudioPass(
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
        library = av()
        try:
            packets = self.video.encode(frame)
        except library.FFmpegError as error:
            raise OutputError(f"{self.codec_name} encoding failed: {first_line(error)}") from error
        self.report.video_bytes += sum(packet.size for packet in packets)
        self._mux(packets)

    def _mux(self, packets: Any) -> None:
        library = av()
        try:
            self.output.mux(packets)
        except library.FFmpegError as error:
            if isinstance(error, OSError):
                raise  # disk full and the like: atomic_write reports it as an OutputError
            raise OutputError(f"writing the output failed: {first_line(error)}") from error

    def finish(self) -> None:
        if self.audio is not None:
            self.audio.finish()
        self.encode(None)
        for entry in self.report.copied_streams:
            entry["packets"] = self.counts.get(entry["index"], 0)


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
    settings = settings or EncoderSettings()
    source = check_input_file(src)
    target = check_output_path(dst, forbid=[source])
    shown = display_path(source)
    started = time.perf_counter()
    with open_input(source) as container:
        name = _output_container(settings, container, source, target)
        stream = video_stream(container, shown)
        stream.thread_type = "AUTO"
        codec_name = settings.codec or DEFAULT_CODECS[name]
        video_encoder(codec_name)  # fail before any decoding
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
        # Readable: the faststart pass reads back what was written (see _Reread).
        with (
            atomic_write(target, forbid=[source], readable=True) as handle,
            _output(handle, container, name, target) as output,
        ):
            encoder = _Encoder(
                output, container, stream, settings, codec_name, report, process_audio, shown
            )
            _run(container, encoder, process_frame, report, shown, source.stat().st_size)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@contextlib.contextmanager
def _output(
    handle: Any, container: InputContainer, name: str, target: Path
) -> Iterator[OutputContainer]:
    """The output container on ``handle``: the input's tags and chapters, faststart MP4/MOV.

    FFmpeg's failures while writing or finishing the file become :class:`OutputError`.
    """
    library = av()
    tags: dict[str, str] = {}
    copy_metadata(tags, dict(container.metadata), CONTAINER_SKIP_TAGS)
    try:
        with library.open(
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
            yield output
    except library.FFmpegError as error:  # raised by the muxer while finishing the file
        if isinstance(error, OSError):
            raise  # disk full and the like: atomic_write reports it
        raise OutputError(
            f"{display_path(target)}: cannot finish the {CONTAINER_NAMES[name]} "
            f"file: {first_line(error)}"
        ) from error


#: Frames marked ahead of the encoder: the frame stage works on one while the main thread
#: decodes the next and encodes the one before (the kernels and PyAV's codec calls release the
#: GIL, so the three overlap). More would only hold more frames in memory.
FRAMES_IN_FLIGHT = 2


class _FrameStage:
    """``process_frame`` on a worker thread, its frames handed to the encoder in order.

    Memory stays bounded: at most :data:`FRAMES_IN_FLIGHT` decoded frames wait here. An error
    of the callback is raised in the main thread when its frame's turn to be encoded comes.
    """

    def __init__(self, process_frame: ProcessFrame, encode: Callable[[Any], None]) -> None:
        self._process = process_frame
        self._encode = encode
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="aigc-mark-frames")
        self._waiting: deque[tuple[Any, Future[None]]] = deque()

    def submit(self, frame: VideoFrame, planes: list[np.ndarray], info: FrameInfo) -> None:
        self._waiting.append((frame, self._pool.submit(self._process, planes, info)))
        while len(self._waiting) > FRAMES_IN_FLIGHT:
            self._encode_oldest()

    def _encode_oldest(self) -> None:
        frame, done = self._waiting.popleft()
        done.result()
        self._encode(frame)

    def drain(self) -> None:
        """Encode every frame still waiting."""
        while self._waiting:
            self._encode_oldest()

    def close(self) -> None:
        """Stop the worker (after the frame it is on): on success, error and interrupt."""
        for _, done in self._waiting:
            done.cancel()
        self._pool.shutdown(wait=True)
        self._waiting.clear()


def _run(
    container: InputContainer,
    encoder: _Encoder,
    process_frame: ProcessFrame,
    report: TranscodeReport,
    shown: str,
    size: int,
) -> None:
    """The demux-decode-process-encode loop of :func:`transcode` (``size``: the input's bytes).

    Frames are processed on a worker thread (:class:`_FrameStage`) while this one decodes
    and encodes.
    """
    clock = Clock(encoder.stream)
    completeness = Completeness.of_video(encoder.stream, clock.rate)
    stage = _FrameStage(process_frame, encoder.encode)
    try:
        _demux_loop(container, encoder, stage, clock, completeness, report, shown, size)
    finally:
        stage.close()


def _demux_loop(
    container: InputContainer,
    encoder: _Encoder,
    stage: _FrameStage,
    clock: Clock,
    completeness: Completeness,
    report: TranscodeReport,
    shown: str,
    size: int,
) -> None:
    """:func:`_run`'s loop: demux, decode, hand each frame to ``stage``, copy other packets."""
    library = av()
    stream = encoder.stream
    index = 0
    last_time = 0.0
    packets = container.demux()
    while True:
        check_interrupted()  # a safe point: see marking.media.interrupts
        try:
            packet = next(packets, None)
        except library.FFmpegError as error:
            raise InputError(
                f"{shown}: unreadable data near frame {index}: {first_line(error)}"
            ) from error
        if packet is None:
            break
        if cut_short(packet, size):
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
        except library.FFmpegError as error:
            raise InputError(
                f"{shown}: corrupt video data near frame {index}: {first_line(error)}"
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
            if frame.pts is None:
                frame.pts = round(index / clock.rate / clock.time_base)
            last_time = info.time
            stage.submit(frame, plane_views(frame, dtype, writable=True), info)
            index += 1
    if encoder.video is None:
        completeness.check(shown)
        raise InputError(no_frames_message(shown, False))
    completeness.check(shown)
    stage.drain()
    encoder.finish()
    report.frames = index
    report.duration_s = round(last_time + float(1 / clock.rate), 6)


__all__ = ["ProcessFrame", "TranscodeReport", "transcode"]
