"""The sound pass of :func:`marking.media.transcode.transcode`: the first audio stream of a
video decoded, run through a streaming processor (the audio watermark's embedder) and
re-encoded with the source's codec, rate, layout and bit rate, in the same pass as the
pictures.

Memory stays bounded: one decoded audio frame at a time, plus what the processor and the
encoder buffer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from marking.errors import OutputError, UnsupportedInputError
from marking.media.av_util import STALE_TAGS, av, copy_metadata, first_line
from marking.media.encoding import CONTAINER_NAMES

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer

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


class AudioProcessor(Protocol):
    """A streaming sound editor, as :class:`marking.AudioEmbedder` is.

    ``push`` takes float32 samples of shape (n, channels) and returns the samples that are
    final, float of shape (m, channels), possibly none and possibly later than their input;
    ``finish`` returns the rest. Output sample k is input sample k: a processor may delay
    delivery, never shift time. Returned samples are clipped to [-1, 1] before encoding.
    """

    def push(self, samples: np.ndarray) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


@dataclass(frozen=True)
class AudioStreamInfo:
    """The audio stream :func:`~marking.media.transcode.transcode` hands a ``process_audio``
    factory.

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


def first_audio_stream(container: InputContainer) -> AudioStream | None:
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


def audio_facts(stream: AudioStream) -> AudioStreamInfo:
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
    library = av()
    experimental = None
    for name in _AUDIO_ENCODERS.get(codec_in, (codec_in,)):
        try:
            codec = library.Codec(name, "w")
        except (ValueError, library.FFmpegError):
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
    library = av()
    formats = [f.name for f in (codec.audio_formats or ())]
    if not formats or source in formats:
        return source
    src = library.AudioFormat(source)

    def rank(name: str) -> tuple[int, int, int]:
        fmt = library.AudioFormat(name)
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


def interleaved(frame: AudioFrame) -> np.ndarray:
    """A decoded frame's samples as float32 (n, channels), from any sample format."""
    channels = frame.layout.nb_channels
    if frame.format.packed.name not in _NUMPY_SAMPLE_FORMATS:  # s64: FFmpeg converts it
        resampler = av().AudioResampler(format="flt", layout=frame.layout, rate=frame.sample_rate)
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


class AudioPass:
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
                fallback = f"{CONTAINER_NAMES[container_name]} cannot store {info.codec} audio"
        if out is None:
            codec = av().Codec(_FALLBACK_AUDIO[container_name], "w")
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
        except av().FFmpegError as error:
            raise OutputError(
                f"cannot encode {info.channels}-channel {info.sample_rate} Hz audio with "
                f"{codec.name}: {first_line(error)}"
            ) from error
        copy_metadata(out.metadata, dict(self.stream.metadata), STALE_TAGS)
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
        except av().FFmpegError:
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
        self._push(interleaved(frame))

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
        frame = av().AudioFrame.from_ndarray(packed, format="flt", layout=self.layout)
        frame.sample_rate = self.info.sample_rate
        frame.time_base = Fraction(1, self.info.sample_rate)
        frame.pts = (self.origin or 0) + self.emitted
        self.emitted += len(array)
        self.entry["samples_out"] += len(array)
        self._encode_frame(frame)

    def _encode_frame(self, frame: AudioFrame | None) -> None:
        library = av()
        try:
            packets = self.out.encode(frame)
        except library.FFmpegError as error:
            raise OutputError(
                f"{self.entry['encoder']} audio encoding failed: {first_line(error)}"
            ) from error
        self.mux(packets)

    def finish(self) -> None:
        self.decode(None)
        self._encode(self.processor.finish())
        self._encode_frame(None)


__all__ = [
    "AudioPass",
    "AudioProcessor",
    "AudioStreamInfo",
    "ProcessAudio",
    "audio_facts",
    "first_audio_stream",
    "interleaved",
]
