"""Reading and writing audio files: the only module that opens them.

Everything goes through soundfile (libsndfile): WAV, FLAC, OGG (Vorbis, Opus), MP3 and the
other formats libsndfile knows. Audio is read in blocks into one reused buffer and written
block by block, so a file of any length is handled in constant memory.

* :func:`probe_audio` reads only the header and turns every way a file can be unusable into
  one :class:`~marking.errors.InputError` with a one-line message.
* :func:`read_blocks` yields float32 blocks of shape ``(n, channels)``; a stream that ends
  before the header's frame count (a cut-off MP3, a damaged FLAC) raises
  :class:`DamagedAudioError`. Writers refuse it; readers (detect, verify) salvage what
  decodes with :func:`salvage_blocks`, which reads the file again with FFmpeg
  (:func:`av_audio_blocks`, also the sound track's decoder for video detection).
* A WAV with more chunks before its samples than libsndfile takes in (5,000 LIST chunks)
  is opened through a view without the excess (``_WavView``).
  An MP3 without a Xing/Info/VBRI tag only has an estimated count; :func:`count_frames`
  decodes it once to get the exact one.
* Reads never seek (soundfile's seek after every read garbles MP3 block reads; see
  ``_SequentialSoundFile``).
* libmpg123 (libsndfile's MP3 decoder) prints its complaints about damaged MP3 straight to
  file descriptor 2; :func:`decoder_messages` catches them around the calls that can reach
  it, so a bad file still gets one line on stderr (see its docstring).
* :class:`AudioWriter` writes a copy with the source's format, subtype, rate and channels
  atomically: the target is either complete or untouched.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import soundfile as sf

from marking.errors import (
    InputError,
    InputTooLargeError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.media.atomic import (
    StrPath,
    atomic_write,
    check_output_path,
    display_path,
    file_error,
    input_file_problem,
    open_regular,
)
from marking.media.interrupts import check as check_interrupted
from marking.media.sniffing import suffix_format

#: Frames per block when streaming (64 Ki frames: 0.5 MiB per stereo float32 block).
DEFAULT_BLOCKSIZE = 65536

#: Subtypes stored as integers: written samples are clamped to [-1, 1] first, so a value a
#: hair over full scale can never wrap around.
_INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"})

#: libsndfile's error numbers (``sf_error``) that say something specific about the file.
_SF_ERR_UNRECOGNISED_FORMAT = 1
_SF_ERR_MALFORMED_FILE = 3
_SF_ERR_UNSUPPORTED_ENCODING = 4

#: Media libsndfile cannot read, recognised by their first bytes, so the message names them.
_UNREADABLE_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/M4A (AAC, ALAC) audio"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM audio"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA/ASF audio"),
    (0, b"#!AMR", "AMR audio"),
    (0, b"MAC ", "Monkey's Audio (APE)"),
    (0, b"wvpk", "WavPack audio"),
    (0, b"MThd", "MIDI"),
)

#: File name suffixes and the format a file with that suffix must have.
_SUFFIX_FORMATS = {
    ".wav": ("WAV", "WAVEX", "RF64"),
    ".wave": ("WAV", "WAVEX", "RF64"),
    ".w64": ("W64",),
    ".rf64": ("RF64",),
    ".flac": ("FLAC",),
    ".ogg": ("OGG",),
    ".oga": ("OGG",),
    ".opus": ("OGG",),
    ".mp3": ("MP3",),
    ".aif": ("AIFF",),
    ".aiff": ("AIFF",),
    ".aifc": ("AIFF",),
    ".caf": ("CAF",),
    ".au": ("AU",),
}


@dataclass(frozen=True)
class AudioInfo:
    """What a copy must keep of its source: container, encoding, rate, channels, length."""

    path: Path
    format: str
    subtype: str
    endian: str
    samplerate: int
    channels: int
    frames: int
    #: String tags libsndfile can carry over (title, artist, comment, ...).
    metadata: dict[str, str] = field(default_factory=dict, compare=False)
    #: Whether ``frames`` is exact. An MP3 without a Xing/Info/VBRI tag only has an estimate
    #: (from its size and bitrate); :func:`count_frames` decodes it to get the real count.
    length_exact: bool = True

    @property
    def duration(self) -> float:
        """Length in seconds (from the header's frame count)."""
        return self.frames / self.samplerate


def _sniff_unreadable(path: Path) -> str | None:
    """Name the media type when the file starts like one libsndfile cannot decode."""
    try:
        with open_regular(path) as stream:
            head = stream.read(16)
    except OSError:
        return None
    for offset, magic, name in _UNREADABLE_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    # ADTS AAC: 12-bit sync, then layer bits 00 (MP3 frames have layer bits != 00).
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "raw AAC (ADTS) audio"
    return None


#: Tags in an MP3's first frame that state the exact length (LAME/Xing, Fraunhofer VBRI).
_MP3_LENGTH_TAGS = (b"Xing", b"Info", b"VBRI")


def _mp3_states_length(path: Path) -> bool:
    """Whether the first MPEG frame (after any ID3v2 tag) carries a Xing/Info/VBRI tag.

    Without one, libsndfile's frame count is an estimate from the file size and bitrate.
    """
    try:
        with open_regular(path) as stream:
            head = stream.read(10)
            offset = 0
            if len(head) == 10 and head[:3] == b"ID3":
                size = 0
                for byte in head[6:10]:
                    size = (size << 7) | (byte & 0x7F)
                offset = 10 + size + (10 if head[5] & 0x10 else 0)
            stream.seek(offset)
            data = stream.read(8192)
    except OSError:
        return False
    for position in range(len(data) - 1):
        if data[position] == 0xFF and data[position + 1] & 0xE0 == 0xE0:
            frame = data[position : position + 200]
            return any(tag in frame for tag in _MP3_LENGTH_TAGS)
    return False


#: A line libmpg123 prints itself: "Note: ...", "Warning: ...", or its error macros'
#: "[src/libmpg123/parse.c:wetwork():1349] error: ..." (libsndfile itself never prints).
_DECODER_LINE = re.compile(rb"^(?:(?:Note|Warning): |\[[^\]\n]*mpg123[^\]\n]*:\w*\(\):\d+\] \w+: )")
#: Longest decoder message folded into an error line (characters).
_DECODER_DETAIL_LENGTH = 120
#: Where the first clause of a decoder message ends.
_DECODER_CLAUSE_END = re.compile(r",\s|;\s|\s-\s|\s\(|\.\s|\.\.\.")
#: Decoder messages kept per call (a long damaged stream can produce one per resync).
_DECODER_MESSAGES_KEPT = 20
#: Serialises redirections of file descriptor 2 within the process (see decoder_messages).
_STDERR_LOCK = threading.RLock()


def _flush_python_stderr() -> None:
    """Write out what Python buffered for stderr, so it lands on the right side of a dup2."""
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


@contextlib.contextmanager
def decoder_messages(messages: list[str]) -> Iterator[None]:
    """Catch what libmpg123 prints on file descriptor 2 during the block into ``messages``.

    libsndfile decodes MP3 through libmpg123, which reports damaged input itself with
    ``fprintf(stderr, ...)`` ("Note: Illegal Audio-MPEG-Header 0x... at offset 1587.",
    "Note: Trying to resync...", "Warning: Xing stream size off by more than 1%..."). That
    would break the rule that a bad input gets exactly one error line. libmpg123's own switch
    (the ``MPG123_QUIET`` flag) is out of reach: the decoder handle belongs to libsndfile,
    which never sets it and has no command for it, and the soundfile wheel links libmpg123
    statically. So, around the libsndfile calls that can reach the decoder (opening any
    file, since libsndfile tries MPEG on data it does not otherwise recognise, and reading
    an MP3), file descriptor 2 goes to an anonymous temporary file, and is put back when the
    block ends, whatever happens in it.

    Then every libmpg123 line (see ``_DECODER_LINE``) is appended to ``messages``, its prefix
    removed, for the caller to fold into its one-line error if the call failed (and to drop
    if it succeeded: the callers check truncation themselves). Every other byte written to
    the descriptor meanwhile (a Python warning, another thread's output) is copied to the
    real stderr afterwards, so nothing but libmpg123's chatter is ever lost; Python's own
    ``sys.stderr`` buffer is flushed before and after, so its text stays in order.

    File descriptors belong to the whole process: the lock below keeps two threads from
    redirecting at once (they would restore each other's descriptor), and output another
    thread writes during the block is delayed until it ends. The command line decodes in one
    thread per process (batch workers are separate processes), so neither matters there;
    the blocks are short (one libsndfile call). Nested use is fine (the lock is re-entrant).
    If the redirection cannot be set up (no descriptor 2, no temporary directory), the block
    simply runs with stderr as it is.
    """
    with _STDERR_LOCK:
        _flush_python_stderr()
        redirected = _redirect_stderr()
        if redirected is None:
            yield
            return
        capture, saved = redirected
        try:
            yield
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            with capture:
                _sort_decoder_output(capture, messages)


def _redirect_stderr() -> tuple[Any, int] | None:
    """Point file descriptor 2 at a new temporary file: (that file, a copy of the old fd 2)."""
    try:
        capture = tempfile.TemporaryFile()  # noqa: SIM115 - decoder_messages closes it
    except OSError:
        return None
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all
        capture.close()
        return None
    try:
        os.dup2(capture.fileno(), 2)
    except OSError:
        os.close(saved)
        capture.close()
        return None
    return capture, saved


def _sort_decoder_output(capture: Any, messages: list[str]) -> None:
    """Keep libmpg123's lines from ``capture`` in ``messages``; copy the rest to stderr."""
    capture.seek(0)
    for line in capture:
        match = _DECODER_LINE.match(line)
        if match is None:
            _write_stderr(line)
        elif len(messages) < _DECODER_MESSAGES_KEPT:
            text = line[match.end() :].decode("utf-8", "replace").strip().rstrip(".").strip()
            if text:
                messages.append(text)


def _write_stderr(data: bytes) -> None:
    """Write ``data`` to file descriptor 2 in full (best effort: a closed stderr is ignored)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(2, view)
        except OSError:
            return
        view = view[written:]


def _decoder_detail(messages: list[str]) -> str | None:
    """The decoder's first message as a short clause for an error line, or None.

    libmpg123 tends to add advice ("Giving up resync after 1024 bytes - your stream is not
    nice... (maybe increasing resync limit could help)"): only the first clause is kept.
    """
    if not messages:
        return None
    text = " ".join(messages[0].split())
    text = _DECODER_CLAUSE_END.split(text, maxsplit=1)[0].rstrip(".")
    if len(text) > _DECODER_DETAIL_LENGTH:
        text = text[: _DECODER_DETAIL_LENGTH - 3].rstrip() + "..."
    return f"MP3 decoder: {text}"


def _open_error(
    path: Path, error: sf.LibsndfileError, messages: list[str] | None = None
) -> InputError:
    """Turn libsndfile's refusal to open ``path`` into a one-line :class:`InputError`."""
    shown = display_path(path)
    media = _sniff_unreadable(path)
    if media is not None:
        return UnsupportedInputError(
            f"{shown}: {media} is not supported; convert it to WAV, FLAC, OGG or MP3 first"
        )
    if error.code == _SF_ERR_UNSUPPORTED_ENCODING:
        return UnsupportedInputError(f"{shown}: audio encoding not supported by libsndfile")
    if error.code == _SF_ERR_MALFORMED_FILE:
        return InputError(f"{shown}: corrupt or truncated audio file (malformed header)")
    if error.code == _SF_ERR_UNRECOGNISED_FORMAT:
        return InputError(f"{shown}: not an audio file libsndfile can read (format not recognised)")
    detail = _decoder_detail(messages or [])
    suffix = f"; {detail}" if detail else ""
    return InputError(f"{shown}: cannot decode the audio (corrupt, truncated or not audio{suffix})")


def _check_is_file(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a readable, non-empty regular file."""
    problem = input_file_problem(path, "audio")
    if problem:
        raise InputError(f"{display_path(path)}: {problem}")


class _SequentialSoundFile(sf.SoundFile):
    """A read-only :class:`soundfile.SoundFile` that does not seek after every read.

    soundfile (0.14) follows each read with ``seek(tell() + frames)`` to keep its position
    in step. libsndfile's MP3 seek (through mpg123) is approximate, so that seek corrupts
    MP3 audio read in blocks (whole-file reads are unaffected); in read-only mode it serves
    no purpose, so reads here skip it. This overrides a private soundfile method; the
    block-versus-whole-file MP3 test in ``tests/test_audio_io.py`` guards it.
    """

    #: The :class:`_WavView` it reads through, if any: closed with it.
    view: _WavView | None = None

    def close(self) -> None:
        super().close()
        if self.view is not None:
            self.view.close()

    def _cdata_io(self, action: str, data: Any, ctype: str, frames: int) -> int:
        if action != "read" or self.mode != "r":
            return int(super()._cdata_io(action, data, ctype, frames))
        self._check_if_closed()
        count = getattr(sf._snd, f"sf_readf_{ctype}")(self._file, data, frames)
        sf._error_check(self._errorcode)
        return int(count)


#: The chunks before a WAV's 'data' that libsndfile parses (LIST and the like) go into a
#: header buffer it refuses to grow past 100 KiB (it doubles it, so 64 KiB is the most it
#: gets): a WAV with more, say 5,000 LIST chunks before its samples, fails to open ("No
#: 'data' chunk marker") although every player plays it. Such a file is opened through a
#: view that leaves out the chunks beyond this many bytes (see :class:`_WavView`).
_WAV_HEADER_BUDGET = 32 * 1024
#: Chunks a WAV's samples cannot be decoded without: always in the view.
_WAV_ESSENTIAL_CHUNKS = frozenset({b"fmt ", b"fact", b"data"})


class _WavView:
    """A read-only file object showing a RIFF WAVE file without some of its chunks.

    Built from ranges of the real file (the chunks kept, verbatim) after a new 12-byte RIFF
    header; reads and seeks map onto the file, so nothing is copied or held in memory.
    """

    def __init__(self, path: Path, ranges: list[tuple[int, int]]) -> None:
        body = sum(size for _, size in ranges)
        header = b"RIFF" + min(4 + body, 0xFFFFFFFF).to_bytes(4, "little") + b"WAVE"
        self._header = header
        self._ranges = ranges
        #: Where each range starts in the view (after the header).
        self._starts = list(itertools.accumulate((size for _, size in ranges), initial=12))
        self._size = len(header) + body
        self._position = 0
        self._file = open_regular(path)

    def read(self, count: int = -1) -> bytes:
        end = self._size if count is None or count < 0 else min(self._size, self._position + count)
        pieces = []
        while self._position < end:
            piece = self._piece(self._position, end - self._position)
            if not piece:
                break
            pieces.append(piece)
            self._position += len(piece)
        return b"".join(pieces)

    def _piece(self, position: int, count: int) -> bytes:
        if position < len(self._header):
            return self._header[position : position + count]
        index = bisect.bisect_right(self._starts, position) - 1
        if index >= len(self._ranges):
            return b""
        offset, size = self._ranges[index]
        start = self._starts[index]
        self._file.seek(offset + position - start)
        return self._file.read(min(count, start + size - position))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._file.close()


def _wav_view(path: Path) -> _WavView | None:
    """A view of a RIFF WAVE file whose chunks before 'data' libsndfile cannot take in (see
    :data:`_WAV_HEADER_BUDGET`) without the ones past the budget; None for any other file."""
    from marking.media.riff import riff_layout

    try:
        with open_regular(path) as stream:
            layout = riff_layout(stream, display_path(path))
            file_size = stream.seek(0, os.SEEK_END)
    except (InputError, OSError):
        return None
    ranges: list[tuple[int, int]] = []
    spent = 0
    dropped = False
    before_data = True
    for chunk in layout.chunks:
        start = chunk.offset - 8
        size = min(8 + chunk.declared + (chunk.declared & 1), file_size - start)
        essential = chunk.name in _WAV_ESSENTIAL_CHUNKS or not before_data
        if not essential and spent + size > _WAV_HEADER_BUDGET:
            dropped = True
        else:
            spent += 0 if essential else size
            ranges.append((start, size))
        before_data = before_data and chunk.name != b"data"
    if not dropped:
        return None
    return _WavView(path, ranges)


def open_sound(path: Path) -> _SequentialSoundFile:
    """Open ``path`` with libsndfile, through a :class:`_WavView` when it is a WAV with more
    chunks before its samples than libsndfile takes in. Raises what soundfile raises."""
    try:
        return _SequentialSoundFile(path)
    except sf.LibsndfileError:
        view = _wav_view(path)
        if view is None:
            raise
    try:
        sound = _SequentialSoundFile(view)
    except BaseException:
        view.close()
        raise
    sound.view = view
    return sound


def _open_for_reading(path: Path) -> sf.SoundFile:
    """Open ``path`` with libsndfile, mapping every failure to :class:`InputError`.

    libmpg123's messages while opening are caught (see :func:`decoder_messages`); the first
    one goes into the error if the open fails.
    """
    _check_is_file(path)
    messages: list[str] = []
    try:
        with decoder_messages(messages):
            return open_sound(path)
    except sf.LibsndfileError as error:
        raise _open_error(path, error, messages) from None
    except (sf.SoundFileRuntimeError, RuntimeError, TypeError, ValueError) as error:
        raise InputError(f"{display_path(path)}: cannot open the audio: {error}") from None


def probe_audio(path: StrPath) -> AudioInfo:
    """Read the header of an audio file: format, subtype, rate, channels and frame count.

    Raises :class:`InputError` (missing, empty, corrupt, truncated header, not audio, no
    frames) or :class:`UnsupportedInputError` (a media type libsndfile does not decode).
    Truncation inside the audio data only shows while reading; see :func:`read_blocks`.
    """
    source = Path(path)
    shown = display_path(source)
    with _open_for_reading(source) as sound:
        info = AudioInfo(
            path=source,
            format=sound.format,
            subtype=sound.subtype,
            endian=sound.endian,
            samplerate=int(sound.samplerate),
            channels=int(sound.channels),
            frames=int(sound.frames),
            metadata=dict(sound.copy_metadata()),
            length_exact=sound.format != "MP3" or _mp3_states_length(source),
        )
    if info.samplerate <= 0 or info.channels <= 0:
        raise InputError(f"{shown}: invalid header (rate {info.samplerate}, {info.channels} ch)")
    if info.frames <= 0:
        raise InputError(f"{shown}: contains no audio frames (empty, truncated or corrupt)")
    return info


class DamagedAudioError(InputError):
    """The audio stops decoding partway (:func:`read_blocks`): a reader may salvage it with
    :func:`salvage_blocks`; a writer refuses it."""

    #: The message without the file name (set by :func:`marking.media.atomic.file_error`).
    problem: str


@dataclass
class Salvage:
    """What :func:`salvage_blocks` met: the damage, and the note for the reader's report."""

    damage: str
    notes: list[str] = field(default_factory=list)


def read_blocks(
    path: StrPath, blocksize: int = DEFAULT_BLOCKSIZE, *, info: AudioInfo | None = None
) -> Iterator[np.ndarray]:
    """Yield the audio as float32 blocks of shape ``(n, channels)``, never the whole file.

    Every block is a view of one reused buffer: it is valid only until the next block is
    requested (copy what you keep). Raises :class:`InputError` when the file cannot be
    opened and :class:`DamagedAudioError` when decoding fails or, if the header's frame
    count is exact, when the stream ends before it (a truncated or corrupt file). With an
    estimated count (``info.length_exact`` false) the stream is read to its end, however
    long it turns out to be.
    """
    if blocksize <= 0:
        raise UsageError(f"block size must be positive, not {blocksize}")
    source = Path(path)
    info = info or probe_audio(source)
    expected = info.frames if info.length_exact else None
    yield from _read_blocks(source, blocksize, expected)


def _read_blocks(source: Path, blocksize: int, expected: int | None) -> Iterator[np.ndarray]:
    """:func:`read_blocks` for ``expected`` frames exactly, or to the end when it is None."""
    # SoundFile.blocks() would hand back stale buffer contents when the decoder delivers
    # fewer frames than the header promised; read() into the buffer reports the count.
    # Reads are sequential, never seeking (see _SequentialSoundFile).
    with _open_for_reading(source) as sound:
        buffer = np.empty((blocksize, sound.channels), dtype=np.float32)
        # Only MP3 reads reach libmpg123, the one decoder that prints (decoder_messages).
        quiet = decoder_messages if sound.format == "MP3" else _not_caught
        # What the decoder said while reading: its first complaint says where the damage is.
        messages: list[str] = []
        done = 0
        while expected is None or done < expected:
            check_interrupted()  # a safe point: see marking.media.interrupts
            wanted = blocksize if expected is None else min(blocksize, expected - done)
            try:
                with quiet(messages):
                    block = sound.read(wanted, dtype="float32", always_2d=True, out=buffer)
            except (sf.SoundFileRuntimeError, RuntimeError) as error:
                detail = _decoder_detail(messages) or str(error)
                raise file_error(
                    DamagedAudioError,
                    source,
                    f"corrupt or truncated audio at frame {done} ({detail})",
                ) from None
            if len(block) == 0:
                if expected is None:
                    return
                detail = _decoder_detail(messages)
                raise file_error(
                    DamagedAudioError,
                    source,
                    f"audio ends after {done} of {expected} frames"
                    f" (truncated or corrupt file{'; ' + detail if detail else ''})",
                )
            done += len(block)
            yield block


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


@contextlib.contextmanager
def _not_caught(_messages: list[str]) -> Iterator[None]:
    """:func:`decoder_messages` for decoders that print nothing: leaves stderr alone."""
    yield


def count_frames(path: StrPath, *, info: AudioInfo | None = None) -> AudioInfo:
    """Return ``info`` with an exact frame count, decoding the file once if need be.

    Only MP3 files without a length tag need the decoding pass (constant memory).
    """
    info = info or probe_audio(path)
    if info.length_exact:
        return info
    frames = sum(len(block) for block in read_blocks(path, info=info))
    if frames <= 0:
        raise InputError(f"{display_path(path)}: contains no decodable audio frames")
    return replace(info, frames=frames, length_exact=True)


def read_audio(path: StrPath, *, max_seconds: float) -> tuple[np.ndarray, int]:
    """Read a short file whole (a spoken prompt): float32 ``(n, channels)`` and its rate.

    Raises :class:`InputTooLargeError` beyond ``max_seconds`` so a wrong file cannot fill
    memory.
    """
    info = probe_audio(path)
    if info.duration > 2 * max_seconds:  # even an estimated length is not this far off
        raise InputTooLargeError(
            f"{display_path(info.path)}: {info.duration:.1f} s is longer than the"
            f" {max_seconds:g} s allowed here"
        )
    info = count_frames(path, info=info)
    if info.duration > max_seconds:
        raise InputTooLargeError(
            f"{display_path(info.path)}: {info.duration:.1f} s is longer than the"
            f" {max_seconds:g} s allowed here"
        )
    blocks = [block.copy() for block in read_blocks(path, info=info)]
    return np.concatenate(blocks), info.samplerate


def writable(info: AudioInfo) -> bool:
    """Whether libsndfile claims it can write this format/subtype/rate/channels combination."""
    return bool(
        sf.check_format(info.format, info.subtype, info.endian)
        if info.endian != "FILE"
        else sf.check_format(info.format, info.subtype)
    )


def _unwritable(info: AudioInfo) -> UnsupportedInputError:
    return UnsupportedInputError(
        f"{display_path(info.path)}: libsndfile cannot write {info.format} files with"
        f" {info.subtype} encoding ({info.samplerate} Hz, {info.channels} channels), so a"
        " labelled copy in the same format is impossible; convert the input (e.g. to WAV or"
        " FLAC) first"
    )


def check_output_suffix(path: StrPath, info: AudioInfo) -> None:
    """Refuse an output name whose suffix promises another format than the one written.

    The copy always keeps the input's format, so ``out.flac`` for a WAV input would be a
    mislabelled file. Unknown suffixes are accepted.
    """
    suffix = Path(path).suffix.lower()
    formats = _SUFFIX_FORMATS.get(suffix)
    if formats is None and suffix_format(path) is not None and suffix != info.path.suffix.lower():
        formats = ()  # a picture's or a video's name (.png, .mp4), unless the input has it too
    if formats is not None and info.format not in formats:
        raise UsageError(
            f"{display_path(path)}: the output keeps the input's format ({info.format}),"
            f" which does not match the suffix {suffix}"
        )


class _WriteErrorCatcher:
    """The file object libsndfile writes through, keeping the first write error for us.

    soundfile calls ``write`` from a C callback: an exception raised there is printed as an
    "Exception ignored" traceback and lost, and libsndfile carries on with a short file. Here
    the error is kept and a short write (0 bytes) reported instead; :meth:`check` raises it.
    """

    def __init__(self, stream: Any, path: Path) -> None:
        self._stream = stream
        self._path = path
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        if self.error is not None:
            return 0
        try:
            return self._stream.write(data)
        except OSError as error:
            self.error = error
            return 0

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def flush(self) -> None:
        self._stream.flush()

    def check(self) -> None:
        """Raise OutputError for the write error met so far, if any."""
        if self.error is not None:
            reason = self.error.strerror or str(self.error)
            raise OutputError(f"{display_path(self._path)}: cannot write: {reason}")


class AudioWriter:
    """Context manager writing float32 blocks to ``path`` in the format of ``info``, atomically.

    The samples go to a temporary file next to ``path`` (see :func:`marking.media.atomic.
    atomic_write`); it replaces ``path`` only when the ``with`` block ends without an
    exception and is deleted otherwise. Raises :class:`UnsupportedInputError` when
    libsndfile cannot write the format, :class:`OutputError` when the file cannot be
    written, :class:`UsageError` for an output suffix of another format.
    """

    def __init__(
        self,
        path: StrPath,
        info: AudioInfo,
        *,
        forbid: Iterable[StrPath] = (),
        copy_metadata: bool = True,
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.frames_written = 0
        self._forbid = tuple(forbid)
        self._copy_metadata = copy_metadata
        self._clamp = info.subtype in _INTEGER_SUBTYPES
        self._stack: contextlib.ExitStack | None = None
        self._sound: sf.SoundFile | None = None
        self._stream: _WriteErrorCatcher | None = None
        check_output_suffix(self.path, info)
        if not writable(info):
            raise _unwritable(info)
        check_output_path(self.path, self._forbid)

    def __enter__(self) -> Self:
        stack = contextlib.ExitStack()
        stream = _WriteErrorCatcher(
            stack.enter_context(atomic_write(self.path, forbid=self._forbid)), self.path
        )
        stack.callback(stream.check)  # after the header is finished, before the rename
        self._stream = stream
        try:
            sound = sf.SoundFile(
                stream,
                "w",
                samplerate=self.info.samplerate,
                channels=self.info.channels,
                subtype=self.info.subtype,
                endian=self.info.endian,
                format=self.info.format,
            )
        except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as error:
            stack.__exit__(type(error), error, error.__traceback__)
            raise _unwritable(self.info) from None
        stack.callback(sound.close)  # closes (finishing the header) before the rename
        if self._copy_metadata:
            for key, value in self.info.metadata.items():
                with contextlib.suppress(sf.SoundFileError, RuntimeError, AttributeError):
                    setattr(sound, key, value)
        self._stack = stack
        self._sound = sound
        return self

    def write(self, block: np.ndarray) -> None:
        """Append float32 frames of shape ``(n, channels)``."""
        if self._sound is None:
            raise RuntimeError("AudioWriter.write() outside its with block")
        if block.ndim != 2 or block.shape[1] != self.info.channels:
            raise ValueError(
                f"block shape {block.shape} does not fit {self.info.channels} channels"
            )
        check_interrupted()  # a safe point: see marking.media.interrupts
        if len(block) == 0:
            return
        data = np.asarray(block, dtype=np.float32)
        if self._clamp and (data.max() > 1.0 or data.min() < -1.0):
            data = np.clip(data, -1.0, 1.0)
        try:
            self._sound.write(data)
        except (sf.SoundFileError, RuntimeError) as error:
            self._stream.check()  # the file system's reason, when there is one
            raise OutputError(f"{display_path(self.path)}: cannot write audio: {error}") from None
        self._stream.check()
        self.frames_written += len(data)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        stack, self._stack, self._sound = self._stack, None, None
        if stack is None:
            return False
        return bool(stack.__exit__(exc_type, exc, traceback))


def check_tail_decodes(path: StrPath, what: str, frames: int = 4096) -> None:
    """Decode the last ``frames`` sample frames of ``path``; a one-line :class:`InputError`
    ("truncated...") when they do not all decode.

    For writers that copy a file without decoding it (``tag``): a FLAC file cut short still
    states its full length in its header, and only decoding its end shows the cut. ``what``
    names the format in messages ("FLAC").
    """
    shown = display_path(path)
    try:
        with sf.SoundFile(path) as sound:
            if sound.frames > 0:
                start = max(0, sound.frames - frames)
                sound.seek(start)
                got = len(sound.read(sound.frames - start, dtype="int16"))
                if got < sound.frames - start:
                    raise InputError(f"{shown}: truncated: the {what} audio ends early")
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        raise InputError(f"{shown}: truncated or corrupt {what} audio ({error})") from None
