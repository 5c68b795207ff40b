"""``python -m marking.warmup`` compiles every kernel the real paths use, and batches warm first.

With an empty Numba cache directory the warm-up runs, then a batch marks and verifies pictures
of several pixel types, a mono and a stereo recording and a short clip with sound in worker
processes: no kernel may be compiled after the warm-up (no cache file appears or changes, and
Numba's cache log says nothing was saved). Otherwise every worker of a fresh install compiles
the same kernels at once and races to write the same cache files (numba issues 4807, 10128).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from marking.pipeline import batch, dask_run
from marking.watermark import warmup
from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.commands import run_cli
from tests.support.video_clips import clip_path

KEY = "Warmup-Secret-2210"
FAST_CONFIG = '[video.encoder]\npreset = "ultrafast"\n'


def cache_files(directory: Path) -> dict[str, str]:
    """Every Numba cache file (index ``.nbi``, machine code ``.nbc``) and its content hash."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.suffix in (".nbi", ".nbc")
    }


def media_tree(root: Path) -> Path:
    """Pictures of several pixel types and sizes, mono and stereo sound, an 8-bit clip with
    sound and a 10-bit one."""
    photos = root / "photos"
    photos.mkdir(parents=True)
    make_natural_image("RGB", (256, 256), 1).save(photos / "rgb.jpg", quality=90)
    # Over a megapixel: read a strip at a time into a writable array, not Pillow's own one.
    make_natural_image("RGB", (1100, 1000), 6).save(photos / "large.jpg", quality=90)
    make_natural_image("RGBA", (256, 256), 2).save(photos / "rgba.png")
    make_natural_image("L", (256, 256), 3).save(photos / "gray.png")
    gray = np.asarray(make_natural_image("L", (256, 256), 4), dtype=np.uint16) * 257
    Image.fromarray(gray).save(photos / "gray16.png")
    sound = root / "sound"
    sound.mkdir()
    sf.write(sound / "mono.flac", clip("speech", 3.0, 16_000), 16_000)
    sf.write(sound / "stereo.wav", clip("music", 2.5, 22_050), 22_050)
    clips = root / "clips"
    clips.mkdir()
    video = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    shutil.copyfile(video, clips / "clip.mp4")
    ten_bit = clip_path(
        "bbb",
        width=320,
        height=256,
        fps=10,
        seconds=1.0,
        audio=False,
        pix_fmt="yuv420p10le",
        container="mkv",
        preset="ultrafast",
    )
    shutil.copyfile(ten_bit, clips / "ten-bit.mkv")
    return root


def test_nothing_compiles_after_the_warmup(tmp_path: Path) -> None:
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    env = {"NUMBA_CACHE_DIR": str(cache), "AIGC_MARK_KEY": KEY}
    warm = subprocess.run(
        [sys.executable, "-m", "marking.warmup"],
        capture_output=True,
        text=True,
        env=os.environ | env,
        stdin=subprocess.DEVNULL,
        timeout=900,
        check=False,
    )
    assert warm.returncode == 0, warm.stderr
    warmed = cache_files(cache)
    assert any(name.endswith(".nbc") for name in warmed)

    tree = media_tree(tmp_path / "in")
    config = tmp_path / "fast.toml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    logged = env | {"NUMBA_DEBUG_CACHE": "1"}
    out = tmp_path / "out"
    marked = run_cli(
        "mark",
        tree,
        "-o",
        out,
        "--config",
        config,
        "--producer",
        "ExampleAI",
        "-j",
        "2",
        env=logged,
    )
    assert marked.returncode == 0, marked.stderr
    assert len([path for path in out.rglob("*") if path.is_file()]) == 9
    verified = run_cli("verify", out, "-j", "2", env=logged)
    assert verified.returncode == 0, verified.stderr
    for run in (marked, verified):
        saved = [line for line in (run.stdout + run.stderr).splitlines() if "data saved" in line]
        assert [Path(line.split("'")[1]).name for line in saved] == []
    assert cache_files(cache) == warmed


class _Started(Exception):
    """Raised by a fake pool or cluster where real work would start."""


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened, in order: "warm" for each compile of the kernels, then where the fake
    pool or Dask cluster started its workers."""
    happened: list[str] = []

    def compile_kernels(check: Any = None) -> float:
        happened.append("warm")
        return 0.0

    monkeypatch.setattr(warmup, "compile_kernels", compile_kernels)
    monkeypatch.setattr(warmup, "_compiled", False)
    monkeypatch.setattr(warmup, "_cache_is_warm", lambda: False)
    return happened


def test_a_pool_batch_warms_the_kernels_first_and_once(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures

    def pool(*args: Any, **kwargs: Any) -> None:
        events.append("pool")
        raise _Started

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", pool)
    jobs = [batch.Job("a.png")]
    for _ in range(2):
        with pytest.raises(_Started):
            list(batch.run(jobs, repr, workers=2))
    assert events == ["warm", "pool", "pool"]  # the second batch of this process: warm already


def test_a_dask_batch_warms_the_kernels_before_submitting(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")

    class Client:
        def scheduler_info(self) -> dict[str, Any]:
            return {"workers": {"one": {}}}

        def submit(self, *args: Any, **kwargs: Any) -> None:
            events.append("submit")
            raise _Started

        def cancel(self, futures: Any) -> None:
            pass

    @contextlib.contextmanager
    def dask_client(address: str) -> Iterator[Client]:
        events.append("cluster")
        yield Client()

    monkeypatch.setattr(dask_run, "dask_client", dask_client)
    with pytest.raises(_Started):
        list(batch.run([batch.Job("a.png")], repr, dask="local:2"))
    assert events == ["cluster", "warm", "submit"]


@pytest.mark.parametrize("jobs", [[], [batch.Job("a.png")]], ids=["no-jobs", "in-process"])
def test_no_warmup_when_no_work_goes_to_other_processes(
    events: list[str], jobs: list[batch.Job]
) -> None:
    workers = 2 if not jobs else 1
    assert list(batch.run(jobs, repr, workers=workers)) == [repr(job) for job in jobs]
    assert events == []


def test_the_record_of_a_warm_cache_goes_stale_when_the_cache_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch skips the warm-up only while the cache is as the last warm-up left it: a kernel
    compiled since (a new or rewritten cache file) makes it warm up again."""
    index = tmp_path / "tiling.fold_periodic-96.py311.nbi"
    index.write_bytes(b"index")
    (tmp_path / "tiling.fold_periodic-96.py311.1.nbc").write_bytes(b"code")
    monkeypatch.setattr(warmup, "_cache_directory", lambda: tmp_path)
    assert not warmup._cache_is_warm()  # never warmed
    warmup._record_warm_cache()
    assert warmup._cache_is_warm()
    (tmp_path / "tiling.fold_periodic-96.py311.2.nbc").write_bytes(b"more code")
    index.write_bytes(b"index, longer")
    assert not warmup._cache_is_warm()
    warmup._record_warm_cache()
    assert warmup._cache_is_warm()
    (tmp_path / "tiling.fold_periodic-96.py311.2.nbc").unlink()
    assert not warmup._cache_is_warm()

    compiled: list[str] = []
    monkeypatch.setattr(warmup, "compile_kernels", lambda check=None: compiled.append("warm"))
    monkeypatch.setattr(warmup, "_compiled", False)
    warmup.ensure_compiled()  # stale: warms up
    warmup._record_warm_cache()  # as the real compile_kernels does
    monkeypatch.setattr(warmup, "_compiled", False)  # a new process
    warmup.ensure_compiled()  # warm: skipped
    assert compiled == ["warm"]
