"""Salvaging damaged audio: reading a file libsndfile stopped in again, with FFmpeg.

Readers (detect, verify) salvage what decodes: :func:`salvage_blocks` re-reads the file with
FFmpeg (:func:`av_audio_blocks`, also the sound track's decoder for video detection), which
resyncs after damage and fills the time lost with silence, so what follows keeps its place.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marking.errors import InputError
from marking.media.atomic import StrPath, file_error
from marking.media.audio_read import DEFAULT_BLOCKSIZE, AudioInfo, probe_audio


@dataclass
class Salvage:
    """What :func:`salvage_blocks` met: the damage, and the note for the reader's report."""

    damage: str
    notes: list[str] = field(default_factory=list)


#: The longest gap in the timestamps that is filled with silence (seconds); a longer jump is
#: a timestamp error, not lost audio.
_MAX_GAP_SECONDS = 60.0


@dataclass
class AvDecodeStats:
    """What :func:`av_audio_blocks` skipped: damaged packets, and the silence put in."""

    dropped_packets: int = 0
    gap_frames: int = 0


def av_audio_blocks(
    container: Any,
    stream: Any,
    source: Path,
    stats: AvDecodeStats | None = None,
    blocksize: int = DEFAULT_BLOCKSIZE,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode an audio stream with PyAV (FFmpeg) as float32 ``(n, channels)`` blocks.

    Yields ``(position, samples)``: where the block starts, in samples from the stream's
    start time (from its first frame when it has none). Damaged packets are skipped, as
    players do, and the time they covered, seen as a gap in the timestamps, is filled with
    silence (at most :data:`_MAX_GAP_SECONDS` at once), so the samples after damage stay in
    place; frames without a timestamp follow the one before. Raises :class:`InputError` when
    the container itself cannot be read on (a demuxer error).
    """
    import av

    stats = stats if stats is not None else AvDecodeStats()
    ctx = stream.codec_context
    rate, channels = int(ctx.sample_rate), int(ctx.channels)
    to_float = av.AudioResampler(format="flt", layout=ctx.layout, rate=rate)
    tick = float(stream.time_base or 0) * rate
    tolerance = max(math.ceil(2 * tick), rate // 100)
    largest_gap = round(_MAX_GAP_SECONDS * rate)
    origin = stream.start_time  # in the stream's time base
    position: int | None = None  # where the next sample belongs
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets, None)
        except av.FFmpegError as error:
            raise file_error(InputError, source, f"unreadable audio data: {error}") from None
        try:
            decoded = stream.decode(packet)
        except av.FFmpegError:
            stats.dropped_packets += 1
            decoded = []
        for frame in decoded:
            start = None
            if frame.pts is not None and frame.time_base:
                if origin is None:
                    origin = frame.pts
                start = round((frame.pts - origin) * frame.time_base * rate)
            if position is None:
                position = start or 0
            elif start is not None and tolerance < start - position <= largest_gap:
                stats.gap_frames += start - position
                while position < start:
                    count = min(blocksize, start - position)
                    yield position, np.zeros((count, channels), np.float32)
                    position += count
            pieces = [f.to_ndarray().reshape(-1, channels) for f in to_float.resample(frame)]
            if pieces:
                samples = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
                yield position, samples
                position += len(samples)
        if packet is None:
            return


def salvage_blocks(
    path: StrPath,
    salvage: Salvage,
    blocksize: int = DEFAULT_BLOCKSIZE,
    *,
    info: AudioInfo | None = None,
) -> Iterator[np.ndarray]:
    """Read a file libsndfile stopped in (``salvage.damage``) again, with FFmpeg.

    For readers (detect, verify), which salvage what decodes: FFmpeg resyncs after damage
    (a FLAC decoder that lost sync, noise in an MP3, a broken Ogg page), skips what it
    cannot decode and fills the time that covered with silence, so what follows keeps its
    place. The file is read from the start, since libsndfile may have skipped some audio
    silently before it stopped. Yields float32 ``(n, channels)`` blocks in constant memory,
    at most the header's frame count when it is exact, and adds the note to ``salvage``.
    """
    import av

    source = Path(path)
    info = info or probe_audio(source)
    expected = info.frames if info.length_exact else None
    stats = AvDecodeStats()
    got = 0
    try:
        container = av.open(os.fspath(source), "r", metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError):
        container = None
    if container is not None:
        with container:
            stream = next(iter(container.streams.audio), None)
            usable = stream is not None and (
                int(stream.codec_context.sample_rate),
                int(stream.codec_context.channels),
            ) == (info.samplerate, info.channels)
            blocks = av_audio_blocks(container, stream, source, stats, blocksize) if usable else ()
            for _, samples in blocks:
                if expected is not None:
                    samples = samples[: expected - got]
                got += len(samples)
                yield samples
                if expected is not None and got >= expected:
                    break
    how = []
    if stats.gap_frames:
        how.append(f"{stats.gap_frames / info.samplerate:.2f} s lost, filled with silence")
    if expected is not None and got < expected:
        how.append(f"{(expected - got) / info.samplerate:.2f} s short of the length it states")
    salvage.notes.append(
        f"damaged: {salvage.damage}; read again with FFmpeg, which skips what it cannot decode"
        + (f" ({', '.join(how)})" if how else "")
        + f": the marks were looked for in {got / info.samplerate:.2f} s"
    )
