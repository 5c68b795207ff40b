"""Watermarking audio files: stream a file through the embedder or detector, block by block.

The file-level twin of :mod:`marking.files.image`'s ``embed_file`` and ``detect_file``, for
recordings. Audio is read with :func:`marking.media.audio.read_blocks`, marked by
:class:`marking.watermark.audio.AudioEmbedder` and written by
:class:`marking.media.audio.AudioWriter`, so memory stays constant whatever the length, the copy
keeps the input's format, subtype, sample rate and channels, the input is never modified and
the output appears atomically (complete, or not at all). Unusable input gives the same one-line
:class:`~marking.errors.InputError` family as every other reader.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marking.errors import (
    InputError,
    InputTooSmallError,
    MarkingError,
    UnsupportedInputError,
)
from marking.media.atomic import StrPath, check_output_path, display_path, file_error
from marking.media.audio import (
    DEFAULT_BLOCKSIZE,
    AudioInfo,
    AudioWriter,
    DamagedAudioError,
    Salvage,
    check_output_suffix,
    count_frames,
    probe_audio,
    read_blocks,
    salvage_blocks,
)
from marking.scheme.keys import Key
from marking.scheme.limits import check_strength
from marking.scheme.results import (
    AudioEmbedding,
    AudioFileDetection,
    AudioLabeling,
    fields_of,
)

if TYPE_CHECKING:  # the audible label pulls in scipy.signal (~1 s): loaded only when used
    from marking.labels.audio_cue import CueSettings, CueWriter
    from marking.labels.morse_reader import MorseHit

#: Segment length of the segmental SNR (seconds).
SNR_SEGMENT_SECONDS = 0.02
#: Each segment's SNR is clipped to this range (dB) before averaging, as is customary.
SNR_CLIP_DB = (-10.0, 35.0)
#: Segments more than this far (dB) under the loudest one are near-silence, left out.
SNR_RANGE_DB = 60.0
#: Resolution (dB) of the segment-level histogram that finds the loudest segment's range.
_LEVEL_STEP_DB = 0.01


def _unmarkable(path: StrPath, error: ValueError) -> MarkingError:
    """The watermark's refusal of a stream's layout (rate, channels) as a one-line error."""
    return file_error(UnsupportedInputError, path, f"cannot be watermarked: {error}")


class SegmentalSnr:
    """Segmental SNR of a marked signal against its original, fed in pieces.

    Per segment of :data:`SNR_SEGMENT_SECONDS` (all channels together),
    ``10 log10(signal / error)``, clipped to :data:`SNR_CLIP_DB`; the result is the mean over
    the segments with signal, those at most :data:`SNR_RANGE_DB` under the loudest (the
    definition the watermark's tests use; a last, shorter segment is left out). ``None`` when
    there is no signal at all.

    Memory stays bounded: the originals wait in a queue only until the marked samples that
    match them come back (the embedder's lag), and segments are summed into a histogram of
    their level (steps of 0.01 dB), so the loudest segment's range is applied at the end
    without keeping every segment.
    """

    def __init__(self, rate: int, channels: int) -> None:
        self.segment = max(1, round(rate * SNR_SEGMENT_SECONDS))
        self.channels = channels
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0
        self._rest_original = np.zeros((0, channels), dtype=np.float64)
        self._rest_marked = np.zeros((0, channels), dtype=np.float64)
        self._loudest = 0.0
        #: level bin -> [sum of clipped segment SNRs, number of segments]
        self._bins: dict[int, list[float]] = {}

    def original(self, block: np.ndarray) -> None:
        """Queue original samples ``(n, channels)`` (copied: callers may reuse the buffer)."""
        if len(block):
            self._queue.append(np.array(block, dtype=np.float64))
            self._queued += len(block)

    def marked(self, block: np.ndarray) -> None:
        """Compare marked samples ``(n, channels)`` with the originals queued first."""
        count = len(block)
        if count == 0:
            return
        if count > self._queued:
            raise RuntimeError("more marked samples than original ones")
        pieces = [self._rest_original]
        needed = count
        while needed:
            head = self._queue[0]
            if len(head) <= needed:
                pieces.append(self._queue.popleft())
                needed -= len(head)
            else:
                pieces.append(head[:needed])
                self._queue[0] = head[needed:]
                needed = 0
        self._queued -= count
        original = np.concatenate(pieces)
        marked = np.concatenate([self._rest_marked, np.asarray(block, dtype=np.float64)])
        whole = len(original) // self.segment * self.segment
        self._add(original[:whole], marked[:whole])
        self._rest_original, self._rest_marked = original[whole:], marked[whole:]

    def _add(self, original: np.ndarray, marked: np.ndarray) -> None:
        if len(original) == 0:
            return
        shape = (len(original) // self.segment, self.segment * self.channels)
        signal = np.square(original).reshape(shape).sum(axis=1)
        error = np.square(marked - original).reshape(shape).sum(axis=1)
        keep = signal > 0
        if not keep.any():
            return
        signal, error = signal[keep], error[keep]
        self._loudest = max(self._loudest, float(signal.max()))
        with np.errstate(divide="ignore"):
            snr = np.clip(10 * np.log10(signal / error), *SNR_CLIP_DB)
        level = np.floor(10 * np.log10(signal) / _LEVEL_STEP_DB).astype(np.int64)
        bins, where = np.unique(level, return_inverse=True)
        sums = np.bincount(where, weights=snr)
        counts = np.bincount(where)
        for key, total, number in zip(bins.tolist(), sums.tolist(), counts.tolist(), strict=True):
            entry = self._bins.setdefault(key, [0.0, 0])
            entry[0] += total
            entry[1] += number

    def result(self) -> float | None:
        """The mean segmental SNR in dB, or ``None`` when the original has no signal."""
        if self._loudest <= 0:
            return None
        floor = 10 * math.log10(self._loudest) - SNR_RANGE_DB
        total = count = 0.0
        for key, (summed, number) in self._bins.items():
            if (key + 0.5) * _LEVEL_STEP_DB > floor:
                total += summed
                count += number
        return total / count if count else None


def embed_audio_file(
    src: StrPath,
    dst: StrPath,
    *,
    key: Key | str | bytes | None = None,
    payload: bytes | str | int | None = None,
    strength: float = 1.0,
    blocksize: int = DEFAULT_BLOCKSIZE,
    cue: Any = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> AudioEmbedding:
    """Write a watermarked copy of the recording ``src`` to ``dst``; ``src`` is never modified.

    With ``cue`` (:class:`~marking.labels.audio_cue.CueSettings`), the audible label goes in
    first and the watermark covers the result, in the same single pass (one decode, one
    encode); the record then also has ``cue`` and ``placements``, and ``snr_db`` is the
    watermark's alone. ``progress(done, total)`` is called after every block: input
    frames read, of the length the header gives (None when it gives none, as some MP3s).

    ``payload`` is 8 bytes, 16 hex digits or an int; ``None`` draws a random one. The copy keeps
    the input's format, subtype, sample rate and channels (a lossy input is encoded again, with
    libsndfile's default settings) and is written atomically, block by block. Returns an
    :class:`~marking.scheme.results.AudioEmbedding` (read as a dict too): ``input``,
    ``output``, ``kind`` ("audio"), ``payload`` (hex), ``snr_db`` (segmental SNR of the marked
    samples against the original, before the output's encoding; ``None`` for a silent file,
    which stays silent and carries no mark), ``format``, ``subtype``, ``sample_rate``,
    ``channels``, ``duration_s``.

    Raises :class:`InputError` (missing, empty, corrupt or truncated input),
    :class:`InputTooSmallError` (shorter than the detector can look at: 1 s),
    :class:`UnsupportedInputError` (a format libsndfile cannot read or write, a sample rate
    outside 8-192 kHz, more than 64 channels), :class:`OutputError` (output is the input,
    directory missing) and :class:`UsageError` (bad payload or strength, an output suffix of
    another format).
    """
    from marking.scheme.payload import parse_payload_option, random_payload

    payload_bytes = random_payload() if payload is None else parse_payload_option(payload)
    strength = check_strength(strength)
    source, target = Path(src), Path(dst)
    check_output_path(target, forbid=[source])
    info = probe_audio(source)
    check_output_suffix(target, info)
    shortest = _shortest_detectable()
    if info.length_exact:
        _check_length(source, info.duration, shortest, "mark")
    embedder = _audio_embedder(source, info, payload_bytes, key, strength)
    writer = None
    if cue is not None:
        from marking.labels.audio_cue import CueWriter

        info = count_frames(source, info=info)  # an MP3 without a length tag: decode to count
        writer = CueWriter(info.samplerate, info.channels, cue, info.frames)
    total = info.frames if info.length_exact else None
    blocks_done = (lambda frames: progress(frames, total)) if progress else (lambda _: None)
    snr, frames = _mark_stream(source, target, info, embedder, writer, blocksize, blocks_done)
    _check_length(source, frames / info.samplerate, shortest, "mark")  # MP3 without length
    rate = info.samplerate
    return AudioEmbedding(
        input=os.fspath(source),
        output=os.fspath(target),
        payload=payload_bytes.hex(),
        snr_db=snr,
        format=info.format,
        subtype=info.subtype,
        sample_rate=rate,
        channels=info.channels,
        duration_s=(frames if writer is None else writer.frames_out) / rate,
        cue=None if writer is None else cue.describe() | {"duration_s": len(writer.cue) / rate},
        placements=None if writer is None else [place.seconds(rate) for place in writer.placements],
    )


def _audio_embedder(
    source: Path, info: AudioInfo, payload: bytes, key: Key | str | bytes | None, strength: float
) -> Any:
    """The watermark's embedder for the recording's layout; a refused layout (rate, channels)
    as a one-line error."""
    from marking.watermark.audio import AudioEmbedder

    try:
        return AudioEmbedder(
            rate=info.samplerate,
            channels=info.channels,
            payload=payload,
            key=key,
            strength=strength,
        )
    except ValueError as error:
        raise _unmarkable(source, error) from None


def _mark_stream(
    source: Path,
    target: Path,
    info: AudioInfo,
    embedder: Any,
    writer: CueWriter | None,
    blocksize: int,
    progress: Callable[[int], None] = lambda _frames: None,
) -> tuple[float | None, int]:
    """Stream ``source`` through the cue ``writer`` (if any) and the embedder into ``target``
    (atomically); returns the segmental SNR of the watermark and the input frames read."""
    snr = SegmentalSnr(info.samplerate, info.channels)
    frames = 0

    def mark(block: np.ndarray) -> np.ndarray:
        snr.original(block)
        marked = _mark(embedder.push, source, block)
        snr.marked(marked)
        return marked

    with AudioWriter(target, info, forbid=[source]) as output:
        for block in read_blocks(source, blocksize, info=info):
            frames += len(block)
            # A cue writer may hand back views of the block: mark (and write) them at once.
            for piece in writer.feed(block) if writer is not None else [block]:
                output.write(mark(piece))
            progress(frames)
        for piece in writer.finish() if writer is not None else []:
            output.write(mark(piece))
        marked = _mark(embedder.finish, source)
        snr.marked(marked)
        output.write(marked)
    return snr.result(), frames


def _mark(step: Any, source: Path, *block: np.ndarray) -> np.ndarray:
    """``step(*block)``, with the embedder's complaint about the samples as an InputError."""
    try:
        return np.asarray(step(*block))
    except ValueError as error:  # NaN or infinity in a float file
        raise file_error(InputError, source, f"cannot mark the audio: {error}") from None


def _shortest_detectable() -> float:
    """Seconds of audio the detector needs at the least."""
    from marking.watermark import audio as audio_watermark

    return float(getattr(audio_watermark, "MIN_DETECT_SECONDS", 1.0))


def _check_length(source: Path, seconds: float, shortest: float, verb: str) -> None:
    """Refuse audio shorter than the detector can look at (as images under a minimum size)."""
    if seconds < shortest:
        what = "carry" if verb == "mark" else "reveal"
        raise file_error(
            InputTooSmallError,
            source,
            f"{seconds:.2f} s of audio is too short to {what} a watermark"
            f" (at least {shortest:g} s)",
        )


def detect_audio_file(
    path: StrPath,
    *,
    key: Key | str | bytes | None = None,
    speed_search: bool = True,
    blocksize: int = DEFAULT_BLOCKSIZE,
) -> AudioFileDetection:
    """Read a recording block by block and look for the watermark (blind: no original needed).

    Returns an :class:`~marking.scheme.results.AudioFileDetection` (read as a dict too):
    ``input``, ``kind`` ("audio"), ``detected``, ``payload`` (hex or ``None``),
    ``false_alarm``, ``score``, ``offset`` (seconds into the file where a period of the mark
    starts, ``None`` when nothing was found), ``speed`` (playback speed the mark was found at),
    ``duration_s``, ``notes`` (damage read past: a reader salvages what decodes, see
    :func:`~marking.media.audio.salvage_blocks`). Raises :class:`InputError` for unusable input,
    :class:`InputTooSmallError` for less than a second of audio and
    :class:`UnsupportedInputError` for a sample rate outside 8-192 kHz.
    """
    from marking.watermark import audio as audio_watermark

    source = Path(path)
    info = probe_audio(source)
    try:
        detector = audio_watermark.AudioDetector(
            rate=info.samplerate, key=key, speed_search=speed_search
        )
    except ValueError as error:
        raise _unmarkable(source, error) from None
    shortest = _shortest_detectable()
    if info.length_exact:
        _check_length(source, info.duration, shortest, "detect")
    salvage = None
    try:
        for block in read_blocks(source, blocksize, info=info):
            detector.push(block)
    except DamagedAudioError as damage:
        # A reader salvages what decodes: FFmpeg reads the file again, past the damage.
        salvage = Salvage(damage.problem)
        detector = audio_watermark.AudioDetector(
            rate=info.samplerate, key=key, speed_search=speed_search
        )
        salvaged = 0
        for block in salvage_blocks(source, salvage, blocksize, info=info):
            detector.push(block)
            salvaged += len(block)
        if salvaged < shortest * info.samplerate:
            raise damage from None  # too little decodes to look: the damage is the answer
    detection = detector.result()
    _check_length(source, detection.seconds, shortest, "detect")
    return AudioFileDetection(
        **fields_of(detection),
        input=os.fspath(source),
        notes=salvage.notes if salvage is not None else [],
    )


def label_audio_file(
    src: StrPath,
    dst: StrPath,
    settings: CueSettings | None = None,
    *,
    blocksize: int = DEFAULT_BLOCKSIZE,
) -> AudioLabeling:
    """Write a copy of ``src`` to ``dst`` with the audible label; return a record of it.

    The copy keeps the input's format, subtype, sample rate and channels and is written
    atomically, block by block (constant memory). ``src`` is only read. Raises
    :class:`InputError` for unusable input, :class:`UnsupportedInputError` when libsndfile
    cannot write the input's format, :class:`OutputError` / :class:`UsageError` for a bad
    output path.
    """
    from marking.labels.audio_cue import CueSettings, CueWriter, build_cue

    settings = settings or CueSettings()
    source, target = Path(src), Path(dst)
    forbid: list[StrPath] = [source]
    if settings.speech_path is not None:
        forbid.append(settings.speech_path)
    check_output_path(target, forbid)
    info = probe_audio(source)
    check_output_suffix(target, info)
    info = count_frames(source, info=info)  # an MP3 without a length tag: decode to count
    if settings.tone_hz >= 0.45 * info.samplerate:
        # The input's rate is at fault (a header declaring 1 Hz), not the options: exit 3.
        raise UnsupportedInputError(
            f"{display_path(source)}: sample rate {info.samplerate} Hz is too low for the"
            f" {settings.tone_hz:g} Hz cue"
        )
    cue = build_cue(info.samplerate, info.channels, settings)
    writer = CueWriter(info.samplerate, info.channels, settings, info.frames, cue=cue)
    with AudioWriter(target, info, forbid=forbid) as output:
        for block in writer.stream(read_blocks(source, blocksize, info=info)):
            output.write(block)
    rate = info.samplerate
    return AudioLabeling(
        input=str(source),
        output=str(target),
        format=info.format,
        subtype=info.subtype,
        sample_rate=rate,
        channels=info.channels,
        frames_in=writer.frames_in,
        frames_out=writer.frames_out,
        duration_in_s=writer.frames_in / rate,
        duration_out_s=writer.frames_out / rate,
        cue=settings.describe() | {"duration_s": len(cue) / rate},
        placements=[placement.seconds(rate) for placement in writer.placements],
    )


def detect_morse_file(path: StrPath, settings: CueSettings | None = None) -> list[MorseHit]:
    """:func:`detect_morse` on a file, streamed block by block."""
    from marking.labels.audio_cue import CueSettings
    from marking.labels.morse_reader import MorseDetector

    settings = settings or CueSettings()
    info = probe_audio(path)
    detector = MorseDetector(info.samplerate, settings)
    for block in read_blocks(path, info=info):
        detector.feed(block)
    return detector.finish()
