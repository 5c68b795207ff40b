"""How a video is encoded: the containers written, the default encoders, the x264 speed
presets and :class:`EncoderSettings`.

Imports neither NumPy nor PyAV, so the command line can offer the choices (``--preset``,
``--container``) without loading a codec library at start-up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

from marking.errors import UsageError

#: Containers we read and write, by the name PyAV's muxer knows them by.
CONTAINERS = ("mp4", "mov", "matroska", "webm")
#: The name a user knows each container by, for messages.
CONTAINER_NAMES = {"mp4": "MP4", "mov": "MOV", "matroska": "MKV", "webm": "WebM"}
#: The container each video file suffix stands for.
SUFFIX_CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".qt": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
}
#: The encoder used when :class:`EncoderSettings` names none.
DEFAULT_CODECS = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "webm": "libvpx-vp9"}
#: Encoders that take ``crf`` and ``preset`` the x264 way.
X26X_ENCODERS = ("libx264", "libx265")
#: Encoders whose two-pass mode works here (their statistics go to a file they name).
TWO_PASS_ENCODERS = X26X_ENCODERS
#: x264's speed presets, fastest first (libvpx-vp9 maps them onto its cpu-used knob).
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
#: libvpx has no presets: x264's names map to its speed knob (cpu-used, 0 slowest).
VP9_CPU_USED = dict(zip(X264_PRESETS, (8, 7, 6, 5, 4, 3, 2, 1, 0, 0), strict=True))


@dataclass(frozen=True)
class EncoderSettings:
    """How the processed video stream is encoded (audio: see
    :func:`~marking.media.transcode.transcode`).

    ``codec`` None picks libx264 (MP4, MOV, MKV) or libvpx-vp9 (WebM). ``crf`` and ``preset``
    apply to libx264/libx265 (libvpx-vp9 takes ``crf`` and maps the preset to ``cpu-used``);
    ``bitrate`` (bits per second) replaces CRF with a target rate. ``extra_options`` go to the
    encoder as FFmpeg options (for example ``{"tune": "film"}``). ``container`` None keeps the
    input's container. ``match_size``: the watermarking encode
    (:func:`~marking.files.video.embed_video_file`) aims at the bytes a plain re-encode with
    these settings would take (see :mod:`marking.files.video_size`); it picks the bit rate
    itself, so it takes no ``bitrate``. Other encodes ignore it.
    """

    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    bitrate: int | None = None
    extra_options: dict[str, str] = field(default_factory=dict)
    container: str | None = None
    match_size: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise UsageError("crf must be between 0 and 63")
        if self.preset not in X264_PRESETS:
            raise UsageError(f"preset must be one of {', '.join(X264_PRESETS)}")
        if self.bitrate is not None and self.bitrate <= 0:
            raise UsageError("bitrate must be positive")
        if self.container is not None and self.container not in CONTAINERS:
            raise UsageError(f"container must be one of {', '.join(CONTAINERS)}")
        if self.match_size and self.bitrate is not None:
            raise UsageError(
                "match_size picks the video bit rate itself: give it without a bitrate"
            )

    def describe(self) -> str:
        """The settings in a few words, for reports: "libx264 CRF 18 preset medium"."""
        rate = f"{self.bitrate} bit/s" if self.bitrate is not None else f"CRF {self.crf}"
        extra = "".join(f", {name}={value}" for name, value in self.extra_options.items())
        return f"{self.codec or 'libx264'} {rate} preset {self.preset}{extra}"


def two_pass_settings(
    settings: EncoderSettings, codec: str, number: int, stats: os.PathLike[str], bitrate: int
) -> EncoderSettings:
    """``settings`` for pass ``number`` (1 or 2) of ``codec``'s two-pass encode at ``bitrate``
    (bits per second), its statistics in the file ``stats`` (x264 and x265 add files named
    after it).

    x264 gets FFmpeg's pass flags and ``stats`` option (its first pass then runs with x264's
    fast first-pass settings, as its command line does); x265 gets them in ``x265-params``
    (its ``:`` and ``=`` in the path escaped), after any the settings give.
    """
    if codec not in TWO_PASS_ENCODERS:
        raise UsageError(f"{codec} has no two-pass mode here")
    options = dict(settings.extra_options)
    path = os.fspath(stats)
    if codec == "libx264":
        options["flags"] = options.get("flags", "") + f"+pass{number}"
        options["stats"] = path
    else:
        escaped = re.sub(r"([\\:=])", r"\\\1", path)
        given = options.get("x265-params", "log-level=error")
        options["x265-params"] = f"{given}:pass={number}:stats={escaped}"
    return replace(settings, bitrate=bitrate, match_size=False, extra_options=options)


#: The encoding profiles a user picks by name (``--profile``): the default, and a fast one
#: that marks 1080p30 at about real time or faster on two cores (0.99-1.64x in
#: bench/results/video-cost.md) with
#: the mark surviving every issue-6 attack (bench/results/video-robustness-fast.md).
PROFILES = {
    "default": EncoderSettings(),
    "fast": EncoderSettings(preset="veryfast"),
}


__all__ = [
    "CONTAINERS",
    "CONTAINER_NAMES",
    "DEFAULT_CODECS",
    "PROFILES",
    "SUFFIX_CONTAINERS",
    "TWO_PASS_ENCODERS",
    "VP9_CPU_USED",
    "X26X_ENCODERS",
    "X264_PRESETS",
    "EncoderSettings",
    "two_pass_settings",
]
