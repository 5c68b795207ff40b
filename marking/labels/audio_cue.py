"""The audio explicit label: a Morse "AI" cue (or a spoken prompt) people hear.

GB 45438 asks for a spoken prompt or the rhythm short-long-short-short (Morse "AI",
``.- ..``) at the start of generated audio, optionally also at the end and/or in the middle.
The standard gives no timings, so the Morse ratios are used: dot 1 unit, dash 3 units, gap
inside a letter 1 unit, gap between letters 3 units; by default a unit is 100 ms and the
tone 800 Hz at -12 dBFS peak. Everything is configurable through :class:`CueSettings`.

Placement modes:

* ``"prepend"`` (default): the content is not covered. Start: cue, silence gap, content.
  End: content, gap, cue. Middle: first half, gap, cue, gap, second half.
* ``"mix"``: the cue is laid over the content, whose length stays the same (at the start it
  overlays the first second or so; in the middle it is centred on the midpoint; at the end
  it overlays the last second).

Clipping: mixing is made clip-safe by **ducking** the content under the cue, not by
limiting. Over the cue's span the content is multiplied by ``1 - a * w(t)``, where ``a`` is
the cue's peak amplitude and ``w`` rises and falls with the same raised-cosine ramps as the
cue, so ``|content * (1 - a*w) + cue| <= 1`` whenever ``|content| <= 1`` (about -2.5 dB of
ducking at the default -12 dBFS). Prepended cues peak at ``a <= 1`` by construction.

Every tone edge is a raised-cosine ramp (5 ms by default) centred on the nominal Morse edge,
so there are no clicks and the half-amplitude points fall exactly on the Morse timing.

:class:`CueWriter` does the placing block by block in constant memory (the middle needs the
total length, which file headers give; a cue mixed at the end is handled with a delay line
of one cue length). :func:`add_cue` applies it to an array, :func:`label_audio_file` to a
file; :mod:`marking.labels.morse_reader` reads the rhythm back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from marking.errors import InputError, InputTooSmallError, UsageError
from marking.media.atomic import StrPath, display_path
from marking.media.audio import (
    read_audio,
)

#: Morse symbols as printed: U+00B7 MIDDLE DOT and U+2212 MINUS SIGN.
DOT = "\u00b7"
DASH = "\u2212"
#: Morse for "AI": A = dot dash, a letter gap, I = dot dot.
MORSE_AI = f"{DOT}{DASH} {DOT}{DOT}"
#: Length in units of each Morse symbol (the gaps are implied by the symbols' order).
MORSE_UNITS = {DOT: 1, DASH: 3}
#: Units of silence between symbols of one letter and between letters.
SYMBOL_GAP_UNITS = 1
LETTER_GAP_UNITS = 3

PLACES = ("start", "middle", "end")
KINDS = ("morse", "speech")
MODES = ("prepend", "mix")

#: Longest spoken prompt accepted (a guard against passing the wrong file).
MAX_SPEECH_SECONDS = 60.0
#: Averaging window of the detector's envelope (rounded to whole periods of 2 x tone).
DETECT_WINDOW_S = 0.005


def morse_timing(pattern: str = MORSE_AI) -> tuple[tuple[bool, int], ...]:
    """The timing table of a Morse pattern: ``(tone_on, units)`` segments, tone first.

    ``morse_timing(MORSE_AI)`` is ``((True, 1), (False, 1), (True, 3), (False, 3),
    (True, 1), (False, 1), (True, 1))``: dot, gap, dash, letter gap, dot, gap, dot.
    """
    segments: list[tuple[bool, int]] = []
    for letter_index, letter in enumerate(pattern.split()):
        if letter_index:
            segments.append((False, LETTER_GAP_UNITS))
        for symbol_index, symbol in enumerate(letter):
            if symbol not in MORSE_UNITS:
                raise UsageError(f"Morse pattern {pattern!r}: unknown symbol {symbol!r}")
            if symbol_index:
                segments.append((False, SYMBOL_GAP_UNITS))
            segments.append((True, MORSE_UNITS[symbol]))
    if not segments:
        raise UsageError("Morse pattern is empty")
    return tuple(segments)


#: The timing table of the "AI" cue.
MORSE_AI_TIMING = morse_timing(MORSE_AI)


def _finite(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise UsageError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


@dataclass(frozen=True)
class CueSettings:
    """What the audio label sounds like and where it goes; validated on creation.

    ``places`` is any collection of ``"start"``, ``"middle"``, ``"end"`` (stored as a
    frozenset). ``kind="speech"`` plays the file ``speech_path`` instead of Morse tones,
    resampled to the content's rate and matched to its channels; ``level_dbfs`` then sets
    its peak. ``ramp_s`` is the raised-cosine ramp at every tone edge (and at the ends of a
    spoken prompt).
    """

    kind: str = "morse"
    places: frozenset[str] = frozenset({"start"})
    mode: str = "prepend"
    unit_s: float = 0.1
    tone_hz: float = 800.0
    level_dbfs: float = -12.0
    gap_s: float = 0.3
    speech_path: StrPath | None = None
    ramp_s: float = 0.005

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"cue kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.mode not in MODES:
            raise UsageError(f"cue mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        places = {self.places} if isinstance(self.places, str) else set(self.places)
        unknown = places - set(PLACES)
        if unknown or not places:
            raise UsageError(
                f"cue places must be a non-empty subset of {', '.join(PLACES)},"
                f" not {sorted(places)!r}"
            )
        object.__setattr__(self, "places", frozenset(places))
        unit = _finite("unit_s", self.unit_s, 0.01, 2.0)
        object.__setattr__(self, "unit_s", unit)
        object.__setattr__(self, "tone_hz", _finite("tone_hz", self.tone_hz, 50.0, 20000.0))
        object.__setattr__(self, "level_dbfs", _finite("level_dbfs", self.level_dbfs, -60.0, 0.0))
        object.__setattr__(self, "gap_s", _finite("gap_s", self.gap_s, 0.0, 10.0))
        object.__setattr__(self, "ramp_s", _finite("ramp_s", self.ramp_s, 0.0005, 0.05))
        if self.kind == "morse" and self.ramp_s > unit / 2:
            raise UsageError(f"ramp_s ({self.ramp_s:g}) must be at most half of unit_s ({unit:g})")
        if self.kind == "speech" and self.speech_path is None:
            raise UsageError("a speech cue needs speech_path (the spoken prompt's audio file)")
        if self.kind == "morse" and self.speech_path is not None:
            raise UsageError("speech_path is only used with kind='speech'")

    @property
    def amplitude(self) -> float:
        """The cue's peak as a linear sample value (``level_dbfs`` converted)."""
        return float(10.0 ** (self.level_dbfs / 20.0))

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values (for records)."""
        record: dict[str, Any] = {
            "kind": self.kind,
            "places": [place for place in PLACES if place in self.places],
            "mode": self.mode,
            "level_dbfs": self.level_dbfs,
            "gap_s": self.gap_s,
        }
        if self.kind == "morse":
            record |= {"pattern": MORSE_AI, "unit_s": self.unit_s, "tone_hz": self.tone_hz}
        else:
            record["speech_path"] = str(self.speech_path)
        return record


@dataclass(frozen=True)
class CuePlacement:
    """Where one cue lies in the output: samples ``start`` (inclusive) to ``end`` (exclusive)."""

    place: str
    start: int
    end: int

    def seconds(self, sample_rate: int) -> dict[str, Any]:
        """The placement in seconds, for records."""
        return {
            "place": self.place,
            "start_s": self.start / sample_rate,
            "end_s": self.end / sample_rate,
        }


def _raised_cosine(x: np.ndarray) -> np.ndarray:
    """0 -> 1 over x in [0, 1] along half a cosine period (clamped outside)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def check_tone_rate(sample_rate: int, tone_hz: float) -> None:
    if sample_rate <= 0:
        raise UsageError(f"sample rate must be positive, not {sample_rate}")
    if tone_hz >= 0.45 * sample_rate:
        raise UsageError(
            f"a {tone_hz:g} Hz tone cannot be played at {sample_rate} Hz"
            f" (keep it below {0.45 * sample_rate:g} Hz)"
        )


def _check_channels(channels: int) -> None:
    if channels <= 0:
        raise UsageError(f"channel count must be positive, not {channels}")


def morse_cue(
    sample_rate: int, channels: int, settings: CueSettings, *, pattern: str = MORSE_AI
) -> np.ndarray:
    """The Morse cue as float32 ``(n, channels)``, the same signal on every channel.

    Each tone's raised-cosine ramps are centred on its nominal edges, so the array begins
    half a ramp before the first tone's nominal start and ends half a ramp after the last
    tone's nominal end; its first and last samples are exactly zero.
    """
    check_tone_rate(sample_rate, settings.tone_hz)
    _check_channels(channels)
    unit, ramp = settings.unit_s, settings.ramp_s
    starts, ends = [], []
    clock = 0
    for tone_on, units in morse_timing(pattern):
        if tone_on:
            starts.append(clock * unit)
            ends.append((clock + units) * unit)
        clock += units
    total = clock * unit
    count = round((total + ramp) * sample_rate) + 1
    envelope = np.zeros(count, dtype=np.float64)
    for start, end in zip(starts, ends, strict=True):
        # Sample i sits at nominal time i / rate - ramp / 2; this tone is non-zero between
        # start - ramp / 2 and end + ramp / 2, i.e. for i in (start, end + ramp) * rate.
        first = int(start * sample_rate)
        last = min(count, math.ceil((end + ramp) * sample_rate) + 1)
        times = np.arange(first, last, dtype=np.float64) / sample_rate - ramp / 2
        rise = (times - (start - ramp / 2)) / ramp
        fall = ((end + ramp / 2) - times) / ramp
        envelope[first:last] += _raised_cosine(np.minimum(rise, fall))
    index = np.arange(count, dtype=np.float64)
    envelope *= np.sin(2.0 * np.pi * settings.tone_hz / sample_rate * index)
    envelope *= settings.amplitude
    return np.repeat(envelope.astype(np.float32)[:, None], channels, axis=1)


def _match_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """Same channel count: kept as is; otherwise downmixed to mono and copied to each."""
    if samples.shape[1] == channels:
        return samples
    mono = samples.mean(axis=1, keepdims=True)
    return np.repeat(mono, channels, axis=1)


def _resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling along time (exact rational ratio)."""
    if source_rate == target_rate:
        return samples
    from scipy import signal  # 0.9 s of imports: only a spoken cue at another rate needs it

    ratio = Fraction(target_rate, source_rate)
    return signal.resample_poly(
        samples.astype(np.float64), ratio.numerator, ratio.denominator, axis=0
    )


def speech_cue(sample_rate: int, channels: int, settings: CueSettings) -> np.ndarray:
    """The spoken prompt from ``settings.speech_path`` as float32 ``(n, channels)``.

    Resampled to ``sample_rate``, channel-matched, scaled so its peak is ``level_dbfs`` and
    faded in and out over ``ramp_s`` (so it starts and ends at zero, without clicks).
    """
    if settings.speech_path is None:
        raise UsageError("a speech cue needs speech_path (the spoken prompt's audio file)")
    if sample_rate <= 0:
        raise UsageError(f"sample rate must be positive, not {sample_rate}")
    _check_channels(channels)
    samples, source_rate = read_audio(settings.speech_path, max_seconds=MAX_SPEECH_SECONDS)
    speech = _match_channels(_resample(samples, source_rate, sample_rate), channels)
    peak = float(np.max(np.abs(speech))) if speech.size else 0.0
    shown = display_path(settings.speech_path)
    if not math.isfinite(peak):
        raise InputError(f"{shown}: the spoken prompt contains invalid samples (NaN or inf)")
    if peak < 1e-6:
        raise InputError(f"{shown}: the spoken prompt is silent")
    ramp = max(1, round(settings.ramp_s * sample_rate))
    if len(speech) < 2 * ramp + 1:
        raise InputTooSmallError(f"{shown}: the spoken prompt is too short")
    fade = _raised_cosine(np.arange(ramp) / ramp)[:, None]
    speech = speech * (settings.amplitude / peak)
    speech[:ramp] *= fade
    speech[-ramp:] *= fade[::-1]
    return np.ascontiguousarray(speech, dtype=np.float32)


def build_cue(sample_rate: int, channels: int, settings: CueSettings) -> np.ndarray:
    """The cue signal for ``settings``: Morse tones or the resampled spoken prompt."""
    if settings.kind == "speech":
        return speech_cue(sample_rate, channels, settings)
    return morse_cue(sample_rate, channels, settings)


def _duck_gain(length: int, ramp: int, amplitude: float) -> np.ndarray:
    """Gain ``1 - a * w`` for content under a mixed cue; ``w`` has raised-cosine ends.

    The cue never exceeds ``a * w`` (its own ramps are at least as slow), which is what
    makes ``content * gain + cue`` stay within full scale.
    """
    window = np.ones(length, dtype=np.float64)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        edge = _raised_cosine(np.arange(ramp) / ramp)
        window[:ramp] = edge
        window[length - ramp :] = edge[::-1]
    return (1.0 - amplitude * window).astype(np.float32)[:, None]


class CueWriter:
    """Places the cue(s) into a stream of blocks in constant memory.

    Feed float32 blocks of shape ``(n, channels)`` with :meth:`feed`, then call
    :meth:`finish`; each returns the output blocks due so far (write them before feeding
    the next block: a returned block may be a view of the input). ``total_frames`` is the
    content length (from the file header); it is needed for ``"middle"``, and in mix mode
    to check up front that the content is long enough. :attr:`placements` lists where the
    cues went in the output.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        settings: CueSettings,
        total_frames: int | None = None,
        *,
        cue: np.ndarray | None = None,
    ) -> None:
        _check_channels(channels)
        self.sample_rate = sample_rate
        self.channels = channels
        self.settings = settings
        self.total_frames = total_frames
        self.cue = build_cue(sample_rate, channels, settings) if cue is None else cue
        if self.cue.ndim != 2 or self.cue.shape[1] != channels or len(self.cue) == 0:
            raise UsageError(f"cue shape {self.cue.shape} does not fit {channels} channels")
        self.cue = np.ascontiguousarray(self.cue, dtype=np.float32)
        self.placements: list[CuePlacement] = []
        self.frames_in = 0
        self.frames_out = 0
        self._places = settings.places
        self._mix = settings.mode == "mix"
        self._started = False
        self._finished = False
        self._gap = np.zeros((round(settings.gap_s * sample_rate), channels), np.float32)
        if "middle" in self._places and total_frames is None:
            raise UsageError("a cue in the middle needs the total length of the content")
        self._middle_done = "middle" not in self._places
        length = len(self.cue)
        # Mix mode: spans [start, end) in content frames, for start and middle.
        self._spans: dict[str, tuple[int, int]] = {}
        self._tail: np.ndarray | None = None
        if self._mix:
            self._duck = _duck_gain(
                length, round(settings.ramp_s * sample_rate), settings.amplitude
            )
            if "start" in self._places:
                self._spans["start"] = (0, length)
            if total_frames is not None and "middle" in self._places:
                begin = max(0, total_frames // 2 - length // 2)
                self._spans["middle"] = (begin, begin + length)
            if "end" in self._places:
                self._tail = np.zeros((0, channels), np.float32)
            if total_frames is not None:
                self._check_mix_fits(total_frames)

    # -- mix mode ------------------------------------------------------------------------

    def _check_mix_fits(self, frames: int) -> None:
        """Raise :class:`InputTooSmallError` if the mixed cues overlap or overrun the content."""
        length = len(self.cue)
        spans = sorted(self._spans.values())
        if "end" in self._places:
            spans.append((frames - length, frames))
        previous_end = 0
        for begin, end in spans:
            if begin < previous_end or end > frames or begin < 0:
                raise InputTooSmallError(
                    f"content of {frames / self.sample_rate:.2f} s is too short to mix"
                    f" {len(spans)} cue(s) of {length / self.sample_rate:.2f} s without"
                    " overlap; use prepend mode"
                )
            previous_end = end

    def _mix_into(self, block: np.ndarray, offset: int, begin: int) -> None:
        """Mix the cue (whose first frame is at content frame ``begin``) into ``block``."""
        first = max(begin, offset)
        last = min(begin + len(self.cue), offset + len(block))
        if first >= last:
            return
        part = block[first - offset : last - offset]
        part *= self._duck[first - begin : last - begin]
        part += self.cue[first - begin : last - begin]

    def _feed_mix(self, block: np.ndarray) -> list[np.ndarray]:
        offset = self.frames_in
        touched = [
            begin
            for begin, end in self._spans.values()
            if begin < offset + len(block) and end > offset
        ]
        if touched:
            block = block.copy()
            for begin in touched:
                self._mix_into(block, offset, begin)
        if self._tail is None:
            return [block]
        # Delay line: hold back the last cue-length of content until the end is known.
        joined = np.concatenate((self._tail, block))
        keep = min(len(joined), len(self.cue))
        self._tail = joined[len(joined) - keep :].copy()
        released = joined[: len(joined) - keep]
        return [released] if len(released) else []

    def _finish_mix(self) -> list[np.ndarray]:
        frames = self.frames_in
        self._check_mix_fits(frames)
        for place, (begin, end) in self._spans.items():
            self.placements.append(CuePlacement(place, begin, end))
        if self._tail is None:
            return []
        tail = self._tail
        self._tail = None
        begin = frames - len(self.cue)
        self._mix_into(tail, begin, begin)
        self.placements.append(CuePlacement("end", begin, frames))
        return [tail]

    # -- common --------------------------------------------------------------------------

    def _emit(self, out: list[np.ndarray], samples: np.ndarray, place: str | None = None) -> None:
        if place is not None:
            self.placements.append(
                CuePlacement(place, self.frames_out, self.frames_out + len(samples))
            )
        if len(samples):
            out.append(samples)
            self.frames_out += len(samples)

    def _check_block(self, block: np.ndarray) -> np.ndarray:
        if self._finished:
            raise RuntimeError("CueWriter.feed() after finish()")
        array = np.asarray(block, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.channels:
            raise UsageError(f"block shape {array.shape} does not fit {self.channels} channels")
        return array

    def _insert_middle(self, out: list[np.ndarray]) -> None:
        self._emit(out, self._gap)
        self._emit(out, self.cue, "middle")
        self._emit(out, self._gap)
        self._middle_done = True

    def feed(self, block: np.ndarray) -> list[np.ndarray]:
        """Take the next content block; return the output blocks now due."""
        block = self._check_block(block)
        out: list[np.ndarray] = []
        if self._mix:
            for piece in self._feed_mix(block):
                self._emit(out, piece)
            self.frames_in += len(block)
            return out
        self._start(out)
        split = None
        if not self._middle_done and self.total_frames is not None:
            middle = self.total_frames // 2
            if self.frames_in <= middle < self.frames_in + len(block):
                split = middle - self.frames_in
        if split is None:
            self._emit(out, block)
        else:
            self._emit(out, block[:split])
            self._insert_middle(out)
            self._emit(out, block[split:])
        self.frames_in += len(block)
        return out

    def _start(self, out: list[np.ndarray]) -> None:
        """Once, before any content: the cue and its gap, if a cue goes at the start."""
        if not self._started:
            self._started = True
            if "start" in self._places:
                self._emit(out, self.cue, "start")
                self._emit(out, self._gap)

    def finish(self) -> list[np.ndarray]:
        """Close the stream; return the last output blocks (a cue at the end, held frames)."""
        if self._finished:
            return []
        out: list[np.ndarray] = []
        if self._mix:
            for piece in self._finish_mix():
                self._emit(out, piece)
            self._finished = True
            self.placements.sort(key=lambda placement: placement.start)
            return out
        self._start(out)
        if not self._middle_done:
            if self.frames_in < (self.total_frames or 0) // 2:
                raise InputError(
                    f"content ended after {self.frames_in} of {self.total_frames} frames,"
                    " before its middle"
                )
            self._insert_middle(out)
        if "end" in self._places:
            self._emit(out, self._gap)
            self._emit(out, self.cue, "end")
        self._finished = True
        return out

    def stream(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Generator form: yield the output blocks for ``blocks``, then the final ones."""
        for block in blocks:
            yield from self.feed(block)
        yield from self.finish()


def add_cue(
    samples: np.ndarray,
    sample_rate: int,
    settings: CueSettings,
    *,
    cue: np.ndarray | None = None,
) -> tuple[np.ndarray, list[CuePlacement]]:
    """Return ``samples`` (float32, ``(n, channels)``) with the cue(s) placed, and where.

    The input array is not modified. ``cue`` overrides the signal built from ``settings``.
    """
    array = np.asarray(samples)
    if array.ndim != 2:
        raise UsageError(f"samples must have shape (frames, channels), not {array.shape}")
    array = array.astype(np.float32, copy=False)
    writer = CueWriter(sample_rate, array.shape[1], settings, len(array), cue=cue)
    pieces = writer.feed(array) + writer.finish()
    if not pieces:
        return np.zeros((0, array.shape[1]), np.float32), writer.placements
    return np.concatenate(pieces), writer.placements
