"""Per-frame cost of the video watermark at 1920x1080 (pytest-benchmark).

Run: ``.venv/bin/python -m pytest bench --benchmark-only [-k video]``. The frame is the luma
of the 1080p benchmark picture (``compare_image.frame_1080p``), as a decoder hands it over
(uint8 Y plane). Every benchmark runs once untimed first (Numba cache loading is not measured).
Numba runs on one thread, as it does inside a transcode (the encoder has the cores), so the
figures are per core. Whole-file figures (transcode, detection in multiples of real time) are
``compare_video.py``'s; these show where the per-frame time goes: at the issue's budget
(marking at most 1.25x a plain transcode, which runs at roughly 10-20 frames per second on two
cores) marking may cost about a quarter of a frame time, some 10-25 ms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import paced, record_throughput

from marking.kernels.config import single_threaded
from marking.watermark.video import VideoDetector, VideoMarker

ROUNDS = 20
#: Frames averaged before the detector's search is timed.
AVERAGED = 8


@pytest.fixture(autouse=True)
def one_numba_thread() -> Iterator[None]:
    with single_threaded():
        yield


@pytest.fixture(scope="module")
def luma(frame: np.ndarray) -> np.ndarray:
    """BT.709 limited-range luma of the 1080p picture, uint8."""
    weights = np.array([0.2126, 0.7152, 0.0722], np.float32) * (219 / 255)
    return np.rint(frame.astype(np.float32) @ weights + 16).astype(np.uint8)


def _record(benchmark: Any, plane: np.ndarray, **info: Any) -> None:
    if benchmark.stats is None:  # --benchmark-disable: run once as a test, nothing timed
        return
    benchmark.extra_info["frames_per_s"] = round(1 / benchmark.stats.stats.median, 1)
    record_throughput(benchmark, plane.size / 1e6, numba_threads=1, **info)


@pytest.mark.benchmark(group="video")
def test_video_mark_plane(benchmark: Any, luma: np.ndarray, key: str, payload: bytes) -> None:
    """Every frame after the first: the mask and the tile added in place (plus a 2 MB copy)."""
    marker = VideoMarker(payload=payload, key=key)
    marker.mark_plane(luma.copy())  # the tile is made from the first frame

    def mark() -> np.ndarray:
        plane = luma.copy()
        marker.mark_plane(plane)
        return plane

    marked = paced(benchmark, mark, ROUNDS)
    assert not np.array_equal(marked, luma)
    _record(benchmark, luma, system="ours")


@pytest.mark.benchmark(group="video")
def test_video_first_frame(benchmark: Any, luma: np.ndarray, key: str, payload: bytes) -> None:
    """The first frame: the informed tile is made from it, then it is marked."""

    def first() -> None:
        VideoMarker(payload=payload, key=key).mark_plane(luma.copy())

    paced(benchmark, first, ROUNDS)
    _record(benchmark, luma, system="ours")


@pytest.mark.benchmark(group="video")
def test_video_push_plane(benchmark: Any, luma: np.ndarray, key: str) -> None:
    """The detector's per-frame work: adding the plane to its running sum."""
    detector = VideoDetector(key=key)
    paced(benchmark, lambda: detector.push_plane(luma), ROUNDS)
    _record(benchmark, luma, system="ours")


@pytest.fixture(scope="module")
def marked_planes(luma: np.ndarray, key: str, payload: bytes) -> list[np.ndarray]:
    marker = VideoMarker(payload=payload, key=key)
    planes = []
    for shift in range(AVERAGED):  # a slow pan: the picture moves, the tile stays
        plane = np.ascontiguousarray(np.roll(luma, 3 * shift, axis=1))
        marker.mark_plane(plane)
        planes.append(plane)
    return planes


@pytest.mark.benchmark(group="video")
@pytest.mark.parametrize("marked", [True, False], ids=["marked", "unmarked"])
def test_video_search(
    benchmark: Any,
    marked: bool,
    marked_planes: list[np.ndarray],
    luma: np.ndarray,
    key: str,
    payload: bytes,
) -> None:
    """Once per file: the search on the average of the frames (full search when unmarked)."""
    detector = VideoDetector(key=key)
    for plane in marked_planes if marked else [luma] * AVERAGED:
        detector.push_plane(plane)
    result = paced(benchmark, detector.result, ROUNDS)
    assert result.detected is marked
    if marked:
        assert result.payload == payload.hex()
    _record(benchmark, luma, system="ours")
