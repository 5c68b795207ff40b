"""Speed of our audio watermark on 30 s of 44.1 kHz stereo music (pytest-benchmark).

Run: ``.venv/bin/python -m pytest bench --benchmark-only [-k audio]`` (naming the file itself
would collect it twice: once by ``bench/conftest.py``, once as an explicit argument).
The clip is the tabla sample looped to 30 s (``compare_audio.speed_clip``). Every benchmark
runs once untimed first (Numba cache loading is not measured), then times whole calls. The
audio kernels are serial and SciPy's FFT runs with one worker, so the figures are throughput
per core. Multiples of real time (from the median) are stored in ``extra_info`` and listed at
the end of the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from compare_audio import speed_clip
from conftest import paced
from harness import KEY, PAYLOAD

import marking.watermark.audio as aw

ROUNDS = 10

#: (name, seconds of audio, median seconds) of every finished benchmark, for the summary.
_REALTIME: list[tuple[str, float, float]] = []


class _Summary:
    """A plugin printing the multiples of real time after pytest-benchmark's table."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not _REALTIME:
            return
        terminalreporter.section("audio: x real time (median)")
        for name, seconds, median in _REALTIME:
            terminalreporter.write_line(
                f"{name:<40} {1000 * median:>9.1f} ms for {seconds:g} s "
                f"{seconds / median:>8.0f}x real time"
            )


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> None:
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("audio-realtime-summary"):
        plugins.register(_Summary(), "audio-realtime-summary")


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    return speed_clip()


@pytest.fixture(scope="module")
def marked(clip: tuple[np.ndarray, int]) -> np.ndarray:
    samples, rate = clip
    return aw.embed_audio(samples, rate, PAYLOAD, key=KEY)


def _record(benchmark: Any, seconds: float) -> None:
    if benchmark.stats is None:  # --benchmark-disable: run once as a test, nothing timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["audio_seconds"] = seconds
    benchmark.extra_info["median_ms"] = round(1000 * median, 2)
    benchmark.extra_info["x_realtime"] = round(seconds / median, 1)
    _REALTIME.append((benchmark.name, seconds, median))


@pytest.mark.benchmark(group="audio")
def test_audio_embed(benchmark: Any, clip: tuple[np.ndarray, int]) -> None:
    samples, rate = clip
    out = paced(benchmark, lambda: aw.embed_audio(samples, rate, PAYLOAD, key=KEY), ROUNDS)
    assert out.shape == samples.shape
    _record(benchmark, samples.shape[0] / rate)


@pytest.mark.benchmark(group="audio")
def test_audio_detect_marked(
    benchmark: Any, clip: tuple[np.ndarray, int], marked: np.ndarray
) -> None:
    rate = clip[1]
    result = paced(benchmark, lambda: aw.detect_audio(marked, rate, key=KEY), ROUNDS)
    assert result.detected
    assert result.payload == PAYLOAD.hex()
    _record(benchmark, marked.shape[0] / rate)


@pytest.mark.benchmark(group="audio")
def test_audio_detect_unmarked(benchmark: Any, clip: tuple[np.ndarray, int]) -> None:
    """Nothing is found at normal speed, so the playback-speed search runs too."""
    samples, rate = clip
    result = paced(benchmark, lambda: aw.detect_audio(samples, rate, key=KEY), ROUNDS)
    assert not result.detected
    _record(benchmark, samples.shape[0] / rate)
