"""Video test clips: real footage and real-looking synthetic shots, deterministic and cached.

Three kinds, each at any size, frame rate and length:

- ``"bbb"``: the *Big Buck Bunny* excerpt in ``samples/`` (1280x720, 25 fps, 132 frames,
  5.28 s; CC BY 3.0, see samples/LICENSE.md) with its AAC sound. Longer clips loop it (a cut
  back to the first frame, like a scene change, with the sound looping in step); ``seed``
  picks the starting frame. Other frame rates show, at each output time, the last sample frame
  shown by then (25 to 30 fps repeats one frame in five).
- ``"pan"``: a slow pan and zoom across a sample photograph (dandelions by default), rendered
  with sub-pixel precision and a little luma grain (sigma 1 code value), with the tabla loop
  as sound.
- ``"static"``: a nearly static shot (a tripod on a photo: a tenth of a pixel of shake and
  luma grain of sigma 1.6), with the Italian speech recording as sound.

Frames are scaled to the size asked for with Lanczos (centre-cropped first if the aspect
differs), converted to the pixel format asked for, tagged BT.709 limited range, and encoded at
high quality (libx264 CRF 12 by default) with the sound as AAC 128 kbit/s 48 kHz stereo (Opus
in WebM). Sizes must be even.

:func:`clip_path` returns the path of a cached clip in a directory under the system temp dir
(``$AIGC_MARKING_CLIP_CACHE`` overrides it), named by the parameters and a hash of them, the
clip code version and the PyAV version; it is built once and written atomically (parallel
test workers may race safely). The pictures and sound given to the encoders are bit-identical
for the same arguments (:func:`clip_frames`), and so is the sound once encoded; the video
bitstream usually is too, but libx264 here is not always bit-exact from run to run (one or two
code values on a few frames, with or without threads), so compare decoded clips with a small
tolerance, and rely on the cache for a clip that stays the same within a machine. Treat cached
clips as read-only: copy one before changing it. :func:`make_clip` writes a clip to a given
path.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.video_attacks import (
    StrPath,
    container_format,
    copy_colour,
    crop_frame,
    encoder_options,
    legal_range,
    plane_views,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
VIDEO_SAMPLE = "video-big-buck-bunny.mp4"
#: Photos each synthetic kind uses, chosen by ``seed`` (cycling).
PHOTOS = {
    "pan": (
        "photo-dandelions.jpg",
        "photo-dandelion-detail.jpg",
        "photo-retina.jpg",
        "photo-hubble-deep-field.jpg",
    ),
    "static": (
        "photo-dandelion-detail.jpg",
        "photo-dandelions.jpg",
        "photo-astronaut.png",
        "photo-cameraman-gray.png",
    ),
}
#: Sound of each kind: a sample file (the video sample's own track for "bbb").
SOUNDS = {
    "bbb": VIDEO_SAMPLE,
    "pan": "music-tabla-loop.flac",
    "static": "speech-italian-male.flac",
}
KINDS = ("bbb", "pan", "static")
SOUND_RATE = 48_000
#: Bump when the clips change, so cached files from older code are not reused.
CLIP_VERSION = 2
CACHE_ENV = "AIGC_MARKING_CLIP_CACHE"
#: BT.709, limited range: the tags every clip carries.
BT709 = {"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1}
#: Sensor grain of the synthetic kinds: fields of noise drawn once per clip, each frame taking
#: one at a random offset (cheaper than fresh noise per frame; still changes every frame).
GRAIN_FIELDS = 4
GRAIN_MARGIN = 32

Frames = Iterator[Any]


# --- the real clip ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def sample_video() -> tuple[int, Fraction, tuple[int, int]]:
    """(frame count, frame rate, (width, height)) of the video sample."""
    import av

    with av.open(str(SAMPLES / VIDEO_SAMPLE)) as container:
        stream = container.streams.video[0]
        count = sum(1 for packet in container.demux(stream) if packet.size)
        return count, Fraction(stream.average_rate), (stream.width, stream.height)


def _sample_frames() -> Iterator[tuple[int, Any]]:
    """(index, frame) of the video sample, looping forever."""
    import av

    while True:
        with av.open(str(SAMPLES / VIDEO_SAMPLE)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from enumerate(container.decode(stream))


def _start_frame(seed: int) -> int:
    return (37 * seed) % sample_video()[0]


def _fit(frame: Any, width: int, height: int, pix_fmt: str) -> Any:
    """``frame`` centre-cropped to the aspect of ``width`` x ``height`` and scaled to it."""
    w, h = frame.width, frame.height
    if w * height != h * width:
        if w * height > h * width:  # too wide
            cw, ch = 2 * round(h * width / height / 2), h
        else:
            cw, ch = w, 2 * round(w * height / width / 2)
        frame = crop_frame(frame, 2 * ((w - cw) // 4), 2 * ((h - ch) // 4), cw, ch)
    out = frame.reformat(width, height, format=pix_fmt, interpolation="LANCZOS")
    for name, value in BT709.items():
        setattr(out, name, value)
    return out


def _bbb_frames(
    width: int, height: int, fps: Fraction, count: int, pix_fmt: str, seed: int
) -> Frames:
    period, rate, _ = sample_video()
    start = _start_frame(seed)
    source = _sample_frames()
    index, frame = next(source)
    fitted: Any = None
    for i in range(count):
        want = (start + int(i * rate / fps)) % period
        while index != want:
            index, frame = next(source)
            fitted = None
        if fitted is None:
            fitted = _fit(frame, width, height, pix_fmt)
        yield fitted


# --- the synthetic clips ---------------------------------------------------------------------


@lru_cache(maxsize=8)
def _photo(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(SAMPLES / name) as image:
        return np.asarray(image.convert("RGB")).copy()


def _grain_bank(width: int, height: int, sigma: float, seed: int) -> np.ndarray:
    """A few fields of Gaussian luma grain (int16 code values, 8-bit scale), a margin larger
    than the frame so each frame can take its own offset into one of them."""
    rng = np.random.default_rng([seed, 7])
    fields = rng.standard_normal((GRAIN_FIELDS, height + GRAIN_MARGIN, width + GRAIN_MARGIN))
    return np.rint(sigma * fields).astype(np.int16)


def _add_grain(frame: Any, bank: np.ndarray, rng: np.random.Generator) -> None:
    """Add a randomly placed grain field to ``frame``'s luma, in place, kept in legal range."""
    luma = plane_views(frame)[0]
    field, dy, dx = rng.integers(0, (len(bank), GRAIN_MARGIN, GRAIN_MARGIN))
    noise = bank[field, dy : dy + luma.shape[0], dx : dx + luma.shape[1]]
    (black, white), _ = legal_range(frame)
    unit = 1 << (frame.format.components[0].bits - 8)
    values = luma.astype(np.int32) + (noise * unit if unit > 1 else noise)
    np.clip(values, black, white, out=values)
    luma[...] = values


def _photo_frames(
    kind: str, width: int, height: int, fps: Fraction, count: int, pix_fmt: str, seed: int
) -> Frames:
    """A slow pan and zoom ("pan") or a tripod shot ("static") over a sample photo."""
    import av
    from PIL import Image

    photos = PHOTOS[kind]
    image = Image.fromarray(_photo(photos[seed % len(photos)]))
    rng = np.random.default_rng([seed, len(kind)])
    phases = rng.uniform(0, 2 * np.pi, size=3)
    photo_w, photo_h = image.size
    base_w = min(photo_w, photo_h * width / height)  # the largest window of the output's aspect
    photo_per_out = base_w / width
    bank = _grain_bank(width, height, 1.0 if kind == "pan" else 1.6, seed)
    for i in range(count):
        t = float(i / fps)
        if kind == "pan":
            # Periods of 9-13 s: a slow, smooth camera move that never leaves the photo.
            zoom = 0.82 - 0.12 * (0.5 - 0.5 * np.cos(2 * np.pi * t / 11 + phases[0]))
            fx = 0.2 + 0.6 * (0.5 - 0.5 * np.cos(2 * np.pi * t / 9 + phases[1]))
            fy = 0.3 + 0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * t / 13 + phases[2]))
            shake_x = shake_y = 0.0
        else:
            # A tripod: the window stays put but for a tenth of an output pixel of shake.
            zoom = 0.8
            fx = 0.5 + 0.3 * np.cos(phases[0])
            fy = 0.5 + 0.3 * np.sin(phases[0])
            shake_x = 0.1 * photo_per_out * np.sin(2 * np.pi * 0.7 * t + phases[1])
            shake_y = 0.1 * photo_per_out * np.sin(2 * np.pi * 0.5 * t + phases[2])
        win_w = base_w * zoom
        win_h = win_w * height / width
        x0 = fx * (photo_w - win_w) + shake_x
        y0 = fy * (photo_h - win_h) + shake_y
        # Sub-pixel box, separable filter, antialiased when shrinking.
        view = image.resize(
            (width, height), Image.Resampling.BICUBIC, box=(x0, y0, x0 + win_w, y0 + win_h)
        )
        frame = av.VideoFrame.from_ndarray(np.asarray(view), format="rgb24")
        frame = frame.reformat(format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
        for name, value in BT709.items():
            setattr(frame, name, value)
        _add_grain(frame, bank, np.random.default_rng([seed, len(kind), i]))
        yield frame


FRAME_SOURCES: dict[str, Callable[..., Frames]] = {
    "bbb": _bbb_frames,
    "pan": lambda *args: _photo_frames("pan", *args),
    "static": lambda *args: _photo_frames("static", *args),
}


# --- sound -------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _sound(kind: str) -> np.ndarray:
    """The kind's sound as (2, n) float32 at 48 kHz, one loop long (read-only)."""
    import av

    pieces = []
    with av.open(str(SAMPLES / SOUNDS[kind])) as container:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SOUND_RATE)
        for frame in container.decode(audio=0):
            pieces.extend(piece.to_ndarray() for piece in resampler.resample(frame))
        pieces.extend(piece.to_ndarray() for piece in resampler.resample(None))
    sound = np.concatenate(pieces, axis=1).astype(np.float32)
    if kind == "bbb":  # loop with the picture
        count, rate, _ = sample_video()
        sound = sound[:, : int(count / rate * SOUND_RATE)]
    sound.setflags(write=False)
    return sound


def _sound_start(kind: str, seed: int) -> int:
    if kind == "bbb":
        return int(_start_frame(seed) / sample_video()[1] * SOUND_RATE)
    return round(1.3 * seed * SOUND_RATE)


class _SoundWriter:
    """Writes a looped sound into an output stream, a piece at a time (for interleaving)."""

    CHUNK = 4800

    def __init__(self, output: Any, encoder: str, sound: np.ndarray, start: int, total: int):
        self.stream = output.add_stream(encoder, rate=SOUND_RATE, layout="stereo")
        self.stream.bit_rate = 128_000
        self._output = output
        self._sound = sound
        self._start = start
        self._total = total
        self.written = 0

    def write_until(self, seconds: float) -> None:
        import av

        stop = self._total if seconds >= self._total / SOUND_RATE else int(seconds * SOUND_RATE)
        while self.written < stop:
            n = min(self.CHUNK, stop - self.written)
            where = (self._start + self.written + np.arange(n)) % self._sound.shape[1]
            data = np.ascontiguousarray(self._sound[:, where])
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
            frame.sample_rate = SOUND_RATE
            frame.pts = self.written
            frame.time_base = Fraction(1, SOUND_RATE)
            self._output.mux(self.stream.encode(frame))
            self.written += n

    def finish(self) -> None:
        self.write_until(float("inf"))
        self._output.mux(self.stream.encode(None))


# --- making and caching --------------------------------------------------------------------


def _check(kind: str, width: int, height: int, fps: Fraction, seconds: float) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown clip kind {kind!r}; choose from {KINDS}")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if fps <= 0 or not seconds > 0:
        raise ValueError(f"fps and seconds must be positive, got {fps} and {seconds}")
    return max(1, round(seconds * fps))


def clip_frames(
    kind: str = "bbb",
    *,
    width: int = 640,
    height: int = 360,
    fps: int | Fraction = 25,
    seconds: float = 3.0,
    pix_fmt: str = "yuv420p",
    seed: int = 0,
) -> Frames:
    """The frames of a clip before encoding, one at a time (``av.VideoFrame`` objects tagged
    BT.709; :func:`make_clip` encodes exactly these). A frame may be yielded twice in a row
    (a repeated sample frame): copy one before changing it."""
    fps = Fraction(fps)
    count = _check(kind, width, height, fps, seconds)
    return FRAME_SOURCES[kind](width, height, fps, count, pix_fmt, seed)


def make_clip(
    dst: StrPath,
    kind: str = "bbb",
    *,
    width: int = 640,
    height: int = 360,
    fps: int | Fraction = 25,
    seconds: float = 3.0,
    audio: bool = True,
    codec: str = "libx264",
    crf: int = 12,
    pix_fmt: str = "yuv420p",
    preset: str = "veryfast",
    seed: int = 0,
) -> Path:
    """Write a clip of ``kind`` to ``dst`` (the container follows its suffix: .mp4, .mov,
    .mkv or .webm) and return ``dst``; see the module docstring.

    ``round(seconds * fps)`` frames; ``codec`` is libx264, libx265 or libvpx-vp9 (WebM needs
    VP9); ``crf`` and ``preset`` are the encoder's (VP9 maps the preset to a speed).
    """
    import av

    dst = Path(dst)
    fps = Fraction(fps)
    count = _check(kind, width, height, fps, seconds)
    muxer, audio_encoder = container_format(dst, codec)
    options = encoder_options(codec, crf, preset)
    frames = clip_frames(
        kind, width=width, height=height, fps=fps, seconds=seconds, pix_fmt=pix_fmt, seed=seed
    )
    # bitexact: no muxer version string, no random Matroska UIDs, so builds are identical.
    with av.open(str(dst), "w", format=muxer, options={"fflags": "+bitexact"}) as output:
        video = output.add_stream(codec, rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        sound = None
        if audio:
            total = round(count / fps * SOUND_RATE)
            start = _sound_start(kind, seed)
            sound = _SoundWriter(output, audio_encoder, _sound(kind), start, total)
        for index, frame in enumerate(frames):
            if index == 0:
                copy_colour(video.codec_context, frame)
            frame.pts = index
            frame.time_base = 1 / fps
            output.mux(video.encode(frame))
            if sound is not None:
                sound.write_until((index + 1) / fps)
        output.mux(video.encode(None))
        if sound is not None:
            sound.finish()
    return dst


def cache_dir() -> Path:
    """Where :func:`clip_path` keeps clips: ``$AIGC_MARKING_CLIP_CACHE`` or a per-user
    directory under the system temp dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"aigc-marking-video-clips-{user}"


def clip_name(kind: str, **params: Any) -> str:
    """The cache file name of a clip: readable parameters and a hash of all of them."""
    import av

    key = json.dumps(
        {"kind": kind, "version": CLIP_VERSION, "av": av.__version__, **params},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    fps = str(params["fps"]).replace("/", "_")
    return (
        f"{kind}-{params['width']}x{params['height']}-{fps}fps-{params['seconds']:g}s-"
        f"{params['codec']}-{params['pix_fmt']}-crf{params['crf']}-seed{params['seed']}"
        f"{'' if params['audio'] else '-mute'}-{digest}.{params['container']}"
    )


@lru_cache(maxsize=128)
def clip_path(
    kind: str = "bbb",
    *,
    width: int = 640,
    height: int = 360,
    fps: int | Fraction = 25,
    seconds: float = 3.0,
    audio: bool = True,
    codec: str = "libx264",
    crf: int = 12,
    pix_fmt: str = "yuv420p",
    container: str = "mp4",
    preset: str = "veryfast",
    seed: int = 0,
) -> Path:
    """The path of a cached clip (built on first use); the arguments are :func:`make_clip`'s,
    with ``container`` one of mp4, mov, mkv, webm. Don't modify the file."""
    params: dict[str, Any] = {
        "width": width,
        "height": height,
        "fps": Fraction(fps),
        "seconds": seconds,
        "audio": audio,
        "codec": codec,
        "crf": crf,
        "pix_fmt": pix_fmt,
        "preset": preset,
        "seed": seed,
    }
    folder = cache_dir()
    path = folder / clip_name(kind, container=container, **params)
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".{container}", dir=folder
    )
    os.close(handle)
    try:
        make_clip(temporary, kind, **params)
        Path(temporary).replace(path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path
