"""The audio detector's search over edits of time and pitch, when normal speed finds nothing.

Playback speed 0.8-1.25 (time and frequency scaled alike), tempo 0.9-1.1 with the pitch kept
and pitch +-2 semitones with the tempo kept (issue 19). Each hypothesis is read from a few
spectrograms of the first seconds (coarse, then fine), framed for real only at the few that
stand out, and folded over the whole input at the best; every read and fold counts as a
hypothesis in the false-alarm figure. See docs/audio-watermark-notes.md for the measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marking.kernels.spectral import (
    DETREND_BINS,
    DETREND_FRAMES,
    boxed_features,
    fold_features,
    resample_grid,
)
from marking.watermark.audio_detect import (
    DECODE_ATTEMPTS,
    MIN_DETECT_SECONDS,
    SUB_OFFSETS,
    FrameFold,
    FrameGrid,
    SyncPeak,
    band_power,
    sync_of,
    sync_scores,
)
from marking.watermark.audio_layout import (
    FIRST_BIN,
    FRAME_SECONDS,
    FRAMES_PER_SECOND,
    PERIOD,
    AudioLayout,
    frame_length,
    live_bins,
)

#: Slowest and fastest playback speeds searched (issue 19: 0.8x to 1.25x, pitch and tempo
#: together, as resampling or a tape-speed change gives).
SPEED_RANGE = (0.8, 1.25)
#: Tempo changes searched with the pitch kept (issue 19: 0.9x to 1.1x, as ffmpeg's ``atempo``
#: and sox's ``tempo`` give) ...
TEMPO_RANGE = (0.9, 1.1)
#: ... and pitch shifts with the tempo kept (issue 19: +-2 semitones).
PITCH_RANGE = (2 ** (-2 / 12), 2 ** (2 / 12))
#: Relative spacing of the coarse speed grid: a speed anywhere in the range is within half of
#: it of a grid point, and the fine pass covers that half either way.
SPEED_STEP = 0.003


#: The same for pitch shifts: the time axis fits exactly, and a frequency 0.4 % off moves the
#: top band read (about 3.6-5 kHz at the search's rate) by under 0.3 bins.
PITCH_STEP = 0.008


def _coarse_grid(low: float, high: float, step: float = SPEED_STEP) -> tuple[float, ...]:
    """Geometric grid ``step`` apart, from a step below ``low`` to a step above ``high``."""
    logs = np.arange(np.log(low) - step, np.log(high) + 1.5 * step, step)
    return tuple(float(s) for s in np.round(np.exp(logs), 4))


#: Coarse grids of the search (normal speed is tried first, on its own): playback speed ...
SPEED_COARSE = _coarse_grid(*SPEED_RANGE)
#: ... tempo (time only) ...
TEMPO_COARSE = _coarse_grid(*TEMPO_RANGE)
#: ... and pitch (frequency only).
PITCH_COARSE = _coarse_grid(*PITCH_RANGE, PITCH_STEP)
#: Seconds of the original the coarse speed search looks at (of the input: this over the
#: slowest speed, so a slowed-down copy shows as much of its mark).
SPEED_COARSE_SECONDS = 6.0
#: Candidates kept from one stage of the speed search to the next.
SPEED_KEEP = 2
#: Sub-hop offsets of the coarse speed pass: every this many (4: offset 0 only, which ranks
#: speeds as well as all four did on every test clip).
COARSE_OFFSET_STEP = 4
#: The same for the tempo and pitch hypotheses (2: offsets 0 and 2, in the coarse and the fine
#: pass; the best of each family are read on 1 and 3 too, STRETCH_OFFSET_RECHECK, and the head
#: is framed on all four). A tempo change (WSOLA) delays the sound by an arbitrary part of a
#: hop, and a quarter to half a hop off the mark's frames costs a third to two thirds of the
#: sync (bass music, tempo 0.9: offsets 0-3 read 4.1, 2.6, 2.7, 5.1).
STRETCH_OFFSET_STEP = 2
#: Sync score on the first seconds a speed needs before the whole input is folded at it
#: (unmarked audio tops out near 4.5 over the speed grid; marked audio scores 6 and up).
SPEED_GATE = 5.0
#: Fine steps around the best coarse speeds, relative (half the coarse spacing either way).
SPEED_FINE = tuple(float(s) for s in np.round(np.arange(-0.0015, 0.00151, 0.0003), 4))
#: Tempo and pitch hypotheses among the best this many of their family on offsets 0 and 2 are
#: read at offsets 1 and 3 too: a quarter hop off the mark's frames can cost the truth its rank
#: (speech with pauses, tempo 1.1 then MP3: 4.2, 3.3, 4.5, 5.0 on offsets 0-3 at tempo 1.1, third
#: of its family on 0 and 2 behind noise at 5.0; bass music, pitch -2 then MP3: 3.5, 4.9, 4.2,
#: 2.9, second of its family, tenth overall).
STRETCH_OFFSET_RECHECK = 4
#: Relative steps around a winning tempo or pitch that are folded over the whole input too ...
WHOLE_INPUT_STEPS = (-0.0015, -0.00075, 0.00075, 0.0015)
#: ... and, for a tempo, a coarse step either way: WSOLA's first seconds can run that far off
#: the tempo of the whole (speech with pauses, tempo 0.9 then MP3: the head syncs best at 0.9027,
#: whose whole fold gives z 6.9 where 0.9 gives 10.8).
WHOLE_INPUT_TEMPO_STEPS = (-SPEED_STEP, *WHOLE_INPUT_STEPS, SPEED_STEP)
#: The same around the best coarse pitches.
PITCH_FINE = tuple(float(s) for s in np.round(np.arange(-0.004, 0.00401, 0.0008), 4))
#: Fine speeds framed for real: the best this many as read from spectrograms made at the best
#: coarse speeds (on the 48 speed cases, 20 s and 30 s, the full-fold scores are those of
#: framing all 22 for real).
FINE_RECHECK = 3


@dataclass(frozen=True)
class _Stretch:
    """One hypothesis of the search: time runs ``speed`` times as fast and frequencies are
    scaled by ``pitch``. ``family`` says which of them the edit moves ("speed": both alike,
    "tempo": time only, "pitch": frequency only), so the fine pass varies the same."""

    speed: float
    pitch: float
    family: str

    def nudged(self, step: float) -> _Stretch:
        """This hypothesis moved by the relative ``step`` along its family."""
        speed = self.speed if self.family == "pitch" else round(self.speed * (1 + step), 5)
        pitch = self.pitch if self.family == "tempo" else round(self.pitch * (1 + step), 5)
        return _Stretch(speed, pitch, self.family)

    def grid(self, offset: int, rate: float) -> FrameGrid:
        return FrameGrid(self.speed, offset, rate, self.pitch)

    @property
    def whole_input_tries(self) -> list[_Stretch]:
        """The hypotheses folded over the whole input when this one wins on the head."""
        if self.family == "speed":
            return [self]
        steps = WHOLE_INPUT_TEMPO_STEPS if self.family == "tempo" else WHOLE_INPUT_STEPS
        return [self, *(self.nudged(step) for step in steps)]

    @property
    def fine_steps(self) -> tuple[float, ...]:
        return PITCH_FINE if self.family == "pitch" else SPEED_FINE

    def offsets(self, stage: str) -> range:
        """Sub-hop offsets the ``stage`` of the search tries: "coarse" and "fine" read from
        spectrograms, "framed" frames the head for real."""
        if self.family != "speed":
            return range(0, SUB_OFFSETS, 1 if stage == "framed" else STRETCH_OFFSET_STEP)
        return range(0, SUB_OFFSETS, COARSE_OFFSET_STEP if stage == "coarse" else 2)


def _coarse_stretches() -> list[_Stretch]:
    """Every coarse hypothesis of the search: the speeds, then the tempos, then the pitches."""
    return [
        *(_Stretch(speed, speed, "speed") for speed in SPEED_COARSE if speed != 1.0),
        *(_Stretch(speed, 1.0, "tempo") for speed in TEMPO_COARSE if speed != 1.0),
        *(_Stretch(1.0, pitch, "pitch") for pitch in PITCH_COARSE if pitch != 1.0),
    ]


#: The coarse pass reads every speed from spectrograms of the head with this many frames per
#: watermark frame (a 2.5 ms hop at normal speed) ...
SPECTROGRAM_HOPS = 4
#: ... and this many bins per 50 Hz bin (the frames zero-padded to this many times their length).
SPECTROGRAM_PAD = 2
#: Playback speeds the spectrograms are made for (frame length and hop over the speed, as the
#: watermark's grid at that speed); each coarse speed is read from the nearest, so its frames
#: are at most 8 % longer or shorter than its own grid's.
SPECTROGRAM_SPEEDS = (0.862, 1.0, 1.16)


@dataclass
class _Spectrogram:
    """Detrended features of the head on a grid finer than the watermark's, made once.

    A hypothesis stretches the watermark's grid by 1/speed in time and pitch in frequency, so
    its features are this grid read at stretched rows and columns (:func:`resample_grid`): one
    FFT pass for the whole coarse search instead of one per hypothesis. The features are
    detrended on this grid with a box spanning what the watermark's box spans.
    """

    features: np.ndarray  # (frames, bins) float32
    rate: float
    stretch: _Stretch  # the hypothesis whose grid this refines
    samples: int
    fine_hop: float  # samples between fine frames
    bin_hz: float  # Hz between fine bins
    first_bin: int  # FFT bin of column 0
    top_hz: float | None  # the highest frequency read, or None: all the rate carries

    @classmethod
    def of(
        cls, mono: np.ndarray, rate: float, stretch: _Stretch, top_hz: float | None = None
    ) -> _Spectrogram:
        """The spectrogram of ``mono`` on the watermark's grid at ``stretch``, made finer, up
        to ``top_hz`` (None: what the rate carries)."""
        length = frame_length(rate / stretch.pitch)
        hop = rate / stretch.speed / FRAMES_PER_SECOND / SPECTROGRAM_HOPS
        count = max(1, int((mono.shape[0] - length / 2) / hop) + 1)
        centres = np.arange(count, dtype=np.float64) * hop
        starts = np.floor(centres + 0.5).astype(np.int64) - length // 2
        size = SPECTROGRAM_PAD * length
        bin_hz = rate / size
        # From the lowest band edge at the lowest pitch to the top of what the rate carries.
        first = max(0, int(FIRST_BIN * (1 / FRAME_SECONDS) * SPEED_RANGE[0] / bin_hz) - 1)
        top = int(0.45 * rate / bin_hz)
        if top_hz is not None:
            top = min(top, int(top_hz / bin_hz) + 2)
        power = band_power(mono, starts, length, first, top - first, size)
        features = boxed_features(
            power,
            top - first,
            DETREND_FRAMES * SPECTROGRAM_HOPS,
            DETREND_BINS * SPECTROGRAM_PAD,
        )
        return cls(features, rate, stretch, mono.shape[0], hop, bin_hz, first, top_hz)

    def features_at(self, stretch: _Stretch, offset: int) -> np.ndarray:
        """The head's features on the watermark's grid at ``stretch`` and sub-hop ``offset``:
        (frames, bins) float32, the bins this rate carries at that pitch."""
        grid = stretch.grid(offset, self.rate)
        rows = grid.centre(np.arange(grid.frames_within(self.samples), dtype=np.float64))
        bins = live_bins(self.rate / stretch.pitch)
        hz = (FIRST_BIN + np.arange(bins)) * (1 / FRAME_SECONDS) * stretch.pitch
        if self.top_hz is not None:
            hz = hz[hz <= self.top_hz]
        return resample_grid(self.features, rows / self.fine_hop, hz / self.bin_hz - self.first_bin)

    def sync_peak(self, stretch: _Stretch, offset: int, layout: AudioLayout) -> float:
        """The best sync score of the head at ``stretch`` and sub-hop ``offset``."""
        features = self.features_at(stretch, offset)
        if features.shape[0] > PERIOD:  # a head longer than a period: fold it
            sums = np.zeros((PERIOD, features.shape[1]), dtype=np.float64)
            squares = np.zeros_like(sums)
            fold_features(sums, squares, features, 0)
            return float(sync_of(sums, squares.sum(axis=0), layout).max())
        squares = np.einsum("fb,fb->b", features, features, dtype=np.float64)
        # Zero rows up to a whole period: pocketfft pads a short input about 2x slower.
        sums = np.zeros((PERIOD, features.shape[1]), dtype=np.float32)
        sums[: features.shape[0]] = features
        return float(sync_of(sums, squares, layout).max())


def fold_at(mono: np.ndarray, grid: FrameGrid) -> FrameFold:
    fold = FrameFold(grid)
    fold.advance(mono, 0, mono.shape[0], final=True)
    return fold


def half_rate(mono: np.ndarray, rate: float) -> tuple[np.ndarray, float]:
    """``mono`` lowpassed and decimated by 2, when the rate is high enough to afford it."""
    if rate < 2 * 7000:
        return mono, rate
    from scipy.signal import butter, sosfilt

    sos = butter(8, 0.45 * rate / 2, fs=rate, output="sos")
    return sosfilt(sos, mono)[::2].astype(np.float32), rate / 2


#: Tempo and pitch hypotheses are read at the full detection rate up to this frequency: at half
#: the rate (up to 3.6 kHz for 48 kHz input) their head syncs fall under the gate on music.
STRETCH_TOP_HZ = 5000.0


@dataclass
class _Head:
    """The first seconds of the input at the detection rate and at half of it: speeds are
    ranked at half the rate, tempo and pitch edits (WSOLA blurs the low bands) at the full."""

    full: np.ndarray
    rate: float
    small: np.ndarray
    small_rate: float

    def signal(self, stretch: _Stretch) -> tuple[np.ndarray, float]:
        if stretch.family == "speed":
            return self.small, self.small_rate
        return self.full, self.rate

    def spectrogram(self, stretch: _Stretch) -> _Spectrogram:
        signal, rate = self.signal(stretch)
        top = None if stretch.family == "speed" else STRETCH_TOP_HZ
        return _Spectrogram.of(signal, rate, stretch, top)

    def framed(self, stretch: _Stretch, offset: int, layout: AudioLayout) -> float:
        """The best sync of this head framed for real at ``stretch`` and ``offset``."""
        signal, rate = self.signal(stretch)
        return float(sync_scores(fold_at(signal, stretch.grid(offset, rate)), layout).max())


_Found = list[tuple[float, _Stretch, int]]


def _at_offsets(stretches: list[_Stretch], stage: str) -> list[tuple[_Stretch, int]]:
    """Each of ``stretches`` at each sub-hop offset the ``stage`` reads."""
    return [(stretch, offset) for stretch in stretches for offset in stretch.offsets(stage)]


def _other_offsets(coarse: _Found) -> list[tuple[_Stretch, int]]:
    """The sub-hop offsets the coarse pass skipped, for the best STRETCH_OFFSET_RECHECK tempos
    and pitches of ``coarse`` (best first)."""
    reads = []
    for family in ("tempo", "pitch"):
        ranked = dict.fromkeys(stretch for _, stretch, _ in coarse if stretch.family == family)
        for stretch in list(ranked)[:STRETCH_OFFSET_RECHECK]:
            skipped = set(range(SUB_OFFSETS)) - set(stretch.offsets("coarse"))
            reads.extend((stretch, offset) for offset in sorted(skipped))
    return reads


def _read_on(
    made: list[_Spectrogram], reads: list[tuple[_Stretch, int]], layout: AudioLayout
) -> _Found:
    """The best sync of each (hypothesis, sub-hop offset) of ``reads``, best first, read from
    the spectrogram ``made`` for its kind (speed, or tempo and pitch) nearest in pitch."""

    def nearest(stretch: _Stretch) -> _Spectrogram:
        kind = [m for m in made if (m.stretch.family == "speed") == (stretch.family == "speed")]
        return min(kind, key=lambda m: abs(math.log(stretch.pitch / m.stretch.pitch)))

    found = [
        (nearest(stretch).sync_peak(stretch, offset, layout), stretch, offset)
        for stretch, offset in reads
    ]
    return sorted(found, key=lambda item: -item[0])


def _best_per_family(found: _Found, keep: int) -> list[_Stretch]:
    """The best ``keep`` distinct hypotheses of ``found`` (best first), then the best of each
    family not among them."""
    ranked = list(dict.fromkeys(stretch for _, stretch, _ in found))
    chosen = ranked[:keep]
    for family in ("speed", "tempo", "pitch"):
        if not any(stretch.family == family for stretch in chosen):
            chosen.extend([stretch for stretch in ranked if stretch.family == family][:1])
    return chosen


def speed_search(mono: np.ndarray, rate: float, layout: AudioLayout) -> tuple[list[SyncPeak], int]:
    """Try playback speeds, tempos and pitches: coarse then fine on the first seconds, then
    the best on all of it.

    Returns the best peaks and the number of hypotheses tried (for the false-alarm figure).
    """
    if mono.shape[0] < MIN_DETECT_SECONDS * rate:
        return [], 0
    # SPEED_COARSE_SECONDS of the original at the slowest speed searched.
    full = mono[: int(SPEED_COARSE_SECONDS / SPEED_RANGE[0] * rate)]
    head = _Head(full, rate, *half_rate(full, rate))
    # The coarse pass reads each hypothesis from the nearest of a few spectrograms instead of
    # framing the sound again for each.
    made = [head.spectrogram(_Stretch(speed, speed, "speed")) for speed in SPECTROGRAM_SPEEDS]
    made.append(head.spectrogram(_Stretch(1.0, 1.0, "tempo")))
    coarse = _read_on(made, _at_offsets(_coarse_stretches(), "coarse"), layout)
    coarse = sorted(coarse + _read_on(made, _other_offsets(coarse), layout), key=lambda r: -r[0])
    # The fine pass reads the hypotheses around the best coarse ones from spectrograms made at
    # those, then frames the sound for real at the few that rank best there.
    # The best SPEED_KEEP, and the best of each family: an edit's head syncs near the noise
    # (bass music, pitch -2: third behind two tempos of nothing).
    best = _best_per_family(coarse, SPEED_KEEP)
    parent = {}  # fine hypothesis -> the coarse one it refines
    for stretch in best:
        for step in stretch.fine_steps:
            parent.setdefault(stretch.nudged(step), stretch)
    # Speeds from spectrograms made at the candidates; tempos and pitches from the coarse
    # pass's full-rate one (its frames are those of pitch 1, the rows interpolate any tempo).
    near = [head.spectrogram(s) for s in best if s.family == "speed"] + made[-1:]
    rough = _read_on(near, _at_offsets(list(parent), "fine"), layout)
    # The best around each coarse candidate (a weak head's truth can trail noise's
    # neighbours), then the best overall, FINE_RECHECK at least.
    ranked = list(dict.fromkeys(stretch for _, stretch, _ in rough))
    around = [next((s for s in ranked if parent[s] == c), None) for c in best]
    recheck = list(dict.fromkeys([s for s in around if s is not None] + ranked))
    recheck = recheck[: max(FINE_RECHECK, len(best))]
    fine = [(head.framed(s, o, layout), s, o) for s in recheck for o in s.offsets("framed")]
    fine.sort(key=lambda item: -item[0])
    hypotheses = (len(coarse) + len(rough) + len(fine)) * PERIOD
    peaks: list[SyncPeak] = []
    # Only hypotheses whose sync already stands out on the first seconds get a full fold; a
    # tempo or pitch edit's also at neighbours (WSOLA's first seconds can run 0.15 % off).
    promising = [stretch for z, stretch, _ in fine[:SPEED_KEEP] if z >= SPEED_GATE]
    for stretch in dict.fromkeys(near for s in promising for near in s.whole_input_tries):
        for offset in range(SUB_OFFSETS):
            fold = fold_at(mono, stretch.grid(offset, rate))
            z = sync_scores(fold, layout)
            shift = int(np.argmax(z))
            peaks.append(SyncPeak(float(z[shift]), shift, fold))
    hypotheses += len(peaks) * PERIOD
    peaks.sort(key=lambda p: -p.score)
    return peaks[:DECODE_ATTEMPTS], hypotheses
