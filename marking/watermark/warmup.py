"""Compile the Numba kernels of the picture, sound and video paths into the on-disk cache.

Kernels are ``cache=True``: the first process that needs a kernel compiles it and writes the
machine code to Numba's cache directory (``__pycache__`` beside the kernels, or the one
:mod:`marking.kernels` picks), and later processes load it instead. Numba compiles one version
per type signature (dtype, dimensions, layout, read-only), so this runs the real array-level
paths on small synthetic inputs of every kind they are given: embedding into pictures of every
pixel type (arrays of each dtype and channel count, PIL images of each mode) and detection,
the streaming audio embedder fed in blocks and the detector with its speed search, mono and
stereo, and decoded 8- and 10-bit luma planes and picture frames through the video marker.
If many processes started on a cold cache at once, each would compile the same kernels and
race to write the same cache files (numba issues 4807 and 10128); so ``make`` runs this after
installing, and a batch whose work goes to other processes (``-j N`` with N > 1, ``--dask``)
runs it in the parent before the work starts (:func:`ensure_compiled`: once per process, and
not at all while the cache is as the last warm-up on this host left it, which a small record
file beside the cache tells). ``tests/watermark/test_warmup.py`` checks that a batch compiles
nothing
after the warm-up.

Measured on a busy 2-core machine: cold (empty cache) 35-40 s; warm 1.8-3 s (imports 1.7 s,
loading the 48 cached versions 1 s, the work the rest); a batch that finds the record current
spends about 0.25 s on it. Run it as ``python -m marking.watermark.warmup``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Side of the synthetic pictures and frames: the smallest the watermark marks.
SIDE = 256
#: Rate (Hz) and length (s) of the synthetic sound: the lowest rate, and more than two of the
#: embedder's 2.5 s segments (from the second on, its buffers are views: other signatures).
SOUND_RATE = 8000
SOUND_SECONDS = 6.0

_compiled = False


def _pictures() -> list[Any]:
    """Every pixel type the picture path takes: arrays of each dtype and channel count, and
    PIL images of each supported mode (their arrays are read-only and laid out differently)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.random((SIDE, SIDE)).astype(np.float32)
    grey8 = (base * 255).astype(np.uint8)
    rgb8 = np.stack([grey8, grey8[::-1], grey8[:, ::-1]], axis=2)
    rgba8 = np.concatenate([rgb8, grey8[:, :, None]], axis=2)
    grey16 = (base * 65535).astype(np.uint16)
    arrays: list[Any] = [
        grey8,
        rgb8,
        rgba8,
        grey16,
        np.stack([grey16] * 3, axis=2),
        np.stack([grey16] * 4, axis=2),
        base,
        np.stack([base] * 3, axis=2),
        base.astype(np.float64),
        np.stack([base] * 3, axis=2).astype(np.float64),
    ]
    images = [
        Image.fromarray(grey8),
        Image.fromarray(np.stack([grey8, grey8], axis=2)),
        Image.fromarray(rgb8),
        Image.fromarray(rgba8),
        Image.fromarray(grey16),
        Image.fromarray(grey16.astype(np.int32)),
        Image.fromarray(base),
    ]
    return arrays + images


def _warm_pictures() -> None:
    """Embed into every pixel type; detect in one array and one PIL image, and in an unmarked
    picture (so every search runs). Detection reads a picture's strips with the same pixel
    types embedding does, and the rest of it works on a float32 plane whatever the input: one
    of each kind covers it (detection is the slow half)."""
    from marking.watermark.image import detect_image, embed_image

    pictures = _pictures()
    marked = [embed_image(picture, payload=0) for picture in pictures]
    for picture in (marked[0], marked[-1]):
        detect_image(picture)
    detect_image(pictures[0])  # nothing found: the lattice search runs too


def _warm_sound() -> None:
    """The streaming embedder, fed in blocks as the file paths feed it (past its first segment
    it works on views of its buffers), and the detector, mono and stereo (more channels go
    through the stereo kernels, and the detector mixes down to mono first)."""
    from marking.watermark.audio import AudioEmbedder, detect_audio, iter_chunks

    rng = np.random.default_rng(1)
    mono = (0.1 * rng.standard_normal(int(SOUND_RATE * SOUND_SECONDS))).astype(np.float32)
    for samples in (mono, np.stack([mono, mono[::-1]], axis=1)):
        channels = 1 if samples.ndim == 1 else samples.shape[1]
        embedder = AudioEmbedder(rate=SOUND_RATE, channels=channels, payload=0)
        marked = [embedder.push(block) for block in iter_chunks(samples, SOUND_RATE)]
        detect_audio(np.concatenate([*marked, embedder.finish()]), SOUND_RATE)
    detect_audio(mono[:SOUND_RATE], SOUND_RATE)  # nothing found: the speed search runs too


def _warm_video() -> None:
    """Decoded luma planes (8 bit, and 10 bit in uint16; strided as a decoder gives them when
    its rows are padded, contiguous when they are not) through the plane marker, and a frame
    given as a picture through the frame marker. The detector only sums planes and then
    searches a float32 plane as picture detection does."""
    from marking.watermark.video import VideoMarker

    rng = np.random.default_rng(2)
    padded = rng.integers(0, 256, (SIDE, SIDE + 32), dtype=np.uint8)
    for rows, max_value in ((padded, 255), (padded.astype(np.uint16) * 4, 1023)):
        for plane in (rows[:, :SIDE], np.ascontiguousarray(rows[:, :SIDE])):
            VideoMarker(payload=0).mark_plane(plane, max_value=max_value)
    VideoMarker(payload=0).mark(np.stack([padded[:, :SIDE]] * 3, axis=2))


def compile_kernels(check: Callable[[], None] | None = None) -> float:
    """Run the picture, sound and video paths on small synthetic inputs, so that every kernel
    is compiled (or loaded from the cache) with every type signature the real paths use, and
    record that the cache is warm (see :func:`ensure_compiled`).

    ``check`` runs between the three (a batch passes :func:`marking.media.interrupts.check`, so that
    a stop signal is not held back by a cold compile). Returns the seconds it took.
    """
    global _compiled
    from marking.kernels import config

    started = time.perf_counter()
    config.USE_AOT = False  # the JIT must see every signature, for the cache and the AOT build
    try:
        for warm in (_warm_pictures, _warm_sound, _warm_video):
            if check is not None:
                check()
            warm()
    finally:
        config.USE_AOT = True
    _compiled = True
    _record_warm_cache()
    return time.perf_counter() - started


def ensure_compiled(check: Callable[[], None] | None = None) -> None:
    """:func:`compile_kernels` unless this process ran it already or the cache is as the last
    warm-up on this host left it: for a parent about to start worker processes, so that they
    load the kernels instead of all compiling them at once. The check costs milliseconds
    where loading every kernel and the modules that use them takes seconds."""
    global _compiled
    if not _compiled and not _cache_is_warm():
        compile_kernels(check)
    _compiled = True


# --- the record of a warm cache ----------------------------------------------------------------


def _cache_directory() -> Path | None:
    """Where Numba keeps the kernels' machine code (one directory for the whole package)."""
    from marking.kernels.masking import block_std

    path = getattr(getattr(block_std, "_cache", None), "_cache_path", None)
    return Path(path) if path else None


def _record_path(directory: Path) -> Path:
    host = hashlib.sha256(platform.node().encode()).hexdigest()[:12]
    return directory / f"aigc-marking-warm-{host}.txt"


def _fingerprint(directory: Path) -> str:
    """This code (every module of the package: a caller may pass kernels new types), Numba's
    and Python's versions, and every cache file as it is now. Any change makes the record
    stale: a warm-up runs again (Numba adds to its files when anything compiles, so the
    record also goes stale when a kernel was compiled after it)."""
    import numba

    digest = hashlib.sha256(f"{numba.__version__}\0{sys.version}\0".encode())
    package = Path(__file__).parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(f"{source.relative_to(package)}\0".encode())
        digest.update(source.read_bytes())
    for entry in sorted(directory.iterdir()):
        if entry.suffix in (".nbi", ".nbc"):
            status = entry.stat()
            digest.update(f"{entry.name}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _record_warm_cache() -> None:
    """Note, beside the cache, that it holds everything this code compiles (if writable)."""
    try:
        directory = _cache_directory()
        if directory is not None:
            record = _record_path(directory)
            temporary = record.with_name(f".{record.name}.{os.getpid()}")
            temporary.write_text(_fingerprint(directory), encoding="ascii")
            temporary.replace(record)
    except OSError:
        pass  # no record: the next batch warms up again


def _cache_is_warm() -> bool:
    """Whether the last warm-up on this host left the cache as it is (see :func:`_fingerprint`)."""
    try:
        directory = _cache_directory()
        if directory is None:
            return False
        recorded = _record_path(directory).read_text(encoding="ascii")
        return recorded == _fingerprint(directory)
    except (OSError, UnicodeDecodeError):
        return False


def main() -> None:
    """Warm Numba's cache, then build the AOT kernels from what it compiled (one line each)."""
    from marking.kernels import aot

    print(f"marking: kernels ready in {compile_kernels():.1f} s")
    print(f"marking: {aot.build()}")


if __name__ == "__main__":
    main()
