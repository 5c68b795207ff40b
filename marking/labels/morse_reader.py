"""Reading the audio cue back: is the Morse "AI" rhythm there, and with what timing?

:class:`MorseDetector` / :func:`detect_morse` demodulate the signal at the tone frequency,
average over ~5 ms, threshold the envelope at half the expected amplitude (with a little
hysteresis) and report the measured on/off durations of each group of tones, so a test or a
verifier can check the rhythm short-long-short-short at the configured timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from marking.errors import UsageError
from marking.labels.audio_cue import (
    DASH,
    DETECT_WINDOW_S,
    DOT,
    MORSE_AI,
    MORSE_AI_TIMING,
    CueSettings,
    check_tone_rate,
    morse_timing,
)
from marking.media.audio import DEFAULT_BLOCKSIZE


@dataclass(frozen=True)
class MorseHit:
    """One group of tones found by the detector, with its measured timing.

    ``start``/``end`` are the sample indices of the first tone's rise and the last tone's
    fall (half-amplitude points); ``on_s`` are the tone durations and ``off_s`` the silences
    between them, in seconds; ``pattern`` is the Morse read from them (:data:`MORSE_AI` for
    the label).
    """

    start: int
    end: int
    sample_rate: int
    on_s: tuple[float, ...]
    off_s: tuple[float, ...]
    pattern: str

    @property
    def start_s(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end / self.sample_rate

    @property
    def is_ai(self) -> bool:
        """Whether the rhythm reads as short-long-short-short (Morse "AI")."""
        return self.pattern == MORSE_AI

    def timing_error(self, unit_s: float, pattern: str = MORSE_AI) -> float:
        """Largest relative deviation of any tone or gap from ``pattern`` at ``unit_s``.

        Infinite when the measured rhythm is not ``pattern``.
        """
        timing = morse_timing(pattern)
        expected_on = [units * unit_s for tone_on, units in timing if tone_on]
        expected_off = [units * unit_s for tone_on, units in timing if not tone_on]
        if self.pattern != pattern or len(self.on_s) != len(expected_on):
            return math.inf
        errors = [
            abs(measured - expected) / expected
            for measured, expected in zip(
                self.on_s + self.off_s, expected_on + expected_off, strict=True
            )
        ]
        return max(errors)

    def matches(self, unit_s: float, tolerance: float = 0.1, pattern: str = MORSE_AI) -> bool:
        """Whether this is ``pattern`` with every duration within ``tolerance`` of nominal."""
        return self.timing_error(unit_s, pattern) <= tolerance


@dataclass
class _Segments:
    """Tone segments found so far (sample indices of rises and falls)."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)


class MorseDetector:
    """Streaming reader of Morse tones at ``settings.tone_hz``; constant memory per block.

    The signal is mixed down to mono, shifted to 0 Hz by multiplying with
    ``exp(-2j*pi*f*t)`` and averaged over ~5 ms (a whole number of periods of ``2f``), which
    is a band-pass of about +-200 Hz around the tone. Twice the magnitude is the tone's
    amplitude; it counts as "on" above ``threshold`` times the expected amplitude
    (``settings.level_dbfs``) and "off" again below 0.9 of that. Tones and gaps shorter
    than 0.3 unit are ignored as noise; gaps longer than 5 units separate hits.
    """

    def __init__(self, sample_rate: int, settings: CueSettings, *, threshold: float = 0.5) -> None:
        check_tone_rate(sample_rate, settings.tone_hz)
        if not 0.0 < threshold < 1.0:
            raise UsageError(f"threshold must be between 0 and 1, not {threshold:g}")
        self.sample_rate = sample_rate
        self.settings = settings
        half_periods = max(1, round(DETECT_WINDOW_S * 2 * settings.tone_hz))
        self._window = max(1, round(sample_rate * half_periods / (2 * settings.tone_hz)))
        self._omega = 2.0 * np.pi * settings.tone_hz / sample_rate
        self._on_level = threshold * settings.amplitude
        self._off_level = 0.9 * self._on_level
        self._carry = np.zeros(self._window - 1, dtype=np.complex128)
        self._position = 0  # samples consumed
        self._is_on = False
        self._rise = 0
        self._segments = _Segments()

    def feed(self, block: np.ndarray) -> None:
        """Take the next block, ``(n,)`` or ``(n, channels)``."""
        array = np.asarray(block, dtype=np.float64)
        mono = array.mean(axis=1) if array.ndim == 2 else array
        if mono.size == 0:
            return
        index = np.arange(self._position, self._position + mono.size, dtype=np.float64)
        baseband = mono * np.exp(-1j * np.mod(self._omega * index, 2.0 * np.pi))
        joined = np.concatenate((self._carry, baseband))
        sums = np.cumsum(joined)
        sums[self._window :] -= sums[: -self._window].copy()
        window_sums = sums[self._window - 1 :]  # windows ending at each new sample
        self._carry = joined[len(joined) - (self._window - 1) :].copy()
        amplitude = (2.0 / self._window) * np.abs(window_sums)
        # A window ending at sample i describes its centre, i - window // 2.
        first = self._position - self._window // 2
        self._position += mono.size
        self._threshold(amplitude, first)

    def _threshold(self, amplitude: np.ndarray, first: int) -> None:
        """Hysteresis threshold (vectorised): state follows the last decisive sample."""
        decisive = np.where(amplitude > self._on_level, 1, 0) - (amplitude < self._off_level)
        positions = np.arange(amplitude.size)
        last = np.maximum.accumulate(np.where(decisive != 0, positions, -1))
        state = np.where(last >= 0, decisive[np.maximum(last, 0)] > 0, self._is_on)
        changes = np.diff(np.concatenate(([self._is_on], state)).astype(np.int8))
        for offset in np.flatnonzero(changes):
            if changes[offset] > 0:
                self._rise = first + int(offset)
            else:
                self._segments.starts.append(self._rise)
                self._segments.ends.append(first + int(offset))
        self._is_on = bool(state[-1])

    def finish(self) -> list[MorseHit]:
        """Flush the filter and return every group of tones found."""
        self.feed(np.zeros(self._window, dtype=np.float64))
        if self._is_on:
            self._segments.starts.append(self._rise)
            self._segments.ends.append(self._position - self._window // 2)
            self._is_on = False
        return self._hits()

    def _hits(self) -> list[MorseHit]:
        unit = self.settings.unit_s * self.sample_rate
        starts = np.array(self._segments.starts, dtype=np.int64)
        ends = np.array(self._segments.ends, dtype=np.int64)
        if starts.size == 0:
            return []
        # Bridge drop-outs shorter than 0.3 unit, then drop blips shorter than 0.3 unit.
        first_of_group = np.flatnonzero(
            np.concatenate(([True], starts[1:] - ends[:-1] >= 0.3 * unit))
        )
        starts = starts[first_of_group]
        ends = np.maximum.reduceat(ends, first_of_group)
        long_enough = ends - starts >= 0.3 * unit
        starts, ends = starts[long_enough], ends[long_enough]
        if starts.size == 0:
            return []
        breaks = np.flatnonzero(starts[1:] - ends[:-1] > 5 * unit) + 1
        hits: list[MorseHit] = []
        for tone_starts, tone_ends in zip(
            np.split(starts, breaks), np.split(ends, breaks), strict=True
        ):
            for first, last in _split_at_cues(tone_starts, tone_ends, unit):
                hits.append(self._hit(tone_starts[first:last], tone_ends[first:last], unit))
        return hits

    def _hit(self, tone_starts: np.ndarray, tone_ends: np.ndarray, unit: float) -> MorseHit:
        """Measure and read one group of tones."""
        on = tone_ends - tone_starts
        off = tone_starts[1:] - tone_ends[:-1]
        letters = [DOT if length < 2 * unit else DASH for length in on]
        pattern = letters[0] + "".join(
            (" " if gap >= 2 * unit else "") + letter
            for gap, letter in zip(off, letters[1:], strict=True)
        )
        return MorseHit(
            start=int(tone_starts[0]),
            end=int(tone_ends[-1]),
            sample_rate=self.sample_rate,
            on_s=tuple(float(x) / self.sample_rate for x in on),
            off_s=tuple(float(x) / self.sample_rate for x in off),
            pattern=pattern,
        )


#: Tone and gap lengths of the "AI" cue in units, interleaved: on, off, on, off, ...
_AI_UNITS = np.array([units for _, units in MORSE_AI_TIMING], dtype=np.float64)
#: How far (relative) a tone or gap may be off to be cut out of a longer group as a cue.
_SPLIT_TOLERANCE = 0.3


def _split_at_cues(
    tone_starts: np.ndarray, tone_ends: np.ndarray, unit: float
) -> list[tuple[int, int]]:
    """Cut a group of tones into ranges so that each "AI" cue inside stands alone.

    Mixed over content with energy near the tone (speech, music), stray tones a few units
    before or after the cue join its group; the four tones whose timing fits the cue are
    split out so the cue still reads as one hit. Returns ``(first, last)`` tone ranges.
    """
    count = len(tone_starts)
    tones = len(_AI_UNITS) // 2 + 1
    ranges: list[tuple[int, int]] = []
    pending = 0
    index = 0
    while index + tones <= count:
        window = slice(index, index + tones)
        edges = np.empty(2 * tones, dtype=np.float64)
        edges[0::2] = tone_starts[window]
        edges[1::2] = tone_ends[window]
        lengths = np.diff(edges) / unit
        if np.all(np.abs(lengths - _AI_UNITS) <= _SPLIT_TOLERANCE * _AI_UNITS):
            if index > pending:
                ranges.append((pending, index))
            ranges.append((index, index + tones))
            index += tones
            pending = index
        else:
            index += 1
    if pending < count:
        ranges.append((pending, count))
    return ranges


def detect_morse(
    samples: np.ndarray, sample_rate: int, settings: CueSettings | None = None
) -> list[MorseHit]:
    """Find Morse tone groups in ``samples`` (``(n,)`` or ``(n, channels)``).

    Check ``hit.is_ai`` and ``hit.matches(settings.unit_s)`` to verify the label.
    """
    settings = settings or CueSettings()
    detector = MorseDetector(sample_rate, settings)
    array = np.asarray(samples)
    for begin in range(0, len(array), DEFAULT_BLOCKSIZE):
        detector.feed(array[begin : begin + DEFAULT_BLOCKSIZE])
    return detector.finish()
