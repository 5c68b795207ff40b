"""The audio watermark survives the acceptance attacks of issue 5 and stays under the signal.

Each clip is marked once per module (default strength, fixed key and payload); every attack in
:data:`tests.support.audio_attacks.ATTACKS` is applied to the marked samples, and blind detection
must
return the exact payload with a false-alarm probability of at most 1e-6. The issue's
acceptance is on 30 s clips; these are 20 s (the 10 s excerpt starts at 7.3 s), which leaves the
detector less to fold, so passing here is the stricter check.
"""

from __future__ import annotations

import pytest

from marking.watermark.audio import detect_audio
from tests.support.audio_attacks import ATTACKS, GOAL_ATTACKS, MIN_CLIP_SECONDS, segmental_snr
from tests.support.marked_clips import MarkedClips, assert_found

KEY = "audio-robustness-test-key"
PAYLOAD = "0123456789abcdef"
CLIP_SECONDS = 20.0
MIN_SEGMENTAL_SNR_DB = 25.0

#: name -> (kind, rate): the real speech and music samples at 44.1 and 48 kHz (acceptance),
#: and the content the reference tool handles badly (speech with digital-silence pauses,
#: bass-heavy music).
CLIPS = {
    "speech-44.1k": ("speech", 44100),
    "speech-48k": ("speech", 48000),
    "music-44.1k": ("music", 44100),
    "music-48k": ("music", 48000),
    "speech-pauses-44.1k": ("speech-like", 44100),
    "bass-music-48k": ("bass-music", 48000),
}

#: The 5 s excerpt is a goal, not an acceptance item: the (clip) cases measured failing are
#: strict xfails, so one that starts passing is reported (and its mark should then go).
FAILING_GOALS: dict[tuple[str, str], str] = {}

assert CLIP_SECONDS >= MIN_CLIP_SECONDS


@pytest.fixture(scope="module")
def marked() -> MarkedClips:
    return MarkedClips(CLIPS, CLIP_SECONDS, PAYLOAD, KEY)


def _cases() -> list[object]:
    cases = []
    for name in CLIPS:
        for attack in ATTACKS:
            marks = []
            if (name, attack) in FAILING_GOALS:
                assert attack in GOAL_ATTACKS, "only goals may be expected to fail"
                marks.append(pytest.mark.xfail(reason=FAILING_GOALS[name, attack], strict=True))
            cases.append(pytest.param(name, attack, marks=marks, id=f"{name}-{attack}"))
    return cases


@pytest.mark.parametrize(("name", "attack"), _cases())
def test_payload_survives(marked: MarkedClips, name: str, attack: str) -> None:
    _, samples, rate = marked[name]
    attacked, attacked_rate = ATTACKS[attack](samples, rate)
    result = detect_audio(attacked, attacked_rate, key=KEY)
    assert_found(result, f"{name} / {attack}", PAYLOAD)


@pytest.mark.parametrize("name", list(CLIPS))
def test_segmental_snr(marked: MarkedClips, name: str) -> None:
    original, samples, rate = marked[name]
    snr = segmental_snr(original, samples, rate)
    assert snr >= MIN_SEGMENTAL_SNR_DB, f"{name}: segmental SNR {snr:.2f} dB"


@pytest.mark.parametrize("name", list(CLIPS))
def test_unmarked_clip_is_not_detected(marked: MarkedClips, name: str) -> None:
    """The same clip without the mark gives nothing, whatever the attacks would have found."""
    original, _, rate = marked[name]
    assert not detect_audio(original, rate, key=KEY).detected
