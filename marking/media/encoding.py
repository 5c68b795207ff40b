"""How a video is encoded: the containers written, the default encoders, the x264 speed
presets and :class:`EncoderSettings`.

Imports neither NumPy nor PyAV, so the command line can offer the choices (``--preset``,
``--container``) without loading a codec library at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    input's container.
    """

    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    bitrate: int | None = None
    extra_options: dict[str, str] = field(default_factory=dict)
    container: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise UsageError("crf must be between 0 and 63")
        if self.preset not in X264_PRESETS:
            raise UsageError(f"preset must be one of {', '.join(X264_PRESETS)}")
        if self.bitrate is not None and self.bitrate <= 0:
            raise UsageError("bitrate must be positive")
        if self.container is not None and self.container not in CONTAINERS:
            raise UsageError(f"container must be one of {', '.join(CONTAINERS)}")

    def describe(self) -> str:
        """The settings in a few words, for reports: "libx264 CRF 18 preset medium"."""
        rate = f"{self.bitrate} bit/s" if self.bitrate is not None else f"CRF {self.crf}"
        extra = "".join(f", {name}={value}" for name, value in self.extra_options.items())
        return f"{self.codec or 'libx264'} {rate} preset {self.preset}{extra}"


#: The encoding profiles a user picks by name (``--profile``): the default, and a fast one
#: that marks 1080p30 in real time or better on two cores (bench/results/video-cost.md) with
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
    "VP9_CPU_USED",
    "X26X_ENCODERS",
    "X264_PRESETS",
    "EncoderSettings",
]
