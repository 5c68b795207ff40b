"""Writing audio files: :class:`AudioWriter` and what libsndfile can write.

:class:`AudioWriter` writes a copy with the source's format, subtype, rate and channels
atomically (the target is either complete or untouched), block by block in constant memory.

This module is also the one import path for the whole soundfile edge: the reading side
(:mod:`marking.media.audio_read`: probing, blocks, exact lengths), the FFmpeg salvage of
damaged files (:mod:`marking.media.audio_salvage`) and libmpg123's message capture
(:mod:`marking.media.decoder_messages`) are re-exported here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
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
from marking.media.audio_read import (
    DEFAULT_BLOCKSIZE,
    AudioInfo,
    DamagedAudioError,
    count_frames,
    open_sound,
    probe_audio,
    read_audio,
    read_blocks,
)
from marking.media.audio_salvage import AvDecodeStats, Salvage, av_audio_blocks, salvage_blocks
from marking.media.decoder_messages import decoder_messages
from marking.media.interrupts import check as check_interrupted
from marking.media.sniffing import suffix_format

__all__ = [
    "DEFAULT_BLOCKSIZE",
    "AudioInfo",
    "AudioWriter",
    "AvDecodeStats",
    "DamagedAudioError",
    "InputError",
    "InputTooLargeError",
    "OutputError",
    "Salvage",
    "UnsupportedInputError",
    "UsageError",
    "atomic_write",
    "av_audio_blocks",
    "check_interrupted",
    "check_output_path",
    "check_output_suffix",
    "count_frames",
    "decoder_messages",
    "display_path",
    "file_error",
    "input_file_problem",
    "open_regular",
    "open_sound",
    "probe_audio",
    "read_audio",
    "read_blocks",
    "salvage_blocks",
    "suffix_format",
    "writable",
]

#: Subtypes stored as integers: written samples are clamped to [-1, 1] first, so a value a
#: hair over full scale can never wrap around.
_INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"})

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
    mislabelled file; so would ``out.xyz`` or ``out`` (no suffix), unless the input has
    that suffix too (a file named against its content keeps its name).
    """
    suffix = Path(path).suffix.lower()
    formats = _SUFFIX_FORMATS.get(suffix)
    if formats is None and suffix != info.path.suffix.lower():
        formats = ()  # a picture's, a video's or no format's name (.png, .mp4, .xyz)
    if formats is not None and info.format not in formats:
        expected = [name for name, held in _SUFFIX_FORMATS.items() if info.format in held]
        hint = f"; name it {', '.join(expected)}" if expected else ""
        raise UsageError(
            f"{display_path(path)}: the output keeps the input's format ({info.format}),"
            f" which does not match the suffix {suffix or '(none)'}{hint}"
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
