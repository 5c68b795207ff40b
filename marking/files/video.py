"""Watermarking video files: one streaming transcode marks every frame, and the sound too.

The file-level twin of :mod:`marking.files.image`'s ``embed_file`` / ``detect_file`` and of
:mod:`marking.files.audio`, for video. :func:`embed_video_file` runs
:func:`marking.media.video.transcode`: each decoded frame's luma plane is marked in place by one
:class:`~marking.watermark.video.VideoMarker` (in the decoded pixel format, 8 or 10 bit, no RGB
round trip), after the visible label when one is asked for (the same pass), and the first audio
track goes through an :class:`~marking.watermark.audio.AudioEmbedder` with the same key and
payload (re-encoded with the source's codec and bit rate) unless it is to be copied untouched.
:func:`detect_video_file` averages (sampled) frames in a
:class:`~marking.watermark.video.VideoDetector` and runs an
:class:`~marking.watermark.audio.AudioDetector` over the first audio track.

Memory stays constant whatever the length (one decoded frame at a time, plus the codecs' and
the audio watermark's bounded buffers); the input is never modified and the output appears
atomically. Unusable input gives the same one-line :class:`~marking.errors.InputError` family
as every other reader.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marking.errors import InputError, InputTooSmallError, UsageError
from marking.files.video_size import Progress, encode_matching_size, video_bitrate
from marking.kernels.config import single_threaded
from marking.labels.video_label import FrameLabeler, VideoLabelSettings
from marking.media.atomic import StrPath, check_output_path, display_path, file_error
from marking.media.video import (
    EncoderSettings,
    VideoInfo,
    probe_video,
    transcode,
    video_duration,
)
from marking.media.video_compare import LumaPsnr
from marking.scheme.keys import Key, as_key
from marking.scheme.limits import check_strength
from marking.scheme.results import (
    Detection,
    SoundDetection,
    Unchecked,
    VideoDetection,
    VideoEmbedding,
    VideoFileDetection,
    VideoLabeling,
    fields_of,
)

if TYPE_CHECKING:
    from marking.media.video import AudioStreamInfo, FrameInfo, ProcessFrame, TranscodeReport


def frame_labeler(src: StrPath, settings: VideoLabelSettings, info: VideoInfo) -> FrameLabeler:
    """A labeler for the video ``src`` described by ``info`` (reads its length if needed)."""
    duration = info.duration_s
    if duration <= 0 and (settings.also_end_s or settings.also_middle_s):
        duration = video_duration(src)  # not declared: read the packet timestamps
    return FrameLabeler(settings, duration)


#: Detection decodes only the frames other frames refer to (the rest, most B-frames, are skipped
#: by the decoder: about half the decoding on H.264 with B-frames, the same evidence after
#: heavy compression) and averages every one of them by default.
DEFAULT_EVERY = 1


class _MarkedSound:
    """The audio watermark's embedder as a transcode audio processor, errors made one-line."""

    def __init__(self, embedder: Any, source: Path) -> None:
        self.embedder, self.source = embedder, source

    def push(self, samples: np.ndarray) -> np.ndarray:
        try:
            return self.embedder.push(samples)
        except ValueError as error:  # NaN or infinity out of a float decoder
            raise file_error(InputError, self.source, f"cannot mark the audio: {error}") from None

    def finish(self) -> np.ndarray:
        return self.embedder.finish()


_AUDIO_ACTIONS = {"re-encoded": "watermarked", "copied": "copied", "skipped": "dropped"}


def embed_video_file(
    src: StrPath,
    dst: StrPath,
    *,
    key: Key | str | bytes | None = None,
    payload: bytes | str | int | None = None,
    strength: float = 1.0,
    settings: EncoderSettings | None = None,
    copy_audio: bool = False,
    label: VideoLabelSettings | None = None,
    progress: Progress | None = None,
    match_size: bool = False,
) -> VideoEmbedding:
    """Write a watermarked copy of the video ``src`` to ``dst``; ``src`` is never modified.

    Every frame's luma is marked in its decoded pixel format; the output keeps the container,
    resolution, frame rate, time base, pixel format, colour tags and rotation, and is encoded
    with ``settings`` (default libx264 CRF 18 preset medium; libvpx-vp9 for WebM). The first
    audio track carries the audio watermark (same key and payload), re-encoded with its codec
    and bit rate; ``copy_audio`` copies it untouched instead. Other streams are copied. With
    ``label``, the visible label is blended into the frames first, in the same pass.
    ``progress(done, total)`` is called after every frame. With ``match_size`` (or
    ``settings.match_size``) the video is encoded to within 5 % of the bytes a plain
    re-encode with ``settings`` takes (:mod:`marking.files.video_size`; no ``bitrate``).

    Returns a :class:`~marking.scheme.results.VideoEmbedding` (read as a dict too): ``input``,
    ``output``, ``kind`` ("video"), ``payload`` (hex),
    ``psnr_min`` and ``psnr_mean`` (luma, dB, of the marked frames against the frames before
    marking, before encoding), ``frames``, ``width``, ``height``, ``pix_fmt``, ``container``,
    ``encoder``, ``crf`` (None with a bit rate), ``preset``, ``bitrate``, ``duration_s``,
    ``audio`` ("watermarked", "copied", "dropped" or "none"), ``audio_stream`` (the
    transcode's account of it), ``audio_note`` (why it was not watermarked, or None),
    ``copied_streams``, ``skipped_streams``, ``notes`` (what changed that a user should know:
    a stream not copied, 4:4:4 chroma for an odd size), ``label`` (what was labeled, or None),
    ``seconds``, ``output_bitrate`` (the output's video stream, bits per second) and
    ``match_size`` (None, or :func:`~marking.files.video_size.encode_matching_size`'s entry).

    Raises :class:`InputError` (missing, empty, corrupt or truncated input, not a video),
    :class:`InputTooSmallError` (frames under 256 px a side), :class:`UnsupportedInputError`
    (container or pixel format not handled), :class:`OutputError` (output is the input,
    directory missing, encoding failed) and :class:`UsageError` (bad payload, strength or
    encoder settings, ``match_size`` with a bitrate, an output suffix of another container).
    """
    from marking.scheme.limits import MIN_SIDE
    from marking.scheme.payload import parse_payload_option, random_payload

    payload_bytes = random_payload() if payload is None else parse_payload_option(payload)
    strength = check_strength(strength)
    the_key = as_key(key)
    settings = settings or EncoderSettings()
    if match_size and not settings.match_size:
        settings = replace(settings, match_size=True)  # a UsageError with a bitrate
    source, target = Path(src), Path(dst)
    check_output_path(target, forbid=[source])
    info = probe_video(source)
    _check_frame_size(source, info, MIN_SIDE, "the watermark needs at least {} px on each side")
    duration = None if label is None else frame_labeler(source, label, info).duration
    sound = _SoundMarking(source, payload_bytes, the_key, strength)
    audio = None if copy_audio else sound
    total = info.frame_count or None
    markings: list[_Marking] = []

    def new_marking(encode_progress: Progress | None) -> ProcessFrame:
        markings[:] = [_Marking(payload_bytes, the_key, strength, label, duration)]
        return markings[0].process(encode_progress, total)

    matched = None
    with single_threaded():
        if settings.match_size:
            report, matched = encode_matching_size(
                source, target, settings, new_marking, audio, progress, total
            )
            settings = replace(settings, bitrate=matched["bitrate"], match_size=False)
        else:
            report = transcode(source, target, new_marking(progress), settings, audio)
    if progress is not None:
        progress(report.frames, report.frames)
    marking = markings[0]  # the last encode's (every encode marks alike)
    return _embedding(
        source, target, payload_bytes, info, report, settings, marking, sound.note, matched
    )


class _Marking:
    """What marks the frames of one encode: a fresh marker, the label (if any) and the PSNR
    of the marking. Every encode of a video marks its frames the same way."""

    def __init__(
        self,
        payload: bytes,
        key: Key,
        strength: float,
        label: VideoLabelSettings | None,
        duration: float | None,
    ) -> None:
        from marking.watermark.video import VideoMarker

        self.marker = VideoMarker(payload=payload, key=key, strength=strength)
        self.labeler = None if label is None else FrameLabeler(label, duration or 0.0)
        self.psnr = LumaPsnr()

    def process(self, progress: Progress | None, total: int | None) -> ProcessFrame:
        """The transcode's frame processor for this encode."""
        return _frame_marking(self.marker, self.labeler, self.psnr, progress, total)


def _embedding(
    source: Path,
    target: Path,
    payload: bytes,
    info: VideoInfo,
    report: TranscodeReport,
    settings: EncoderSettings,
    marking: _Marking,
    audio_note: str | None,
    match_size: dict[str, Any] | None,
) -> VideoEmbedding:
    """The record of :func:`embed_video_file` from the transcode's report."""
    lowest, mean = marking.psnr.result()
    duration = report.duration_s or info.duration_s
    labeler = marking.labeler
    return VideoEmbedding(
        input=os.fspath(source),
        output=os.fspath(target),
        payload=payload.hex(),
        psnr_min=lowest,
        psnr_mean=mean,
        frames=report.frames,
        width=report.width,
        height=report.height,
        pix_fmt=report.pix_fmt_out,
        container=report.container,
        encoder=report.encoder,
        crf=settings.crf if settings.bitrate is None else None,
        preset=settings.preset,
        bitrate=settings.bitrate,
        duration_s=duration,
        audio="none" if report.audio is None else _AUDIO_ACTIONS[report.audio["action"]],
        audio_stream=report.audio,
        audio_note=audio_note,
        copied_streams=report.copied_streams,
        skipped_streams=report.skipped_streams,
        notes=report.notes,
        label=None if labeler is None else labeler.record(duration, info.rotation),
        seconds=report.seconds,
        output_bitrate=video_bitrate(report),
        match_size=match_size,
    )


def _check_frame_size(source: Path, info: VideoInfo, smallest: int, need: str) -> None:
    """Refuse frames under ``smallest`` px a side; ``need`` says why ({} is ``smallest``)."""
    if min(info.width, info.height) < smallest:
        raise file_error(
            InputTooSmallError,
            source,
            f"frames are {info.width}x{info.height}; {need.format(smallest)}",
        )


def _frame_marking(
    marker: Any,
    labeler: FrameLabeler | None,
    psnr: LumaPsnr,
    progress: Progress | None,
    total: int | None,
) -> Callable[[list[np.ndarray], FrameInfo], None]:
    """The transcode's frame processor: the label (if any), then the watermark on luma."""

    def process(planes: list[np.ndarray], frame: FrameInfo) -> None:
        if labeler is not None:
            labeler(planes, frame)
        luma = planes[0]
        squared = marker.mark_plane(luma, max_value=frame.max_value)
        psnr.add_squared(squared, luma.size, frame.max_value)
        if progress is not None:
            progress(frame.index + 1, total)

    return process


class _SoundMarking:
    """The transcode's audio processor factory: an audio watermark embedder for the first
    audio track, or none (``note`` then says why the sound was copied unmarked)."""

    def __init__(self, source: Path, payload: bytes, key: Key, strength: float) -> None:
        self.source, self.payload, self.key, self.strength = source, payload, key, strength
        self.note: str | None = None

    def __call__(self, stream: AudioStreamInfo) -> _MarkedSound | None:
        from marking.watermark.audio import AudioEmbedder

        try:
            embedder = AudioEmbedder(
                rate=stream.sample_rate,
                channels=stream.channels,
                payload=self.payload,
                key=self.key,
                strength=self.strength,
            )
        except ValueError as error:  # a rate outside 8-192 kHz, more than 64 channels
            self.note = f"sound copied without a watermark: {error}"
            return None
        return _MarkedSound(embedder, self.source)


# --- detection -------------------------------------------------------------------------------


def _check_window(
    every: int, start: float | None, seconds: float | None, max_frames: int | None
) -> None:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise UsageError(f"every must be a whole number of frames >= 1, got {every!r}")
    if start is not None and not (math.isfinite(start) and start >= 0):
        raise UsageError(f"start must be a number of seconds >= 0, got {start!r}")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"seconds must be a positive number of seconds, got {seconds!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise UsageError(f"max_frames must be >= 1, got {max_frames!r}")


def detect_video_file(
    path: StrPath,
    *,
    key: Key | str | bytes | None = None,
    every: int = DEFAULT_EVERY,
    all_frames: bool = False,
    start: float | None = None,
    seconds: float | None = None,
    max_frames: int | None = None,
    audio: bool = True,
    speed_search: bool = True,
    progress: Progress | None = None,
) -> VideoFileDetection:
    """Look for the watermark in a video file's frames and in its sound (blind).

    Frames are decoded one at a time (only those other frames refer to, unless
    ``all_frames``: the decoder skips the rest, most B-frames) and every ``every``-th one of
    those from ``start`` seconds on, for ``seconds`` seconds (default: all), at most
    ``max_frames`` of them, is averaged into a :class:`~marking.watermark.video.VideoDetector`.
    When the average synchronises but does not decode, the same frames are decoded once more
    and weighted by how much of the mark each holds
    (:class:`~marking.watermark.video.VideoRefiner`).
    ``progress(done, total)`` counts frames by time. With ``audio``, the first
    audio track over the same span goes through an
    :class:`~marking.watermark.audio.AudioDetector` (``speed_search`` as for recordings).

    Returns a :class:`~marking.scheme.results.VideoFileDetection` (read as a dict too):
    ``input``, ``kind`` ("video"), ``detected`` (in the picture or the
    sound), ``payload`` (the picture's if found there, else the sound's, else None),
    ``false_alarm`` (of the mark reported; else the picture's), ``score`` and ``transform``
    (the picture's), ``frames_used``, ``frames_decoded`` (frames delivered by the decoder),
    ``every``, ``start_s``,
    ``duration_s`` (the span looked at), ``found_in`` (a list: "video", "audio"), ``video``
    (the picture's result: ``detected``, ``payload``, ``false_alarm``, ``score``) and
    ``audio``: None without an audio track, ``{"checked": False, "reason": ...}`` when it
    could not be looked at, else the sound's result (``checked``, ``detected``, ``payload``,
    ``false_alarm``, ``score``, ``offset``, ``speed``, ``duration_s``).
    """
    options = {"every": every, "all_frames": all_frames, "start": start, "seconds": seconds}
    options |= {"max_frames": max_frames, "audio": audio, "speed_search": speed_search}
    return next(detect_video_file_keys(path, [key], progress=progress, **options))


def detect_video_file_keys(
    path: StrPath,
    keys: Iterable[Key | str | bytes | None],
    *,
    every: int = DEFAULT_EVERY,
    all_frames: bool = False,
    start: float | None = None,
    seconds: float | None = None,
    max_frames: int | None = None,
    audio: bool = True,
    speed_search: bool = True,
    progress: Progress | None = None,
) -> Iterator[VideoFileDetection]:
    """:func:`detect_video_file` with each of ``keys`` in turn, lazily: the frames are
    decoded and averaged once (averaging needs no key), then each result searches the average
    (and reads the sound) with its key only when it is asked for, so a caller that stops at
    the first detection pays for no other key. Errors come with the first result."""
    from marking.scheme.limits import MIN_DETECT_SIDE
    from marking.watermark.video import VideoDetector, VideoRefiner

    _check_window(every, start, seconds, max_frames)
    source = Path(path)
    info = probe_video(source)
    _check_frame_size(source, info, MIN_DETECT_SIDE, "detection needs at least {} px a side")
    first = 0.0 if start is None else float(start)
    stop = math.inf if seconds is None else first + seconds
    detector = VideoDetector()
    window = _Window(first, stop, every, max_frames)
    span = _average_frames(source, info, detector, window, all_frames, progress)
    sound_stop = min(stop, span.end) if max_frames is not None else stop
    for key in keys:
        the_key = as_key(key)
        video = detector.result(the_key)
        refiner = VideoRefiner.after(video, the_key)
        if refiner is not None:  # synchronised, not decoded: the same frames, weighted
            _average_frames(source, info, refiner, window, all_frames, None)
            video = refiner.result()
        sound = None
        if audio:
            sound = _detect_sound(source, the_key, first, sound_stop, speed_search)
        yield _file_detection(source, video, sound, span, every)


def _file_detection(
    source: Path,
    video: VideoDetection,
    sound: SoundDetection | Unchecked | None,
    span: _Span,
    every: int,
) -> VideoFileDetection:
    """The picture's and the sound's verdicts as one: found in either, the picture's payload
    first."""
    found_in = [
        name
        for name, found in (
            ("video", video.detected),
            ("audio", isinstance(sound, SoundDetection) and sound.detected),
        )
        if found
    ]
    reported = video if video.detected or not found_in else sound
    return VideoFileDetection(
        detected=bool(found_in),
        payload=reported.payload,
        false_alarm=reported.false_alarm,
        score=video.score,
        input=os.fspath(source),
        transform=dict(video.transform),
        frames=video.frames,
        frames_decoded=span.decoded,
        every=every,
        start_s=round(span.start, 6),
        duration_s=round(span.end - span.start, 6),
        found_in=found_in,
        video=Detection(video.detected, video.payload, video.false_alarm, video.score),
        audio=sound,
    )


@dataclass(frozen=True)
class _Window:
    """Which frames detection averages: from ``first`` to ``stop`` seconds, every ``every``-th
    frame decoded, at most ``max_frames`` of them."""

    first: float
    stop: float
    every: int
    max_frames: int | None


@dataclass(frozen=True)
class _Span:
    """What the frame pass covered: frames decoded, and the span of the frames averaged (s)."""

    decoded: int
    start: float
    end: float


def _average_frames(
    source: Path,
    info: VideoInfo,
    detector: Any,
    window: _Window,
    all_frames: bool,
    progress: Progress | None,
) -> _Span:
    """Push the luma of the frames in ``window`` into ``detector``, one decoded frame at a time
    (only those other frames refer to, unless ``all_frames``)."""
    from marking.media.video import frames

    decoded = in_window = 0
    span_start = span_end = None
    total = info.frame_count or None
    rate = float(info.frame_rate)
    stream = frames(source, reference_only=not all_frames)
    try:
        for planes, frame in stream:
            decoded += 1
            if progress is not None:  # by time: skipped frames count as done
                done = round(frame.time * rate) + 1
                progress(done if total is None else min(done, total), total)
            if frame.time < window.first - 1e-9:
                continue
            if frame.time >= window.stop - 1e-9:
                break
            if span_start is None:
                span_start = frame.time
            span_end = frame.time + 1 / rate
            if in_window % window.every == 0:
                detector.push_plane(planes[0], max_value=frame.max_value)
            in_window += 1
            if window.max_frames is not None and detector.frames >= window.max_frames:
                break
    finally:
        stream.close()
    if detector.frames == 0:
        raise file_error(
            InputError, source, f"no video frames at or after {window.first:g} s to look at"
        )
    return _Span(decoded, span_start or 0.0, span_end or 0.0)


def _detect_sound(
    source: Path, key: Key, start: float, stop: float, speed_search: bool
) -> SoundDetection | Unchecked | None:
    """The audio watermark's verdict on the first audio track between ``start`` and ``stop``
    seconds (None without an audio track)."""
    from marking.media.audio import av_audio_blocks
    from marking.media.av_util import open_input
    from marking.watermark import audio as audio_watermark

    shown = display_path(source)
    with open_input(source, "audio or video") as container:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            return None
        rate = int(stream.codec_context.sample_rate)
        try:
            detector = audio_watermark.AudioDetector(rate=rate, key=key, speed_search=speed_search)
        except ValueError as error:  # a sample rate outside 8-192 kHz
            return Unchecked(str(error))
        first, last = math.ceil(start * rate), math.inf if math.isinf(stop) else stop * rate
        pushed = 0
        for position, samples in av_audio_blocks(container, stream, source):
            if position >= last:
                break
            low = max(0, first - position)
            high = len(samples) if position + len(samples) <= last else math.ceil(last - position)
            if high > low:
                piece = samples[low:high]
                if not np.isfinite(piece).all():
                    raise file_error(InputError, source, "the audio holds NaN or infinity")
                detector.push(piece)
                pushed += high - low
    shortest = audio_watermark.MIN_DETECT_SECONDS
    if pushed < shortest * rate:
        return Unchecked(
            f"{shown}: {pushed / rate:.2f} s of audio is too short to reveal a "
            f"watermark (at least {shortest:g} s)"
        )
    return SoundDetection(**fields_of(detector.result()))


__all__ = ["DEFAULT_EVERY", "detect_video_file", "detect_video_file_keys", "embed_video_file"]


def label_video(
    src: StrPath,
    dst: StrPath,
    settings: VideoLabelSettings | None = None,
    encoder: EncoderSettings | None = None,
) -> VideoLabeling:
    """Burn the label into ``src`` and write ``dst`` (atomically); returns a
    :class:`~marking.scheme.results.VideoLabeling` (read as a dict too).

    Audio and every other stream are copied untouched; see :func:`marking.media.video.transcode`.
    """
    settings = settings or VideoLabelSettings()
    info = probe_video(src)
    labeler = frame_labeler(src, settings, info)
    report = transcode(src, dst, labeler, encoder or EncoderSettings())
    label = labeler.record(report.duration_s or labeler.duration, info.rotation)
    return VideoLabeling(
        input=os.fspath(src),
        output=os.fspath(dst),
        frames=report.frames,
        frames_labeled=label.pop("frames_labeled"),
        intervals=label.pop("intervals"),
        duration_s=label.pop("duration_s"),
        text=label.pop("text"),
        encoder=report.encoder,
        pix_fmt=report.pix_fmt_out,
        copied_streams=report.copied_streams,
        skipped_streams=report.skipped_streams,
        notes=report.notes,
        corrupt_frames=report.corrupt_frames,
        seconds=report.seconds,
        layout=label,
    )
