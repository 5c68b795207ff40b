"""Speed of our image watermark vs invisible-watermark (dwtDct, dwtDctSvd) at 1920x1080.

Run: ``.venv/bin/python -m pytest bench --benchmark-only``. Every benchmark runs its function
once untimed first (numba compilation or cache loading is not measured), then times whole
calls. Groups ``embed`` and ``decode`` put ours and the peer side by side; ours also runs with
``numba.set_num_threads(1)`` to give throughput per core. MP/s (from the median) is stored in
``extra_info`` and printed in a summary at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import harness
import numba
import numpy as np
import pytest
from conftest import paced, record_throughput

import marking.watermark.image as iw

OUR_ROUNDS = 10
PEER_ROUNDS = 5
PEER_METHODS = ("dwtDct", "dwtDctSvd")


@pytest.fixture(params=["default", 1], ids=lambda threads: f"threads-{threads}")
def numba_threads(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run with numba's default thread count, or with one thread (restored afterwards)."""
    threads = numba.get_num_threads() if request.param == "default" else int(request.param)
    with harness.numba_threads(threads):
        yield threads


def _megapixels(image: np.ndarray) -> float:
    return image.shape[0] * image.shape[1] / 1e6


@pytest.mark.benchmark(group="embed")
def test_ours_embed(
    benchmark: Any, numba_threads: int, frame: np.ndarray, key: str, payload: bytes
) -> None:
    marked = paced(benchmark, lambda: iw.embed_image(frame, key=key, payload=payload), OUR_ROUNDS)
    assert marked.shape == frame.shape
    assert marked.dtype == np.uint8
    record_throughput(benchmark, _megapixels(frame), system="ours", numba_threads=numba_threads)


@pytest.mark.benchmark(group="decode")
def test_ours_detect_marked(
    benchmark: Any, numba_threads: int, marked_frame: np.ndarray, key: str, payload: bytes
) -> None:
    result = paced(benchmark, lambda: iw.detect_image(marked_frame, key=key), OUR_ROUNDS)
    assert result.detected
    assert result.payload == payload.hex()
    record_throughput(
        benchmark, _megapixels(marked_frame), system="ours", numba_threads=numba_threads
    )


@pytest.mark.benchmark(group="decode")
def test_ours_detect_unmarked(
    benchmark: Any, numba_threads: int, frame: np.ndarray, key: str
) -> None:
    result = paced(benchmark, lambda: iw.detect_image(frame, key=key), OUR_ROUNDS)
    assert not result.detected
    record_throughput(benchmark, _megapixels(frame), system="ours", numba_threads=numba_threads)


@pytest.mark.benchmark(group="embed")
@pytest.mark.parametrize("method", PEER_METHODS)
def test_peer_encode(
    benchmark: Any, peer: Any, method: str, frame: np.ndarray, payload: bytes
) -> None:
    bgr = peer.rgb_to_bgr(frame)  # the peer's native channel order, converted untimed
    encoded = paced(benchmark, lambda: peer.encode(method, bgr, payload), PEER_ROUNDS)
    assert encoded.shape == bgr.shape
    record_throughput(benchmark, _megapixels(frame), system=method)


@pytest.mark.benchmark(group="decode")
@pytest.mark.parametrize("method", PEER_METHODS)
def test_peer_decode(
    benchmark: Any, peer: Any, method: str, frame: np.ndarray, payload: bytes
) -> None:
    encoded = peer.encode(method, peer.rgb_to_bgr(frame), payload)
    bits = paced(benchmark, lambda: peer.decode(method, encoded), PEER_ROUNDS)
    assert bits.shape == (64,)  # correctness is compare_image.py's business: dwtDct often fails
    record_throughput(benchmark, _megapixels(frame), system=method)
