"""Confirm the stated false-alarm probability on a large unmarked corpus, per modality (issue 9).

A detection is reported only when its false-alarm probability is at most 1e-6 per file. That
figure is the product of two parts, and no corpus can reach 1e-6 by counting, so this bench
checks each part where counting can reach:

1. **The sync search.** Every detector (picture, sound, video) reports, even when it finds
   nothing, ``false_alarm`` = the search-corrected tail probability of its best sync peak
   (capped at 1). On unmarked media that figure must be a conservative p-value: the share of
   unmarked trials with ``false_alarm <= a`` may not exceed ``a`` (beyond binomial chance) at
   any level ``a``.
2. **The CRC-24.** Payload decoding is attempted at a few sync peaks; a decode is accepted only
   when its 24 check bits match. On unmarked media the decoded bits must behave like coin
   flips, so the first ``k`` check bits match with probability ``2**-k``. Every decode attempt
   the detectors make on the unmarked corpus is recorded (the detectors' ``decode_payload`` is
   wrapped in the workers) and counted by the number of leading check bits it matched; and
   millions of decodes of pure noise (Gaussian, Laplacian, half erased) reach ``k`` = 24.

The corpus, all unmarked, each item checked with several random keys:

- **pictures**: random crops (256-1280 px, aspect up to 2:1, some rescaled, some re-saved as
  JPEG at quality 15-95, some grey) of the sample photos, the Grace Hopper portrait shipped
  with matplotlib, frames of the *Big Buck Bunny* sample, shaded terrain from matplotlib's
  elevation samples, synthetic natural-looking pictures, rendered text pages, matplotlib charts
  with grid lines, periodic textures (stripes, checkerboards, halftone dots at periods from 3 px
  to past the watermark's tile period, the hardest case for a periodic sync search) and flat or
  gradient fills with a little noise;
- **sound**: every kind of ``tests.support.audio_clips`` (the real speech and music samples,
  speech-like
  sound with pauses, music-like, bass-heavy music, noise, tones, silence) at 8-96 kHz, 3-20 s,
  mono and stereo;
- **video**: clips of every kind of ``tests.support.video_clips`` (the real excerpt, a pan, a tripod
  shot) at five frame sizes and three seeds, decoded through PyAV; each clip's frames are
  averaged once, as :class:`~marking.watermark.video.VideoDetector` does, and searched with
  every key.

Results: ``--output`` (default ``bench/results/false-alarms.md``). ``--scale`` shrinks
every count (``make bench`` runs 0.05; the full run is ``make bench-false-alarms``).

Run: ``.venv/bin/python bench/false_alarms.py [--scale X] [--workers N] [--output FILE]``.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import harness
import numpy as np
from results_writer import Machine, machine_lines

from marking.scheme.payload import (
    CHECK_BITS,
    CODED_BITS,
    PAYLOAD_BITS,
    bits_to_bytes,
    bytes_to_bits,
    payload_check,
)

#: Items and keys per item of the full run (``--scale`` multiplies the item counts).
PICTURES, PICTURE_KEYS = 1600, 4
SOUNDS, SOUND_KEYS = 800, 1
VIDEO_KEYS = 40
NOISE_DECODES = 4_500_000
#: Levels at which the share of unmarked trials with ``false_alarm <= a`` is compared with a.
LEVELS = (0.5, 0.2, 0.1, 0.05, 0.01, 1e-3, 1e-4)
#: A level fails when a count this improbable (binomial upper tail) is seen.
SIGNIFICANCE = 1e-3
#: Leading check bits whose match rate is tabulated.
CHECK_PREFIXES = (1, 2, 4, 8, 12, 16, 20, 24)

PICTURE_CLASSES = (
    "photo",
    "video frame",
    "terrain",
    "synthetic",
    "text page",
    "chart",
    "periodic",
    "flat",
)
SOUND_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000)
VIDEO_SIZES = ((640, 360), (854, 480), (1280, 720), (480, 270), (360, 640))
VIDEO_SEEDS = (0, 1, 2)
VIDEO_SECONDS = 2.0


@dataclass(frozen=True)
class Trial:
    """One detection of unmarked media with one key."""

    modality: str  # picture, sound, video
    source: str  # the picture class, sound kind or clip kind
    detected: bool
    payload: str | None
    false_alarm: float
    score: float


@dataclass
class Batch:
    """What a worker sends back for one corpus item."""

    trials: list[Trial] = field(default_factory=list)
    #: Leading check bits matched, one entry per decode attempt the detectors made.
    attempts: list[int] = field(default_factory=list)
    seconds: float = 0.0


# --- the CRC as an affine map, for counting matched check bits in bulk -----------------------


def _check_bits(payload_bits: np.ndarray) -> np.ndarray:
    check = payload_check(bits_to_bytes(payload_bits.astype(np.uint8)))
    return bytes_to_bits(check.to_bytes(CHECK_BITS // 8, "big"))


def check_matrix() -> tuple[np.ndarray, np.ndarray]:
    """(A, c) with check(bits) = A @ bits + c (mod 2): the masked CRC-24 is affine over GF(2)."""
    offset = _check_bits(np.zeros(PAYLOAD_BITS, np.uint8))
    columns = [
        _check_bits(np.eye(PAYLOAD_BITS, dtype=np.uint8)[i]) ^ offset for i in range(PAYLOAD_BITS)
    ]
    matrix = np.stack(columns, axis=1)
    rng = np.random.default_rng(0)
    for bits in rng.integers(0, 2, (16, PAYLOAD_BITS), dtype=np.uint8):
        assert np.array_equal((matrix @ bits + offset) % 2, _check_bits(bits)), "CRC not affine"
    return matrix, offset


def matched_check_bits(info: np.ndarray, matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Leading check bits that agree with the CRC of the decoded payload, per row of ``info``."""
    info = np.atleast_2d(info).astype(np.int64)
    expected = (info[:, :PAYLOAD_BITS] @ matrix.T.astype(np.int64) + offset) % 2
    agree = expected == info[:, PAYLOAD_BITS : PAYLOAD_BITS + CHECK_BITS]
    return np.where(agree.all(axis=1), CHECK_BITS, np.argmin(agree, axis=1))


# --- worker side -----------------------------------------------------------------------------

_ATTEMPTS: list[int] = []
_CHECK: tuple[np.ndarray, np.ndarray] | None = None


def _record_attempts(decode: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
    """``decode`` that also notes how many leading check bits each attempt matched."""
    from marking.kernels.viterbi import viterbi_decode

    def recording(soft: np.ndarray) -> Any:
        result = decode(soft)
        assert _CHECK is not None
        info = viterbi_decode(np.ascontiguousarray(soft, dtype=np.float32))
        _ATTEMPTS.append(int(matched_check_bits(info, *_CHECK)[0]))
        return result

    return recording


def worker_setup() -> None:
    """Wrap the detectors' payload decoder once per worker; Numba on one thread."""
    global _CHECK
    import marking.watermark.audio_detect as audio
    import marking.watermark.image_detect as image
    from marking.kernels.config import single_threaded

    single_threaded()
    _CHECK = check_matrix()
    for module in (image, audio):
        module.decode_payload = _record_attempts(module.decode_payload)


def _run(modality: str, source: str, detect: Callable[[str], Any], keys: Sequence[str]) -> Batch:
    start = time.perf_counter()
    _ATTEMPTS.clear()
    batch = Batch()
    for key in keys:
        found = detect(key)
        batch.trials.append(
            Trial(modality, source, found.detected, found.payload, found.false_alarm, found.score)
        )
    batch.attempts = list(_ATTEMPTS)
    batch.seconds = time.perf_counter() - start
    return batch


def _keys(rng: np.random.Generator, count: int) -> list[str]:
    return [rng.bytes(16).hex() for _ in range(count)]


# --- pictures --------------------------------------------------------------------------------


def _sample_photos() -> list[np.ndarray]:
    from matplotlib import cbook
    from PIL import Image

    from tests.support.sample_photos import SAMPLE_PHOTOS, load_sample

    photos = [load_sample(name) for name in SAMPLE_PHOTOS]
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as hopper:
        photos.append(np.asarray(hopper.convert("RGB")))
    return photos


def _video_frames() -> list[np.ndarray]:
    import av

    from tests.support.video_clips import VIDEO_SAMPLE

    with av.open(str(harness.SAMPLES / VIDEO_SAMPLE)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return decoded[::4]


def _terrain() -> list[np.ndarray]:
    """Shaded relief of matplotlib's two elevation samples, enlarged to about 1100 px."""
    from matplotlib import cbook
    from matplotlib.colors import LightSource
    from PIL import Image

    shaded = []
    for name, field_name in (("jacksboro_fault_dem.npz", "elevation"), ("topobathy.npz", "topo")):
        with np.load(cbook.get_sample_data(name, asfileobj=False)) as data:
            elevation = np.asarray(data[field_name], dtype=np.float64)
        relief = LightSource(azdeg=315, altdeg=45).hillshade(elevation, vert_exag=0.05)
        image = Image.fromarray(np.round(relief * 255).astype(np.uint8))
        factor = 1100 / min(image.size)
        size = (round(image.width * factor), round(image.height * factor))
        shaded.append(np.asarray(image.resize(size, Image.Resampling.BICUBIC)))
    return shaded


_SOURCES: dict[str, list[np.ndarray]] = {}


def _source(name: str, load: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    if name not in _SOURCES:
        _SOURCES[name] = load()
    return _SOURCES[name]


def _text_page(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    import marking

    width, height = size
    page = Image.new("L", size, int(rng.integers(200, 256)))
    draw = ImageDraw.Draw(page)
    font_size = int(rng.integers(10, 40))
    font = ImageFont.truetype(
        str(Path(marking.__file__).parent / "fonts" / "aigc-label-sans-bold.otf"), font_size
    )
    words = [
        "".join(chr(c) for c in rng.integers(97, 123, int(rng.integers(2, 10)))) for _ in range(400)
    ]
    y, ink = int(rng.integers(0, 20)), int(rng.integers(0, 80))
    while y < height:
        line = " ".join(rng.choice(words, 30))
        draw.text((int(rng.integers(5, 40)), y), line, fill=ink, font=font)
        if rng.random() < 0.1:
            draw.line((0, y - 3, width, y - 3), fill=ink, width=1)
        y += int(font_size * rng.uniform(1.2, 1.8))
    return np.asarray(page)


def _chart(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = np.linspace(0, 10, 400)
    for _ in range(int(rng.integers(1, 5))):
        axes.plot(x, np.cumsum(rng.standard_normal(x.size)), linewidth=rng.uniform(0.5, 3))
    if rng.random() < 0.5:
        axes.bar(np.arange(12), rng.uniform(0, 20, 12), alpha=0.4)
    axes.grid(True, which="both")
    axes.minorticks_on()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _periodic(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Stripes, a checkerboard or halftone dots at a random period and angle, with noise."""
    width, height = size
    period = float(np.exp(rng.uniform(np.log(3), np.log(0.6 * min(width, height)))))
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u = (x * np.cos(angle) + y * np.sin(angle)) / period
    v = (-x * np.sin(angle) + y * np.cos(angle)) / period
    kind = rng.integers(0, 3)
    if kind == 0:
        pattern = np.sin(2 * np.pi * u)
    elif kind == 1:
        pattern = np.sign(np.sin(np.pi * u) * np.sin(np.pi * v))
    else:
        shade = 0.5 + 0.5 * np.sin(2 * np.pi * x / width)
        radius = np.hypot(u - np.round(u), v - np.round(v))
        pattern = np.where(radius < 0.5 * np.sqrt(shade), 1.0, -1.0)
    pixels = 128 + rng.uniform(30, 110) * pattern + rng.normal(0, rng.uniform(0, 6), pattern.shape)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def _flat(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    x = np.arange(width, dtype=np.float64)[None, :]
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-80, 80, 3) * (rng.random() < 0.7)
    pixels = base + slope * (x / width)[..., None] + rng.normal(0, rng.uniform(0, 3), (1, 1, 3))
    pixels = pixels + rng.normal(0, rng.uniform(0, 2), (height, width, 1))
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def _crop(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = picture.shape[:2]
    short = int(rng.integers(min(256, height, width), min(1280, height, width) + 1))
    long_side = round(short * rng.uniform(1.0, 2.0))
    crop_h, crop_w = (short, long_side) if rng.random() < 0.5 else (long_side, short)
    crop_h, crop_w = min(crop_h, height), min(crop_w, width)
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    return picture[top : top + crop_h, left : left + crop_w]


def _made_size(rng: np.random.Generator) -> tuple[int, int]:
    short = int(rng.integers(256, 1081))
    long_side = round(short * rng.uniform(1.0, 2.0))
    return (long_side, short) if rng.random() < 0.7 else (short, long_side)


def make_picture(index: int, seed: int) -> tuple[str, np.ndarray]:
    """The ``index``-th unmarked picture of the corpus: (its class, uint8 pixels)."""
    import io

    from PIL import Image

    from tests.conftest import natural_pixels

    rng = np.random.default_rng([seed, index])
    kind = PICTURE_CLASSES[index % len(PICTURE_CLASSES)]
    if kind == "photo":
        photos = _source("photo", _sample_photos)
        picture = _crop(photos[int(rng.integers(len(photos)))], rng)
    elif kind == "video frame":
        frames = _source("video frame", _video_frames)
        picture = _crop(frames[int(rng.integers(len(frames)))], rng)
    elif kind == "terrain":
        reliefs = _source("terrain", _terrain)
        picture = _crop(reliefs[int(rng.integers(len(reliefs)))], rng)
    elif kind == "synthetic":
        pixels = natural_pixels(_made_size(rng), 3, seed=int(rng.integers(2**31)))
        picture = np.round(pixels * 255).astype(np.uint8)
    elif kind == "text page":
        picture = _text_page(rng, _made_size(rng))
    elif kind == "chart":
        picture = _chart(rng, _made_size(rng))
    elif kind == "periodic":
        picture = _periodic(rng, _made_size(rng))
    else:
        picture = _flat(rng, _made_size(rng))
    image = Image.fromarray(np.ascontiguousarray(picture))
    if rng.random() < 0.3:
        factor = rng.uniform(0.5, 1.5)
        size = (max(64, round(image.width * factor)), max(64, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.BICUBIC)
    if rng.random() < 0.2:
        image = image.convert("L")
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(15, 96)))
        buffer.seek(0)
        image = Image.open(buffer)
        image.load()
    return kind, np.asarray(image)


def picture_batch(index: int, seed: int, keys: int) -> Batch:
    from marking.watermark.image import MIN_DETECT_SIDE, detect_image

    kind, picture = make_picture(index, seed)
    if min(picture.shape[:2]) < MIN_DETECT_SIDE:
        return Batch()
    rng = np.random.default_rng([seed, index, 1])
    return _run("picture", kind, lambda key: detect_image(picture, key=key), _keys(rng, keys))


# --- sound -----------------------------------------------------------------------------------


def sound_batch(index: int, seed: int, keys: int) -> Batch:
    from marking.watermark.audio import detect_audio
    from tests.support.audio_clips import CLIP_KINDS, clip, with_channels

    rng = np.random.default_rng([seed, index])
    kinds = list(CLIP_KINDS)
    kind = kinds[index % len(kinds)]
    rate = int(rng.choice(SOUND_RATES))
    seconds = round(float(rng.uniform(3.0, 20.0)), 2)
    samples = clip(kind, seconds, rate, seed=int(rng.integers(2**31)))
    if samples.ndim == 1 and rng.random() < 0.3:
        samples = with_channels(samples, 2)
    clip.cache_clear()  # every clip is used once: do not keep 64 of them
    return _run("sound", kind, lambda key: detect_audio(samples, rate, key=key), _keys(rng, keys))


# --- video -----------------------------------------------------------------------------------


def video_batch(kind: str, size: tuple[int, int], clip_seed: int, keys: int, seed: int) -> Batch:
    from marking.media.video import frames
    from marking.scheme.keys import as_key
    from marking.watermark.video import VideoDetector
    from tests.support.video_clips import clip_path

    fps = 25 if kind == "bbb" else 30
    path = clip_path(
        kind,
        width=size[0],
        height=size[1],
        fps=Fraction(fps),
        seconds=VIDEO_SECONDS,
        audio=False,
        seed=clip_seed,
    )
    detector = VideoDetector()
    for planes, info in frames(path):
        detector.push_plane(planes[0], max_value=info.max_value)

    def detect(key: str) -> Any:
        detector.key = as_key(key)  # the frame average does not depend on the key
        return detector.result()

    rng = np.random.default_rng([seed, clip_seed, *size, len(kind)])
    return _run("video", kind, detect, _keys(rng, keys))


# --- pure noise through the decoder ----------------------------------------------------------

NOISE_KINDS = ("gaussian", "laplacian", "half erased")


def noise_decodes(kind: str, count: int, seed: int) -> np.ndarray:
    """Histogram (index = leading check bits matched, 0..24) of ``count`` decodes of noise."""
    from marking.kernels.viterbi import viterbi_decode

    matrix, offset = check_matrix()
    rng = np.random.default_rng([seed, NOISE_KINDS.index(kind)])
    histogram = np.zeros(CHECK_BITS + 1, np.int64)
    chunk = 50_000
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        if kind == "laplacian":
            soft = rng.laplace(size=(n, CODED_BITS))
        else:
            soft = rng.standard_normal((n, CODED_BITS))
            if kind == "half erased":
                soft[rng.random((n, CODED_BITS)) < 0.5] = 0.0
        soft = soft.astype(np.float32)
        info = np.stack([viterbi_decode(row) for row in soft])
        histogram += np.bincount(matched_check_bits(info, matrix, offset), minlength=CHECK_BITS + 1)
    return histogram


# --- running ---------------------------------------------------------------------------------


@dataclass
class Results:
    trials: list[Trial] = field(default_factory=list)
    attempts: dict[str, list[int]] = field(default_factory=dict)
    noise: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


def _collect(results: Results, modality: str, batches: Iterable[Batch], started: float) -> None:
    attempts = results.attempts.setdefault(modality, [])
    for batch in batches:
        results.items[modality] = results.items.get(modality, 0) + bool(batch.trials)
        results.trials.extend(batch.trials)
        attempts.extend(batch.attempts)
    results.seconds[modality] = time.perf_counter() - started


def measure(scale: float, workers: int, seed: int, progress: bool = True) -> Results:
    """Run the whole corpus through the detectors in ``workers`` spawned processes."""
    from marking.watermark.warmup import compile_kernels

    results = Results()
    pictures = max(1, round(PICTURES * scale))
    sounds = max(1, round(SOUNDS * scale))
    noise = max(1000, round(NOISE_DECODES * scale))
    video_clips = [
        (kind, size, clip_seed)
        for kind in ("bbb", "pan", "static")
        for size in VIDEO_SIZES
        for clip_seed in VIDEO_SEEDS
    ]
    video_keys = max(2, round(VIDEO_KEYS * min(1.0, scale * 4)))
    if scale < 0.5:  # keep the short runs short: a third of the clips
        video_clips = video_clips[::3]
    compile_kernels()  # compile or load every kernel before the workers only read the cache
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=worker_setup) as pool:
        say = print if progress else (lambda *_: None)
        started = time.perf_counter()
        futures = [pool.submit(picture_batch, i, seed, PICTURE_KEYS) for i in range(pictures)]
        _collect(results, "picture", (f.result() for f in futures), started)
        say(f"pictures: {pictures} in {results.seconds['picture']:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        futures = [pool.submit(sound_batch, i, seed, SOUND_KEYS) for i in range(sounds)]
        _collect(results, "sound", (f.result() for f in futures), started)
        say(f"sounds: {sounds} in {results.seconds['sound']:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        futures = [pool.submit(video_batch, *spec, video_keys, seed) for spec in video_clips]
        _collect(results, "video", (f.result() for f in futures), started)
        say(f"video clips: {len(video_clips)} in {results.seconds['video']:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        share = -(-noise // (workers * len(NOISE_KINDS)))
        futures = {
            (kind, part): pool.submit(noise_decodes, kind, share, seed + 100 * part)
            for kind in NOISE_KINDS
            for part in range(workers)
        }
        for (kind, _), future in futures.items():
            results.noise[kind] = results.noise.get(kind, 0) + future.result()
        results.seconds["noise"] = time.perf_counter() - started
        decodes = share * workers * len(NOISE_KINDS)
        say(f"noise decodes: {decodes} in {results.seconds['noise']:.0f} s", file=sys.stderr)
    return results


# --- judging and formatting (pure) -----------------------------------------------------------


def binomial_tail(count: int, trials: int, probability: float) -> float:
    """P(X >= count) for X ~ Binomial(trials, probability)."""
    from scipy.stats import binom

    return 1.0 if count <= 0 else float(binom.sf(count - 1, trials, probability))


@dataclass(frozen=True)
class LevelCheck:
    level: float
    trials: int
    observed: int

    @property
    def chance(self) -> float:
        """How likely a count this high is for an exact p-value (small = optimistic figure)."""
        return binomial_tail(self.observed, self.trials, self.level)

    @property
    def ok(self) -> bool:
        return self.chance >= SIGNIFICANCE


def level_checks(values: Sequence[float], levels: Sequence[float] = LEVELS) -> list[LevelCheck]:
    array = np.asarray(values, dtype=np.float64)
    return [LevelCheck(a, array.size, int(np.count_nonzero(array <= a))) for a in levels]


@dataclass(frozen=True)
class PrefixCheck:
    bits: int
    attempts: int
    observed: int

    @property
    def expected(self) -> float:
        return self.attempts * 2.0**-self.bits

    @property
    def ok(self) -> bool:
        """Neither too many matches nor (with enough expected) too few, at SIGNIFICANCE."""
        high = binomial_tail(self.observed, self.attempts, 2.0**-self.bits)
        low = 1.0 - binomial_tail(self.observed + 1, self.attempts, 2.0**-self.bits)
        return high >= SIGNIFICANCE and low >= SIGNIFICANCE


def prefix_checks(histogram: np.ndarray, prefixes: Sequence[int] = CHECK_PREFIXES) -> list:
    """Attempts whose first ``k`` check bits matched, from a matched-bits histogram."""
    histogram = np.asarray(histogram)
    total = int(histogram.sum())
    return [PrefixCheck(k, total, int(histogram[k:].sum())) for k in prefixes]


def histogram_of(matched: Sequence[int]) -> np.ndarray:
    return np.bincount(np.asarray(matched, dtype=np.int64), minlength=CHECK_BITS + 1)


def verdicts(results: Results) -> list[str]:
    """Every way the results contradict the stated figure (empty when they confirm it)."""
    problems = []
    for trial in results.trials:
        if trial.detected or trial.payload is not None:
            problems.append(f"{trial.modality} {trial.source}: detected {trial.payload}")
        if not 0.0 <= trial.false_alarm <= 1.0 or not math.isfinite(trial.score):
            problems.append(f"{trial.modality} {trial.source}: bad figures {trial}")
    for modality in ("picture", "sound", "video"):
        values = [t.false_alarm for t in results.trials if t.modality == modality]
        if not values:
            problems.append(f"{modality}: no trials")
        problems.extend(
            f"{modality}: {check.observed}/{check.trials} at or under {check.level:g} "
            f"(chance {check.chance:.1e}): the figure is optimistic"
            for check in level_checks(values)
            if not check.ok
        )
    histograms = {m: histogram_of(a) for m, a in results.attempts.items()}
    histograms.update(results.noise)
    for name, histogram in histograms.items():
        problems.extend(
            f"{name}: {check.observed} of {check.attempts} decodes matched "
            f"{check.bits} check bits, {check.expected:.3g} expected"
            for check in prefix_checks(histogram)
            if not check.ok
        )
    return problems


def _fmt_share(count: int, total: int) -> str:
    return f"{count} ({count / total:.3g})" if total else "-"


def results_markdown(results: Results, machine: Machine | None, scale: float) -> str:
    """The tables of ``false-alarms.md``."""
    lines = ["# False alarms on unmarked media", ""]
    lines += machine_lines(machine)
    lines += [
        f"Scale {scale:g} of the full corpus (bench/false_alarms.py). A detection is reported "
        "only when its false-alarm probability is at most 1e-6 per file: the sync search's "
        "p-value times the CRC-24's 2^-24 per decode attempt (6 for a picture at most). The tables "
        "check both parts on unmarked media.",
        "",
        "## Detections",
        "",
        "| modality | items | trials (item x key) | detections | 95 % upper bound on the rate "
        "| largest sync score | smallest reported false_alarm | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for modality in ("picture", "sound", "video"):
        trials = [t for t in results.trials if t.modality == modality]
        if not trials:
            continue
        detected = sum(t.detected for t in trials)
        bound = -math.log(0.05) / len(trials) if detected == 0 else float("nan")
        lines.append(
            f"| {modality} | {results.items.get(modality, 0)} | {len(trials)} | {detected} | "
            f"{bound:.1e} | {max(t.score for t in trials):.2f} | "
            f"{min(t.false_alarm for t in trials):.3g} | {results.seconds.get(modality, 0):.0f} |"
        )
    lines += [
        "",
        "## The sync p-value is conservative",
        "",
        "Share of unmarked trials whose reported `false_alarm` (the search-corrected p-value of "
        "the best sync peak) is at most a level *a*: an honest or conservative p-value gives at "
        f"most *a*. A level fails when the count has a binomial chance under {SIGNIFICANCE:g}.",
        "",
        "| modality | source | trials | " + " | ".join(f"<= {a:g}" for a in LEVELS) + " |",
        "|---|---|---|" + "---|" * len(LEVELS),
    ]
    for modality in ("picture", "sound", "video"):
        sources = sorted({t.source for t in results.trials if t.modality == modality})
        for source in [*sources, "all"]:
            values = [
                t.false_alarm
                for t in results.trials
                if t.modality == modality and source in ("all", t.source)
            ]
            if not values:
                continue
            cells = [
                f"{_fmt_share(c.observed, c.trials)}{'' if c.ok else ' **FAIL**'}"
                for c in level_checks(values)
            ]
            name = f"**{source}**" if source == "all" else source
            lines.append(f"| {modality} | {name} | {len(values)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Decoded check bits behave like coin flips",
        "",
        "Decode attempts whose first *k* check bits matched the CRC of the decoded payload, "
        "against the 2^-k expected of random bits (observed / expected). The first three rows "
        "are every attempt the detectors made on the corpus above; the rest decode pure noise.",
        "",
        "| decodes of | attempts | " + " | ".join(f"k = {k}" for k in CHECK_PREFIXES) + " |",
        "|---|---|" + "---|" * len(CHECK_PREFIXES),
    ]
    rows = [(f"unmarked {m}s", histogram_of(a)) for m, a in results.attempts.items()]
    rows += [(f"{kind} noise", h) for kind, h in results.noise.items()]
    for name, histogram in rows:
        checks = prefix_checks(histogram)
        cells = [f"{c.observed} / {c.expected:.3g}{'' if c.ok else ' **FAIL**'}" for c in checks]
        lines.append(f"| {name} | {int(histogram.sum())} | " + " | ".join(cells) + " |")
    problems = verdicts(results)
    lines += ["", "## Verdict", ""]
    if problems:
        lines += [f"- **{problem}**" for problem in problems]
    else:
        lines.append(
            "No unmarked trial was detected; the sync p-value was never optimistic beyond "
            "chance at any level; decoded check bits matched at the rates of random bits "
            f"{_deepest_prefix(results)}. So both factors of the per-file figure hold where "
            "they can be counted, and every detection's figure is at most "
            + "; ".join(
                f"p_sync x {attempts} x 2^-24 <= {attempts * 2.0**-CHECK_BITS:.1e} for {name}"
                for name, attempts in decode_attempts().items()
            )
            + "."
        )
    return "\n".join(lines) + "\n"


def decode_attempts() -> dict[str, int]:
    """Decode attempts each detector may make: the picture's DECODE_ATTEMPTS peaks in each of
    its SEARCHES (a video's second look adds one), the sound's in each of its two searches."""
    from marking.watermark.audio import DECODE_ATTEMPTS as SOUND
    from marking.watermark.image_detect import DECODE_ATTEMPTS as PICTURE
    from marking.watermark.image_detect import SEARCHES
    from marking.watermark.video import REFINED_ATTEMPTS

    return {
        "pictures": SEARCHES * PICTURE,
        "video": max(SEARCHES * PICTURE, REFINED_ATTEMPTS),
        "sound": 2 * SOUND,
    }


def _deepest_prefix(results: Results) -> str:
    """Where the noise decodes stop being able to show a rate: the last k expecting >= 1."""
    if not results.noise:
        return "on the corpus"
    histogram = sum(results.noise.values())
    checks = [c for c in prefix_checks(histogram, range(1, CHECK_BITS + 1)) if c.expected >= 1]
    if not checks:
        return "on the corpus"
    deepest = checks[-1]
    full = prefix_checks(histogram, (CHECK_BITS,))[0]
    return (
        f"down to k = {deepest.bits} over {deepest.attempts:,} noise decodes ({deepest.observed} "
        f"matched, {deepest.expected:.2g} expected); all {CHECK_BITS} matched {full.observed} "
        f"times ({full.expected:.2g} expected)"
    )


def machine_record(workers: int) -> Machine:
    return harness.describe_machine(
        ("aigc-marking", "numpy", "numba"),
        notes=(f"{workers} worker processes, Numba on one thread each.",),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.arguments(__doc__, output="false-alarms.md")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full corpus")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args(argv)
    results = measure(args.scale, args.workers, args.seed)
    text = results_markdown(results, machine_record(args.workers), args.scale)
    print(text)
    harness.write_report(text, args.output)
    return 1 if verdicts(results) else 0


if __name__ == "__main__":
    sys.exit(main())
