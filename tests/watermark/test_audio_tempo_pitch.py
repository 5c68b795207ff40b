"""The audio watermark survives tempo changes with the pitch kept and pitch shifts with the
tempo kept (issue 19), and these edits of unmarked audio find nothing.

Tempo 0.9-1.1 (libavfilter's ``atempo``, WSOLA) and pitch +-2 semitones (rate relabelled,
resampled back, ``atempo`` undoing the tempo), each extreme also after MP3 128k, on 20 s clips
(the speed search looks at the first 7.5 s; the issue's acceptance is on 30 s clips, so
passing here is the stricter check). The detector finds them by reading the head's
spectrograms with time and frequency stretched separately (``_Stretch`` in
:mod:`marking.watermark.audio_search`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from marking.watermark import audio_search
from marking.watermark.audio import detect_audio
from marking.watermark.audio_layout import PERIOD, audio_layout
from tests.support.audio_attacks import TEMPO_PITCH_ATTACKS, pitch, segmental_snr, tempo
from tests.support.audio_clips import clip
from tests.support.marked_clips import MarkedClips, assert_found

KEY = "audio-tempo-pitch-test-key"
PAYLOAD = "fedcba9876543210"
CLIP_SECONDS = 20.0

#: name -> (kind, rate): real speech and music, and the content the reference tool handles
#: badly (speech with digital-silence pauses, bass-heavy music).
CLIPS = {
    "speech-44.1k": ("speech", 44100),
    "music-48k": ("music", 48000),
    "speech-pauses-44.1k": ("speech-like", 44100),
    "bass-music-48k": ("bass-music", 48000),
}


@pytest.fixture(scope="module")
def marked() -> MarkedClips:
    return MarkedClips(CLIPS, CLIP_SECONDS, PAYLOAD, KEY)


def _tone(seconds: float, rate: int, hz: float) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    middle = samples[rate : 2 * rate]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.shape[0])))
    return float(np.argmax(spectrum)) * rate / middle.shape[0]


@pytest.mark.parametrize("factor", [0.9, 0.95, 1.05, 1.1])
def test_tempo_attack_changes_duration_not_pitch(factor: float) -> None:
    rate = 44100
    out, out_rate = tempo(_tone(3.0, rate, 1000.0), rate, factor)
    assert out_rate == rate
    assert out.shape[0] / rate == pytest.approx(3.0 / factor, rel=0.01)
    assert _peak_hz(out, rate) == pytest.approx(1000.0, abs=2.0)


@pytest.mark.parametrize("semitones", [-2.0, -1.0, 1.0, 2.0])
def test_pitch_attack_changes_pitch_not_duration(semitones: float) -> None:
    rate = 48000
    out, out_rate = pitch(np.stack([_tone(3.0, rate, 1000.0)] * 2, axis=1), rate, semitones)
    assert out_rate == rate
    assert out.shape[1] == 2
    assert out.shape[0] / rate == pytest.approx(3.0, rel=0.01)
    assert _peak_hz(out[:, 0], rate) == pytest.approx(1000.0 * 2 ** (semitones / 12), abs=2.0)


@pytest.mark.parametrize("family", ["speed", "tempo", "pitch"])
def test_coarse_search_covers_each_family_range(family: str) -> None:
    """Every edit in the issue's ranges is within half a coarse step of a coarse hypothesis
    that moves the same axes (the fine pass covers that half), and every read counts."""
    ranges = {
        "speed": audio_search.SPEED_RANGE,
        "tempo": audio_search.TEMPO_RANGE,
        "pitch": audio_search.PITCH_RANGE,
    }
    stretches = [s for s in audio_search._coarse_stretches() if s.family == family]
    axis = np.log([s.pitch if family == "pitch" else s.speed for s in stretches])
    if family == "speed":
        assert all(s.speed == s.pitch for s in stretches)
    else:
        assert all((s.speed if family == "pitch" else s.pitch) == 1.0 for s in stretches)
    step = audio_search.PITCH_STEP if family == "pitch" else audio_search.SPEED_STEP
    wanted = np.log(np.geomspace(*ranges[family], 201))
    wanted = wanted[np.abs(wanted) > step / 2]  # normal speed: tried first, on its own
    gaps = np.min(np.abs(wanted[:, None] - axis[None, :]), axis=1)
    assert gaps.max() <= step / 2 + 1e-4
    fine = np.array(stretches[0].fine_steps)
    assert fine.min() <= -step / 2 + 1e-4
    assert fine.max() >= step / 2 - 1e-4


@pytest.mark.parametrize(
    ("name", "attack"),
    [
        pytest.param(name, attack, id=f"{name}-{attack}")
        for name in CLIPS
        for attack in TEMPO_PITCH_ATTACKS
    ],
)
def test_payload_survives(marked: MarkedClips, name: str, attack: str) -> None:
    """Every case is found with its exact payload, also the three at the edge of the search
    before the best tempos and pitches were read at every sub-hop offset and a winning tempo's
    whole input at the coarse neighbours: speech with pauses at tempo 0.9 and 1.1 then MP3, and
    bass music at pitch -2 then MP3."""
    _, samples, rate = marked[name]
    attacked, attacked_rate = TEMPO_PITCH_ATTACKS[attack](samples, rate)
    result = detect_audio(attacked, attacked_rate, key=KEY)
    assert_found(result, f"{name} / {attack}", PAYLOAD)


def test_best_tempos_and_pitches_are_read_at_every_offset_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the coarse pass (tempos and pitches on sub-hop offsets 0 and 2), the best
    STRETCH_OFFSET_RECHECK of each of the two families are read on offsets 1 and 3 too, and
    every read, framing and fold counts as a hypothesis in the false-alarm figure."""
    passes: list[tuple[list[tuple[object, int]], list[tuple[float, object, int]]]] = []
    read_on = audio_search._read_on
    folds: list[object] = []
    fold_at = audio_search.fold_at

    def recording(made: object, reads: list, layout: object) -> list:
        found = read_on(made, reads, layout)  # type: ignore[arg-type]
        passes.append((reads, found))
        return found

    def counting(mono: np.ndarray, grid: object) -> object:
        folds.append(grid)
        return fold_at(mono, grid)  # type: ignore[arg-type]

    monkeypatch.setattr(audio_search, "_read_on", recording)
    monkeypatch.setattr(audio_search, "fold_at", counting)
    rate = 16000
    mono = np.array(clip("speech-like", 8.0, rate), dtype=np.float32)
    _, hypotheses = audio_search.speed_search(mono, rate, audio_layout(KEY))
    reads = sum(len(found) for _, found in passes)
    assert hypotheses == PERIOD * (reads + len(folds))
    (_, coarse), (extra, _) = passes[:2]
    keep = audio_search.STRETCH_OFFSET_RECHECK
    for family in ("tempo", "pitch"):
        best = list(dict.fromkeys(s for _, s, _ in coarse if s.family == family))[:keep]
        assert {(s, o) for s, o in extra if s.family == family} == {
            (s, o) for s in best for o in (1, 3)
        }
    assert len(extra) == 2 * 2 * keep


def test_a_winning_tempo_is_folded_at_its_coarse_neighbours() -> None:
    """WSOLA's first seconds can run a coarse step off the whole's tempo, so the whole input
    is folded at the neighbouring coarse tempos too (0.9027 wins the head of a tempo 0.9)."""
    tries = audio_search._Stretch(0.9027, 1.0, "tempo").whole_input_tries
    assert {0.9, 0.9027} <= {round(s.speed, 4) for s in tries}
    assert all(s.pitch == 1.0 and s.family == "tempo" for s in tries)
    for low, high in itertools.pairwise(audio_search.TEMPO_COARSE):
        for winner, neighbour in ((low, high), (high, low)):
            tries = audio_search._Stretch(winner, 1.0, "tempo").whole_input_tries
            assert min(abs(s.speed / neighbour - 1) for s in tries) < 2e-4


@pytest.mark.parametrize("name", list(CLIPS))
def test_segmental_snr(marked: MarkedClips, name: str) -> None:
    original, samples, rate = marked[name]
    assert segmental_snr(original, samples, rate) >= 25.0


@pytest.mark.parametrize("name", list(CLIPS))
def test_unmarked_clip_edited_is_not_detected(marked: MarkedClips, name: str) -> None:
    """The clips without the mark, under every one of these edits, give nothing."""
    original, _, rate = marked[name]
    for attack, apply in TEMPO_PITCH_ATTACKS.items():
        result = detect_audio(*apply(original, rate), key=KEY)
        assert not result.detected, f"{name} / {attack}: false detection"
