"""Video attacks for watermark robustness tests and the benchmark: files in, files out.

Every attack is a :class:`VideoAttack`, called as ``attack(src, dst_dir) -> dst``: it reads
``src``, streams it through PyAV one frame at a time (never a system ffmpeg, never a frame
list) and writes ``dst_dir / "<src stem>.<attack name>.<ext>"``, overwriting an older one.
:data:`ATTACKS` lists the acceptance attacks of issue 6 in order; :func:`segment` and
:func:`segment_attacks` make the "any 3 s segment" cuts.

What each step does, in this order within one decode and encode pass:

- time window (``start``, ``duration``): frames earlier than ``start`` seconds after the first
  frame, or from ``start + duration`` on, are dropped; the first kept frame becomes time 0 and
  the sound is cut to the same window, so picture and sound stay in sync.
- frame rate (``fps``): output frame ``j`` (at ``j / fps`` s) is the last input frame shown at
  or before that time, so 30 to 25 fps drops one frame in six. Without ``fps`` the output
  keeps the input's nominal rate and every kept frame (the clips are constant frame rate).
- centre crop (``crop``): keeps that fraction of each side (rounded to even sizes, at even
  offsets so 4:2:0 chroma stays aligned), centred.
- scaling (``size``): libswscale bicubic (FFmpeg's default scaler; for downscaling its kernel
  widens with the ratio, so it filters properly) in the frame's own pixel format.
- pose (``pose``, issue 19): the frame goes through RGB and one of :data:`POSES` (a turn on
  the same canvas, a mirror, a squeeze to another aspect, a letterbox), as an editor or a
  re-upload does; the output takes the new frame size.
- brightness (``gain``): gamma-encoded RGB multiplied by ``gain`` and clipped, done in YUV,
  which is the same thing before clipping: luma's excursion above black (16, or 0 in full
  range) and chroma's excursion from 128 are both scaled by ``gain``, then clipped to the
  legal range (luma 16..235, chroma 16..240, times 4 at 10 bits; 0..255 in full range).
  +20% clips the highlights, as a real brightness boost does.

The result is encoded with ``codec`` at ``crf`` (libx264 CRF 18, preset medium, unless the
attack is itself a codec) in the source's pixel format when the encoder takes it, keeping the
colour tags, in MP4 (AAC sound), or WebM for VP9 (Opus sound). The sound is decoded and
re-encoded at 128 kbit/s whatever the attack, so every output is a plain, playable file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.attacks import flip, pad_to_aspect, rotate, stretch

StrPath = str | Path

#: Issue 19's changes of pose for video, on one RGB frame: a 3 degree turn (corners black), a
#: mirror, a 16:9 picture squeezed to 4:3 (width x0.75; the same stretch as a 4:3 picture
#: shown at 16:9, the other way round) and letterboxed to 4:3 (black bars above and below).
POSES: dict[str, Any] = {
    "rotate+3": lambda rgb: rotate(rgb, 3),
    "flip-horizontal": lambda rgb: flip(rgb, True),
    "squeeze-to-4:3": lambda rgb: stretch(rgb, 0.75, 1.0),
    "letterbox-4:3": lambda rgb: pad_to_aspect(rgb, 4 / 3),
}

DEFAULT_CRF = 18
#: x264/x265 preset of every attack's encoder; VP9 maps it to a libvpx speed (below).
DEFAULT_PRESET = "medium"
#: libvpx-vp9 (deadline, cpu-used) per x264-style preset name.
VP9_SPEEDS = {
    "ultrafast": ("realtime", 8),
    "superfast": ("realtime", 8),
    "veryfast": ("realtime", 8),
    "faster": ("good", 5),
    "fast": ("good", 5),
    "medium": ("good", 4),
    "slow": ("good", 2),
    "slower": ("good", 1),
    "veryslow": ("good", 0),
}
#: Container suffix -> FFmpeg muxer name.
CONTAINER_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
#: Video encoders these helpers configure (CRF, preset) and what the WebM muxer takes.
VIDEO_CODECS = ("libx264", "libx265", "libvpx-vp9")
WEBM_CODECS = ("libvpx-vp9",)
AUDIO_BIT_RATE = 128_000
#: A frame counts as "at" a time within this much (absorbs millisecond time bases).
TIME_TOLERANCE = Fraction(1, 2000)


# --- encoder and container settings -----------------------------------------------------------


def encoder_options(codec: str, crf: int, preset: str = DEFAULT_PRESET) -> dict[str, str]:
    """Constant-quality options for ``codec`` (one of :data:`VIDEO_CODECS`)."""
    if codec in ("libx264", "libx265"):
        options = {"crf": str(crf), "preset": preset}
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
        return options
    if codec == "libvpx-vp9":
        deadline, cpu_used = VP9_SPEEDS[preset]
        return {
            "crf": str(crf),
            "b": "0",  # constant quality: crf with no bit-rate target
            "deadline": deadline,
            "cpu-used": str(cpu_used),
            "row-mt": "1",
        }
    raise ValueError(f"unsupported video codec {codec!r}; choose from {VIDEO_CODECS}")


def container_format(path: StrPath, codec: str) -> tuple[str, str]:
    """(muxer name, audio encoder) for writing ``codec`` video to ``path`` (by its suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINER_FORMATS:
        raise ValueError(f"unsupported container {suffix!r}; choose from {list(CONTAINER_FORMATS)}")
    if suffix == ".webm":
        if codec not in WEBM_CODECS:
            raise ValueError(f"WebM takes {WEBM_CODECS} video, not {codec!r}")
        return "webm", "libopus"
    return CONTAINER_FORMATS[suffix], "aac"


def output_pix_fmt(codec: str, pix_fmt: str) -> str:
    """``pix_fmt`` if ``codec`` encodes it, else yuv420p."""
    import av

    formats = av.Codec(codec, "w").video_formats or ()
    return pix_fmt if pix_fmt in {f.name for f in formats} else "yuv420p"


def copy_colour(into: Any, frame: Any) -> None:
    """Copy the colour tags (range, matrix, primaries, transfer) of ``frame`` onto ``into``,
    a frame or a video codec context."""
    into.color_range = frame.color_range
    into.colorspace = frame.colorspace
    into.color_primaries = frame.color_primaries
    into.color_trc = frame.color_trc


# --- frame operations (new frames out; decoded frames are never written to) -------------------


def _depth(frame: Any) -> int:
    return int(frame.format.components[0].bits)


def plane_views(frame: Any) -> list[np.ndarray]:
    """NumPy views of a planar frame's planes, (height, width) each (uint16 above 8 bits)."""
    dtype = np.dtype(np.uint8 if _depth(frame) <= 8 else "<u2")
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, dtype=dtype).reshape(
            plane.height, plane.line_size // dtype.itemsize
        )
        views.append(rows[:, : plane.width])
    return views


def _new_like(frame: Any, width: int, height: int) -> Any:
    import av

    out = av.VideoFrame(width, height, frame.format.name)
    copy_colour(out, frame)
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


def crop_frame(frame: Any, x: int, y: int, width: int, height: int) -> Any:
    """The ``width`` x ``height`` box at (``x``, ``y``) of a planar YUV frame, as a new frame.

    The box must lie inside the frame; with subsampled chroma its offsets and sizes must be
    multiples of the subsampling (even for 4:2:0).
    """
    if not (x >= 0 and y >= 0 and x + width <= frame.width and y + height <= frame.height):
        raise ValueError(f"box {(x, y, width, height)} outside {frame.width}x{frame.height}")
    out = _new_like(frame, width, height)
    for source, target in zip(plane_views(frame), plane_views(out), strict=True):
        sx = round(frame.width / source.shape[1])  # chroma subsampling of this plane
        sy = round(frame.height / source.shape[0])
        target[...] = source[
            y // sy : y // sy + target.shape[0], x // sx : x // sx + target.shape[1]
        ]
    return out


def centre_crop_box(width: int, height: int, keep: float) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the centred box keeping ``keep`` of each side, all even (an
    odd centring margin rounds down: the box sits one pixel up or left of the exact centre)."""
    w = 2 * round(width * keep / 2)
    h = 2 * round(height * keep / 2)
    return 2 * ((width - w) // 4), 2 * ((height - h) // 4), w, h


def pose_frame(frame: Any, pose: str) -> Any:
    """``frame`` (8-bit) through RGB and :data:`POSES` [``pose``], sized to even sides for 4:2:0."""
    import av

    rgb = POSES[pose](frame.to_ndarray(format="rgb24"))
    height, width = rgb.shape[0] & ~1, rgb.shape[1] & ~1
    out = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
    return out.reformat(format=frame.format.name)


def scale_frame(frame: Any, width: int, height: int, interpolation: str = "BICUBIC") -> Any:
    """``frame`` resized to ``width`` x ``height`` by libswscale, same pixel format and tags."""
    if (frame.width, frame.height) == (width, height):
        return frame
    out = frame.reformat(width, height, interpolation=interpolation)
    copy_colour(out, frame)
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


def legal_range(frame: Any) -> tuple[tuple[int, int], tuple[int, int, int]]:
    """((black, white), (chroma low, mid, high)) code values of a YUV frame."""
    unit = 1 << (_depth(frame) - 8)
    full = frame.color_range == 2 or frame.format.name.startswith("yuvj")
    if full:
        return (0, 255 * unit), (0, 128 * unit, 255 * unit)
    return (16 * unit, 235 * unit), (16 * unit, 128 * unit, 240 * unit)


def brightness_frame(frame: Any, gain: float) -> Any:
    """RGB times ``gain``, done in YUV (see the module docstring), as a new frame."""
    out = _new_like(frame, frame.width, frame.height)
    (black, white), (low, mid, high) = legal_range(frame)
    codes = np.arange(1 << _depth(frame), dtype=np.float64)
    for index, (source, target) in enumerate(
        zip(plane_views(frame), plane_views(out), strict=True)
    ):
        base, top, bottom = (black, white, black) if index == 0 else (mid, high, low)
        table = np.clip(np.rint(base + gain * (codes - base)), bottom, top).astype(target.dtype)
        target[...] = table[source]
    return out


# --- sound -----------------------------------------------------------------------------------


class _SoundTrack:
    """Decodes the source's first audio track lazily, cuts it to a time window and encodes it
    into an output stream, a little at a time so packets interleave with the video."""

    def __init__(
        self, src: StrPath, output: Any, encoder: str, window: tuple[float, float | None]
    ) -> None:
        import av

        self._input = av.open(str(src))
        stream = self._input.streams.audio[0]
        stream.thread_type = "AUTO"
        layout = "mono" if stream.channels == 1 else "stereo"
        self.rate = 48_000 if encoder == "libopus" else stream.rate
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
        self.stream = output.add_stream(encoder, rate=self.rate, layout=layout)
        self.stream.bit_rate = AUDIO_BIT_RATE
        self._output = output
        self._frames = self._input.decode(stream)
        self._layout = layout
        self._start, self._end = window
        self._position: int | None = None  # source samples (at self.rate) resampled so far
        self._first = 0  # source sample at the window start
        self._last: int | None = None  # source sample at the window end
        self.written = 0
        self._done = False

    def _emit(self, frame: Any) -> None:
        if self._position is None:
            origin = float(frame.time) if frame.time is not None else 0.0
            self._position = 0
            self._first = max(0, round((self._start - origin) * self.rate))
            if self._end is not None:
                self._last = max(self._first, round((self._end - origin) * self.rate))
        count = frame.samples
        lo = max(self._first - self._position, 0)
        hi = count if self._last is None else min(count, self._last - self._position)
        self._position += count
        if hi <= lo:
            return
        import av

        samples = frame.to_ndarray()[:, lo:hi]
        cut = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), "fltp", self._layout)
        cut.sample_rate = self.rate
        cut.pts = self.written
        cut.time_base = Fraction(1, self.rate)
        self.written += hi - lo
        self._output.mux(self.stream.encode(cut))

    def write_until(self, seconds: float) -> None:
        """Encode sound up to ``seconds`` of output (or to the end of the window)."""
        while not self._done and self.written < seconds * self.rate:
            frame = next(self._frames, None)
            if frame is None:
                self._done = True
                for rest in self._resampler.resample(None):
                    self._emit(rest)
                break
            for piece in self._resampler.resample(frame):
                self._emit(piece)
            if self._last is not None and self._position is not None:
                self._done = self._position >= self._last

    def finish(self) -> None:
        self.write_until(float("inf"))
        self._output.mux(self.stream.encode(None))
        self._input.close()


# --- the transcode ------------------------------------------------------------------------


def _decoded(container: Any, stream: Any) -> Iterator[tuple[Fraction, Any]]:
    """(time in seconds from the first frame, frame) of every decoded frame."""
    first: Fraction | None = None
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    for index, frame in enumerate(container.decode(stream)):
        if frame.pts is not None and frame.time_base is not None:
            stamp = frame.pts * Fraction(frame.time_base)
        else:
            stamp = index / Fraction(rate)
        if first is None:
            first = stamp
        yield stamp - first, frame


def _window(
    frames: Iterator[tuple[Fraction, Any]], start: float, duration: float | None
) -> Iterator[tuple[Fraction, Any]]:
    """Frames from ``start`` s on (and before ``start + duration``), re-timed to start at 0."""
    begin = Fraction(start).limit_denominator(1_000_000) - TIME_TOLERANCE
    end = None if duration is None else begin + Fraction(duration).limit_denominator(1_000_000)
    origin: Fraction | None = None
    for stamp, frame in frames:
        if stamp < begin:
            continue
        if end is not None and stamp >= end:
            return
        if origin is None:
            origin = stamp
        yield stamp - origin, frame


def _retime(frames: Iterator[tuple[Fraction, Any]], fps: Fraction, step: Fraction) -> Iterator[Any]:
    """Frames at ``fps``: output frame j shows the last input frame at or before ``j / fps``
    (``step`` is the input frame duration, for how long the last frame lasts)."""
    slot = 0
    previous: Any = None
    last = Fraction(0)
    for stamp, frame in frames:
        while previous is not None and slot / fps < stamp - TIME_TOLERANCE:
            yield previous
            slot += 1
        previous, last = frame, stamp
    while previous is not None and slot / fps < last + step - TIME_TOLERANCE:
        yield previous
        slot += 1


def reencode(
    src: StrPath,
    dst: StrPath,
    *,
    codec: str = "libx264",
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    size: tuple[int, int] | None = None,
    crop: float | None = None,
    gain: float | None = None,
    pose: str | None = None,
    start: float = 0.0,
    duration: float | None = None,
    fps: int | Fraction | None = None,
    audio: bool = True,
    threads: int | None = None,
) -> Path:
    """Transcode ``src`` to ``dst`` with the steps of the module docstring, in one pass.

    ``size`` is (width, height); ``crop`` the fraction of each side kept; ``gain`` the
    brightness factor; ``pose`` a key of :data:`POSES`; ``start`` and ``duration`` the time
    window in seconds; ``fps`` the
    output frame rate. ``audio`` False drops the sound. ``threads`` sets the encoder's thread
    count (None: the encoder's default). Returns ``dst``.
    """
    import av

    src, dst = Path(src), Path(dst)
    muxer, audio_encoder = container_format(dst, codec)
    options = encoder_options(codec, crf, preset)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as source:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        in_rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
        out_rate = Fraction(fps) if fps is not None else in_rate
        timed = _window(_decoded(source, stream), start, duration)
        if fps is not None:
            frames: Iterator[Any] = _retime(timed, out_rate, 1 / in_rate)
        else:
            frames = (frame for _, frame in timed)
        has_audio = audio and bool(source.streams.audio)
        with av.open(str(dst), "w", format=muxer) as output:
            video: Any = None
            sound: _SoundTrack | None = None
            for count, frame in enumerate(frames, start=1):
                picture = frame
                if crop is not None:
                    picture = crop_frame(picture, *centre_crop_box(frame.width, frame.height, crop))
                if size is not None:
                    picture = scale_frame(picture, *size)
                if pose is not None:
                    picture = pose_frame(picture, pose)
                    copy_colour(picture, frame)
                if gain is not None:
                    picture = brightness_frame(picture, gain)
                if video is None:
                    video = output.add_stream(codec, rate=out_rate, options=options)
                    video.width, video.height = picture.width, picture.height
                    if threads is not None:
                        video.codec_context.thread_count = threads
                    video.pix_fmt = output_pix_fmt(codec, picture.format.name)
                    copy_colour(video.codec_context, picture)
                    if has_audio:
                        # The sound starts where the first kept frame is shown.
                        origin = float(frame.time or 0.0)
                        end = None if duration is None else origin + duration
                        sound = _SoundTrack(src, output, audio_encoder, (origin, end))
                if picture.format.name != video.pix_fmt:
                    picture = picture.reformat(format=video.pix_fmt)
                    copy_colour(picture, frame)
                picture.pts = count - 1
                picture.time_base = 1 / out_rate
                output.mux(video.encode(picture))
                if sound is not None:
                    sound.write_until(count / out_rate)
            if video is None:
                raise ValueError(f"{src}: no frames left after the attack")
            output.mux(video.encode(None))
            if sound is not None:
                sound.finish()
    return dst


# --- the attacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoAttack:
    """One attack: a name and the :func:`reencode` settings it applies."""

    name: str
    codec: str = "libx264"
    crf: int = DEFAULT_CRF
    size: tuple[int, int] | None = None
    crop: float | None = None
    gain: float | None = None
    pose: str | None = None
    start: float = 0.0
    duration: float | None = None
    fps: int | None = None

    @property
    def suffix(self) -> str:
        return ".webm" if self.codec in WEBM_CODECS else ".mp4"

    def output_path(self, src: StrPath, dst_dir: StrPath) -> Path:
        return Path(dst_dir) / f"{Path(src).stem}.{self.name}{self.suffix}"

    def __call__(
        self,
        src: StrPath,
        dst_dir: StrPath,
        *,
        preset: str = DEFAULT_PRESET,
        audio: bool = True,
        threads: int | None = None,
    ) -> Path:
        """Attack ``src``; the result goes to ``dst_dir`` (see :meth:`output_path`)."""
        return reencode(
            src,
            self.output_path(src, dst_dir),
            codec=self.codec,
            crf=self.crf,
            preset=preset,
            size=self.size,
            crop=self.crop,
            gain=self.gain,
            pose=self.pose,
            start=self.start,
            duration=self.duration,
            fps=self.fps,
            audio=audio,
            threads=threads,
        )


def h264(crf: int) -> VideoAttack:
    return VideoAttack(f"h264-crf{crf}", crf=crf)


def h265(crf: int) -> VideoAttack:
    return VideoAttack(f"h265-crf{crf}", codec="libx265", crf=crf)


def vp9(crf: int = 32) -> VideoAttack:
    """libvpx-vp9 at constant quality ``crf`` (b:v 0), in WebM; CRF 32 is typical web video."""
    return VideoAttack("vp9" if crf == 32 else f"vp9-crf{crf}", codec="libvpx-vp9", crf=crf)


def scale(width: int, height: int) -> VideoAttack:
    return VideoAttack(f"scale-{width}x{height}", size=(width, height))


def crop(keep: float) -> VideoAttack:
    return VideoAttack(f"crop-{round(100 * keep)}", crop=keep)


def brightness(percent: int) -> VideoAttack:
    return VideoAttack(f"brightness{percent:+d}", gain=1 + percent / 100)


def trim(seconds: float) -> VideoAttack:
    """Drop the first ``seconds`` (frames shown before then; the next frame becomes time 0)."""
    return VideoAttack(f"trim-{seconds:g}s", start=seconds)


def frame_rate(fps: int, source_fps: int = 30) -> VideoAttack:
    """Convert to ``fps`` by frame timing (the name says the source rate it is meant for)."""
    return VideoAttack(f"fps-{source_fps}to{fps}", fps=fps)


def segment(start: float, seconds: float = 3.0) -> VideoAttack:
    """Only the ``seconds`` from ``start`` on, re-timed to start at 0 (CRF 18)."""
    return VideoAttack(f"segment-{start:g}s-{seconds:g}s", start=start, duration=seconds)


def segment_starts(duration: float, seconds: float = 3.0, count: int = 3) -> list[float]:
    """``count`` segment starts spread over a ``duration`` s clip: the first at 0, the others
    nudged 13 ms off the frame grids of 24, 25, 30 and 60 fps."""
    last = duration - seconds - 0.05
    if last < 0:
        raise ValueError(f"a {seconds} s segment does not fit in {duration} s")
    if count == 1:
        return [0.0]
    return [0.0] + [max(0.0, round(last * k / (count - 1) - 0.013, 3)) for k in range(1, count)]


def segment_attacks(duration: float, seconds: float = 3.0, count: int = 3) -> dict[str, Any]:
    """:func:`segment` attacks at :func:`segment_starts`, by name."""
    attacks = [segment(start, seconds) for start in segment_starts(duration, seconds, count)]
    return {attack.name: attack for attack in attacks}


COMBO = replace(scale(1280, 720), name="combo", crf=30, gain=0.8)

#: The robustness attacks of issue 6, in the order of its acceptance list.
ATTACKS: dict[str, VideoAttack] = {
    attack.name: attack
    for attack in (
        h264(23),
        h264(30),
        h264(40),
        h265(30),
        vp9(32),
        scale(1280, 720),
        scale(854, 480),
        crop(0.71),
        brightness(+20),
        brightness(-20),
        trim(1.5),
        frame_rate(25, source_fps=30),
        COMBO,
    )
}

#: Issue 19's video acceptance: each change of pose, then H.264 CRF 28.
POSE_ATTACKS: dict[str, VideoAttack] = {
    f"{pose}+h264-crf28": VideoAttack(f"{pose.replace(':', 'x')}+h264-crf28", crf=28, pose=pose)
    for pose in POSES
}
