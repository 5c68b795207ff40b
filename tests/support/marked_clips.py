"""Marked test recordings, made once per test module: shared by the audio robustness tests."""

from __future__ import annotations

import numpy as np

from marking.scheme.results import AudioDetection
from marking.watermark.audio import FALSE_ALARM_LIMIT, embed_audio
from tests.support.audio_clips import clip


class MarkedClips:
    """Each clip (name -> (kind, rate) of :func:`tests.support.audio_clips.clip`) and its
    marked copy, made on first use and kept: ``clips[name]`` is (original, marked, rate)."""

    def __init__(
        self, clips: dict[str, tuple[str, int]], seconds: float, payload: str, key: str
    ) -> None:
        self._clips, self._seconds, self._payload, self._key = clips, seconds, payload, key
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}

    def __getitem__(self, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        if name not in self._cache:
            kind, rate = self._clips[name]
            original = clip(kind, self._seconds, rate)
            marked = embed_audio(original, rate, self._payload, key=self._key)
            self._cache[name] = (original, marked, rate)
        return self._cache[name]


def assert_found(result: AudioDetection, what: str, payload: str) -> None:
    """``result`` carries exactly ``payload`` within the false-alarm limit (``what``: the case,
    for the failure message, which gives the figures that decide)."""
    assert result.detected, (
        f"{what}: not detected (sync score {result.score:.2f}, "
        f"false alarm {result.false_alarm:.2e}, speed {result.speed})"
    )
    assert result.payload == payload
    assert 0.0 <= result.false_alarm <= FALSE_ALARM_LIMIT
