"""The audio watermark detector does not fire on audio that carries no mark for its key.

240 unmarked clips (real speech and music excerpts, speech-like sound with pauses, music-like
and bass-heavy music, noise, tones and digital silence; 3-12 s at rates from 8 to 96 kHz, mono
and stereo) are each checked with a fresh random key: none may be detected, and the reported
false-alarm probabilities must behave like probabilities. A marked clip checked with 20 wrong
keys must not be detected either.

Detection of unmarked audio runs the full playback-speed search (about 0.3 s a clip), so the
trials run in worker processes, one per core (at most 2), started after the parent has loaded
the compiled kernels.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest

from marking.watermark.audio import FALSE_ALARM_LIMIT, detect_audio, embed_audio
from tests.support.audio_clips import CLIP_KINDS, clip, with_channels

UNMARKED_TRIALS = 240
WRONG_KEYS = 20
RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000)
SECONDS = (3.0, 12.0)
#: Share of mono clips turned into stereo (two slightly different channels).
STEREO_SHARE = 0.3
#: The search-corrected p-value of an unmarked clip's best sync peak may be conservative but
#: never optimistic: at most this share of them may fall under 1 %.
MAX_SHARE_UNDER_1PCT = 0.03

MARKED_KEY = "audio-false-alarm-marked-key"
MARKED_PAYLOAD = "00c0ffee00c0ffee"
MARKED_CLIP = ("music", 12.0, 44100)
WORKERS = max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class Trial:
    kind: str  # a key of CLIP_KINDS, or "marked"
    rate: int
    seconds: float
    seed: int
    channels: int | None
    key: str


@dataclass(frozen=True)
class Outcome:
    trial: Trial
    detected: bool
    payload: str | None
    false_alarm: float
    score: float


def unmarked_trials() -> list[Trial]:
    rng = np.random.default_rng(5005)
    kinds = list(CLIP_KINDS)
    trials = []
    for i in range(UNMARKED_TRIALS):
        kind = kinds[i % len(kinds)]
        stereo = kind not in ("music", "music-like", "bass-music") and rng.random() < STEREO_SHARE
        trials.append(
            Trial(
                kind=kind,
                rate=int(rng.choice(RATES)),
                seconds=round(float(rng.uniform(*SECONDS)), 3),
                seed=1000 + i,
                channels=2 if stereo else None,
                key=f"random-key-{rng.integers(2**62):x}",
            )
        )
    return trials


def wrong_key_trials() -> list[Trial]:
    _, seconds, rate = MARKED_CLIP
    rng = np.random.default_rng(6006)
    keys = [f"wrong-key-{rng.integers(2**62):x}" for _ in range(WRONG_KEYS - 2)]
    keys += [MARKED_KEY.upper(), MARKED_KEY + " "]  # near misses
    return [Trial("marked", rate, seconds, 0, None, key) for key in keys]


@lru_cache(maxsize=1)
def marked_clip() -> np.ndarray:
    kind, seconds, rate = MARKED_CLIP
    return embed_audio(clip(kind, seconds, rate), rate, MARKED_PAYLOAD, key=MARKED_KEY)


def run_trial(trial: Trial) -> Outcome:
    if trial.kind == "marked":
        samples = marked_clip()
    else:
        samples = clip(trial.kind, trial.seconds, trial.rate, trial.seed)
        if trial.channels is not None:
            samples = with_channels(samples, trial.channels)
    result = detect_audio(samples, trial.rate, key=trial.key)
    return Outcome(trial, result.detected, result.payload, result.false_alarm, result.score)


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    trials = unmarked_trials() + wrong_key_trials()
    # Load (or compile) every kernel here first, so the workers only read Numba's cache.
    detect_audio(clip("speech", 3.0, 16000), 16000, key="warm-up")
    marked_clip()
    if WORKERS == 1:
        return [run_trial(trial) for trial in trials]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context) as pool:
        return list(pool.map(run_trial, trials, chunksize=4))


def _describe(outcome: Outcome) -> str:
    t = outcome.trial
    return (
        f"{t.kind} {t.seconds} s at {t.rate} Hz (seed {t.seed}, key {t.key!r}): "
        f"payload {outcome.payload}, p {outcome.false_alarm:.2e}, score {outcome.score:.2f}"
    )


def test_no_unmarked_clip_is_detected(outcomes: list[Outcome]) -> None:
    unmarked = [o for o in outcomes if o.trial.kind != "marked"]
    assert len(unmarked) >= 200
    assert {o.trial.kind for o in unmarked} == set(CLIP_KINDS)
    found = [_describe(o) for o in unmarked if o.detected or o.payload is not None]
    assert not found, f"{len(found)} unmarked clips detected:\n" + "\n".join(found)


def test_false_alarm_values_are_probabilities(outcomes: list[Outcome]) -> None:
    unmarked = [o for o in outcomes if o.trial.kind != "marked"]
    values = np.array([o.false_alarm for o in unmarked])
    scores = np.array([o.score for o in unmarked])
    assert np.all(np.isfinite(values))
    assert np.all((values >= 0) & (values <= 1))
    assert np.all(np.isfinite(scores))
    # Nothing unmarked comes near the reporting threshold on its sync peak alone.
    assert values.min() > FALSE_ALARM_LIMIT, _describe(unmarked[int(values.argmin())])
    share = float(np.mean(values < 0.01))
    assert share <= MAX_SHARE_UNDER_1PCT, (
        f"{share:.1%} of unmarked clips have p < 0.01: the figure is optimistic"
    )


def test_silence_reports_no_evidence(outcomes: list[Outcome]) -> None:
    silent = [o for o in outcomes if o.trial.kind == "silence"]
    assert silent
    assert all(o.false_alarm == 1.0 and not o.detected for o in silent)


def test_marked_clip_is_found_with_its_key() -> None:
    rate = MARKED_CLIP[2]
    result = detect_audio(marked_clip(), rate, key=MARKED_KEY)
    assert result.detected
    assert result.payload == MARKED_PAYLOAD
    assert result.false_alarm <= FALSE_ALARM_LIMIT
    assert not math.isnan(result.score)


def test_wrong_keys_never_detect_a_marked_clip(outcomes: list[Outcome]) -> None:
    wrong = [o for o in outcomes if o.trial.kind == "marked"]
    assert len(wrong) == WRONG_KEYS
    found = [_describe(o) for o in wrong if o.detected or o.payload is not None]
    assert not found, "a wrong key detected the mark:\n" + "\n".join(found)
    assert all(0.0 <= o.false_alarm <= 1.0 for o in wrong)
