"""A quick throughput check of the installed toolkit on this machine (``aigc-mark bench``).

Synthetic media, made on the spot so nothing has to ship with the package: a 1920x1080
picture with natural-looking texture (smoothed noise over gradients), 30 s of 44.1 kHz stereo
(noise shaped like music, with tones), and a 2 s 1080p30 H.264 clip of moving texture. Each
operation runs once untimed (kernels load from Numba's cache), then ``repeats`` times; the
median is reported as MP/s, frames per second or multiples of real time. The full
comparisons with other tools are ``make bench``'s; this answers "how fast is it here?" in
about half a minute.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

KEY = "aigc-marking-throughput-check"
PAYLOAD = "0123456789abcdef"
WIDTH, HEIGHT = 1920, 1080
AUDIO_RATE, AUDIO_SECONDS = 44_100, 30.0
VIDEO_FPS, VIDEO_SECONDS = 30, 2.0


@dataclass(frozen=True)
class Measurement:
    """One operation's median time and the rate it gives."""

    media: str
    operation: str
    median_s: float
    rate: float
    unit: str  # "MP/s", "frames/s" or "x real time"
    threads: int  # Numba threads used

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def synthetic_picture(seed: int = 0) -> np.ndarray:
    """1920x1080 RGB uint8 with texture at every scale, like a photograph (not flat noise)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    layers = [
        gaussian_filter(rng.standard_normal((HEIGHT, WIDTH)), sigma) * weight
        for sigma, weight in ((40, 60.0), (8, 18.0), (1.5, 5.0))
    ]
    base = sum(layers) + np.linspace(60, 190, WIDTH)[None, :]
    tint = np.array([1.0, 0.93, 0.82])
    return np.clip(base[:, :, None] * tint, 0, 255).astype(np.uint8)


def synthetic_sound(seed: int = 0) -> np.ndarray:
    """30 s of 44.1 kHz stereo float32: noise with a falling spectrum, tones, a beat."""
    rng = np.random.default_rng(seed)
    count = int(AUDIO_RATE * AUDIO_SECONDS)
    spectrum = np.fft.rfft(rng.standard_normal((2, count)), axis=1)
    frequencies = np.fft.rfftfreq(count, 1 / AUDIO_RATE)
    spectrum /= np.maximum(frequencies, 50.0) ** 0.5
    noise = np.fft.irfft(spectrum, n=count, axis=1).T
    noise *= 0.05 / noise.std()
    t = np.arange(count) / AUDIO_RATE
    tones = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 660 * t)
    beat = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 2 * t))
    return (noise + (tones * beat)[:, None]).astype(np.float32)


def synthetic_clip(path: Path, seed: int = 0) -> Path:
    """A 2 s 1080p30 H.264 clip (CRF 18, ultrafast) of texture panning across the frame."""
    from marking.media.video_encoder import write_rgb_clip

    picture = synthetic_picture(seed)
    wide = np.concatenate([picture, picture[:, ::-1]], axis=1)
    frames = (
        np.ascontiguousarray(wide[:, 8 * index : 8 * index + WIDTH])
        for index in range(int(VIDEO_FPS * VIDEO_SECONDS))
    )
    return write_rgb_clip(path, frames, VIDEO_FPS, {"crf": "18", "preset": "ultrafast"})


def _median(fn: Callable[[], object], repeats: int) -> float:
    fn()  # untimed: kernels load from the cache, buffers are touched
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(
    *, repeats: int = 3, video: bool = True, progress: Callable[[str], None] | None = None
) -> list[Measurement]:
    """Time embedding and detection for pictures, sound and (with ``video``) video."""
    import numba

    from marking.watermark.audio import detect_audio, embed_audio
    from marking.watermark.image import detect_image, embed_image
    from marking.watermark.video import VideoDetector, VideoMarker

    say = progress or (lambda _text: None)
    threads = numba.get_num_threads()
    results: list[Measurement] = []

    def add(media: str, operation: str, seconds: float, amount: float, unit: str) -> None:
        results.append(Measurement(media, operation, seconds, amount / seconds, unit, threads))

    say("picture")
    picture = synthetic_picture()
    megapixels = picture.shape[0] * picture.shape[1] / 1e6
    marked = embed_image(picture, key=KEY, payload=PAYLOAD)
    for operation, fn in (
        ("embed", lambda: embed_image(picture, key=KEY, payload=PAYLOAD)),
        ("detect, marked", lambda: detect_image(marked, key=KEY)),
        ("detect, unmarked", lambda: detect_image(picture, key=KEY)),
    ):
        add("picture 1920x1080", operation, _median(fn, repeats), megapixels, "MP/s")

    say("sound")
    sound = synthetic_sound()
    marked_sound = embed_audio(sound, AUDIO_RATE, PAYLOAD, key=KEY)
    for operation, fn in (
        ("embed", lambda: embed_audio(sound, AUDIO_RATE, PAYLOAD, key=KEY)),
        ("detect, marked", lambda: detect_audio(marked_sound, AUDIO_RATE, key=KEY)),
        ("detect, unmarked", lambda: detect_audio(sound, AUDIO_RATE, key=KEY)),
    ):
        add("sound 44.1 kHz stereo", operation, _median(fn, repeats), AUDIO_SECONDS, "x real time")

    say("video frames")
    luma = np.ascontiguousarray(picture[:, :, 1])
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    marker.mark_plane(luma.copy())  # the tile comes from the first frame
    detector = VideoDetector(key=KEY)
    add("video frame 1080p", "mark (per frame)", _median(lambda: marker.mark_plane(luma.copy()),
        repeats), 1.0, "frames/s")  # fmt: skip
    add("video frame 1080p", "detect (per frame)",
        _median(lambda: detector.push_plane(luma), repeats), 1.0, "frames/s")  # fmt: skip
    if video:
        results += _measure_video_file(repeats, say)
    return results


def _measure_video_file(repeats: int, say: Callable[[str], None]) -> list[Measurement]:
    import numba

    from marking.files.video import detect_video_file, embed_video_file
    from marking.kernels.config import single_threaded

    say("video file")
    threads = numba.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="aigc-bench-") as folder:
        clip = synthetic_clip(Path(folder) / "clip.mp4")
        target = Path(folder) / "marked.mp4"

        def embed() -> None:
            with single_threaded():
                embed_video_file(clip, target, key=KEY, payload=PAYLOAD)

        embed_seconds = _median(embed, max(1, repeats - 1))
        detect_seconds = _median(lambda: detect_video_file(target, key=KEY), repeats)
    return [
        Measurement("video 1080p30 H.264", "embed (CRF 18 medium)", embed_seconds,
                    VIDEO_SECONDS / embed_seconds, "x real time", 1),
        Measurement("video 1080p30 H.264", "detect", detect_seconds,
                    VIDEO_SECONDS / detect_seconds, "x real time", threads),
    ]  # fmt: skip


def machine_line() -> str:
    """Cores, load and versions: the context a reader of the figures needs."""
    import platform

    import numba

    from marking.version import __version__

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"
    return (
        f"aigc-marking {__version__}, Python {platform.python_version()}, numpy "
        f"{np.__version__}, numba {numba.__version__}; {os.cpu_count()} cores, "
        f"{numba.get_num_threads()} Numba threads; load average {load}"
    )


def table(results: list[Measurement]) -> str:
    """The measurements as aligned text, one row each."""
    rows = [("media", "operation", "median", "rate")]
    rows += [
        (m.media, m.operation, f"{1000 * m.median_s:.1f} ms", f"{m.rate:,.1f} {m.unit}")
        for m in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                  for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
