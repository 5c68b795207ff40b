"""Reading audio files through soundfile (libsndfile): probing, blocks, exact lengths.

Everything goes through soundfile (libsndfile): WAV, FLAC, OGG (Vorbis, Opus), MP3 and the
other formats libsndfile knows. Audio is read in blocks into one reused buffer, so a file of
any length is handled in constant memory.

* :func:`probe_audio` reads only the header and turns every way a file can be unusable into
  one :class:`~marking.errors.InputError` with a one-line message.
* :func:`read_blocks` yields float32 blocks of shape ``(n, channels)``; a stream that ends
  before the header's frame count (a cut-off MP3, a damaged FLAC) raises
  :class:`DamagedAudioError`. Writers refuse it; readers (detect, verify) salvage what
  decodes with :func:`marking.media.audio_salvage.salvage_blocks`.
* A WAV with more chunks before its samples than libsndfile takes in (5,000 LIST chunks)
  is opened through a view without the excess (``_WavView``).
  An MP3 without a Xing/Info/VBRI tag only has an estimated count; :func:`count_frames`
  decodes it once to get the exact one.
* Reads never seek (soundfile's seek after every read garbles MP3 block reads; see
  ``_SequentialSoundFile``).
* libmpg123's messages on damaged MP3 are caught around the calls that can reach it
  (:func:`marking.media.decoder_messages.decoder_messages`).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from marking.errors import InputError, InputTooLargeError, UnsupportedInputError, UsageError
from marking.media.atomic import (
    StrPath,
    display_path,
    file_error,
    input_file_problem,
    open_regular,
)
from marking.media.decoder_messages import decoder_detail, decoder_messages
from marking.media.interrupts import check as check_interrupted

#: Frames per block when streaming (64 Ki frames: 0.5 MiB per stereo float32 block).
DEFAULT_BLOCKSIZE = 65536

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
    detail = decoder_detail(messages or [])
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
    block-versus-whole-file MP3 test in ``tests/media/test_audio_io.py`` guards it.
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
    :func:`~marking.media.audio_salvage.salvage_blocks`; a writer refuses it."""

    #: The message without the file name (set by :func:`marking.media.atomic.file_error`).
    problem: str


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
                detail = decoder_detail(messages) or str(error)
                raise file_error(
                    DamagedAudioError,
                    source,
                    f"corrupt or truncated audio at frame {done} ({detail})",
                ) from None
            if len(block) == 0:
                if expected is None:
                    return
                detail = decoder_detail(messages)
                raise file_error(
                    DamagedAudioError,
                    source,
                    f"audio ends after {done} of {expected} frames"
                    f" (truncated or corrupt file{'; ' + detail if detail else ''})",
                )
            done += len(block)
            yield block


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
