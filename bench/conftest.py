"""Fixtures for the speed benchmarks: a 1080p frame from a real photo, and the peer.

The repository's pytest configuration collects ``test_*.py`` under ``tests/``; the benchmark
modules are named ``bench_*.py`` so ``make test`` never picks them up, and this conftest makes
``pytest bench`` collect them (importing :mod:`harness` sets up the paths, as for every bench
script). After the run it prints the megapixels per second recorded in each benchmark's
``extra_info``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import harness
import numpy as np
import pytest
from compare_image import frame_1080p

import marking.watermark.image as iw

#: (group, name, extra_info) of every finished benchmark, for the terminal summary.
_THROUGHPUT: list[tuple[str, str, dict[str, Any]]] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def paced(benchmark: Any, fn: Any, rounds: int) -> Any:
    """Time ``rounds`` whole calls of ``fn`` after one untimed call (Numba compilation or
    cache loading is not measured); returns its value."""
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def record_throughput(benchmark: Any, megapixels: float, **info: Any) -> None:
    """Store MP/s (from the median) and ``info`` in ``benchmark.extra_info``; nothing when
    timing is off (``--benchmark-disable`` runs each benchmark once, as a plain test)."""
    if benchmark.stats is None:
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(info)
    benchmark.extra_info["megapixels"] = round(megapixels, 4)
    benchmark.extra_info["median_ms"] = round(1000 * median, 2)
    benchmark.extra_info["mp_per_s"] = round(megapixels / median, 3)
    _THROUGHPUT.append((benchmark.group or "", benchmark.name, dict(benchmark.extra_info)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _THROUGHPUT:
        return
    terminalreporter.section("throughput (median)")
    for group, name, info in sorted(_THROUGHPUT, key=lambda row: (row[0], row[2]["median_ms"])):
        per_core = " per core" if info.get("numba_threads") == 1 else ""
        terminalreporter.write_line(
            f"{group:<8} {name:<40} {info['median_ms']:>9.1f} ms "
            f"{info['mp_per_s']:>8.2f} MP/s{per_core}"
        )


@pytest.fixture(scope="session")
def frame() -> np.ndarray:
    """1920x1080 RGB uint8, from samples/photo-dandelions.jpg."""
    return frame_1080p()


@pytest.fixture(scope="session")
def payload() -> bytes:
    return harness.PAYLOAD


@pytest.fixture(scope="session")
def key() -> str:
    return harness.KEY


@pytest.fixture(scope="session")
def marked_frame(frame: np.ndarray, key: str, payload: bytes) -> np.ndarray:
    return iw.embed_image(frame, key=key, payload=payload)


@pytest.fixture(scope="session")
def peer() -> Any:
    """The ``peers`` module, or a skip when invisible-watermark is not installed."""
    import peers

    try:
        peers.package_dir()
    except ImportError as error:
        pytest.skip(str(error))
    return peers
