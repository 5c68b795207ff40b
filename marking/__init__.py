"""aigc-marking: mark AI-generated media with invisible watermarks and verify them.

The public API is imported lazily (PEP 562), so ``import marking`` and the command line's
``--help`` stay fast: NumPy, Numba and Pillow load only when a function is first used.

>>> import marking
>>> marking.embed_file("generated.png", "generated.marked.png")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from marking._moved import install as _install_moved_modules
from marking.errors import (
    InputError,
    InputTooLargeError,
    InputTooSmallError,
    MarkingError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.version import __version__

# 0.1's flat module paths (marking.image_io...) still import, with a warning.
_install_moved_modules()

if TYPE_CHECKING:
    from marking.files.audio import detect_audio_file, embed_audio_file, label_audio_file
    from marking.files.image import detect_file, embed_file, label_file
    from marking.files.video import detect_video_file, embed_video_file, label_video
    from marking.labels.audio_cue import CueSettings, CueWriter, add_cue
    from marking.labels.video_label import VideoLabelSettings
    from marking.labels.visible import LabelStyle, label_image
    from marking.media.sniffing import media_kind
    from marking.media.video import EncoderSettings, transcode
    from marking.pipeline.config import load_config
    from marking.pipeline.mark import AudioMarker, MarkConfig, mark_file, mark_image
    from marking.pipeline.verify import Verification, verify_file
    from marking.scheme.keys import DEFAULT_KEY, Key
    from marking.scheme.payload import payload_for_label
    from marking.tags.aigc_label import AigcLabel
    from marking.tags.tagging import Signing, tag_file
    from marking.watermark.audio import (
        AudioDetection,
        AudioDetector,
        AudioEmbedder,
        detect_audio,
        embed_audio,
    )
    from marking.watermark.image import ImageDetection, detect_image, embed_image
    from marking.watermark.video import VideoDetection, VideoDetector, VideoMarker


#: Public name -> module that defines it; imported on first attribute access.
_LAZY_EXPORTS = {
    "embed_image": "marking.watermark.image",
    "detect_image": "marking.watermark.image",
    "ImageDetection": "marking.watermark.image",
    "embed_file": "marking.files.image",
    "AudioEmbedder": "marking.watermark.audio",
    "AudioDetector": "marking.watermark.audio",
    "AudioDetection": "marking.watermark.audio",
    "embed_audio": "marking.watermark.audio",
    "detect_audio": "marking.watermark.audio",
    "embed_audio_file": "marking.files.audio",
    "detect_audio_file": "marking.files.audio",
    "detect_file": "marking.files.image",
    "Key": "marking.scheme.keys",
    "DEFAULT_KEY": "marking.scheme.keys",
    "LabelStyle": "marking.labels.visible",
    "label_image": "marking.labels.visible",
    "label_file": "marking.files.image",
    "VideoLabelSettings": "marking.labels.video_label",
    "label_video": "marking.files.video",
    "VideoMarker": "marking.watermark.video",
    "VideoDetector": "marking.watermark.video",
    "VideoDetection": "marking.watermark.video",
    "embed_video_file": "marking.files.video",
    "detect_video_file": "marking.files.video",
    "EncoderSettings": "marking.media.video",
    "transcode": "marking.media.video",
    "CueSettings": "marking.labels.audio_cue",
    "CueWriter": "marking.labels.audio_cue",
    "add_cue": "marking.labels.audio_cue",
    "label_audio_file": "marking.files.audio",
    "media_kind": "marking.media.sniffing",
    "AigcLabel": "marking.tags.aigc_label",
    "Signing": "marking.tags.tagging",
    "tag_file": "marking.tags.tagging",
    "verify_file": "marking.pipeline.verify",
    "mark_file": "marking.pipeline.mark",
    "mark_image": "marking.pipeline.mark",
    "AudioMarker": "marking.pipeline.mark",
    "MarkConfig": "marking.pipeline.mark",
    "load_config": "marking.pipeline.config",
    "payload_for_label": "marking.scheme.payload",
    "Verification": "marking.pipeline.verify",
}

__all__ = [
    "DEFAULT_KEY",
    "AigcLabel",
    "AudioDetection",
    "AudioDetector",
    "AudioEmbedder",
    "AudioMarker",
    "CueSettings",
    "CueWriter",
    "EncoderSettings",
    "ImageDetection",
    "InputError",
    "InputTooLargeError",
    "InputTooSmallError",
    "Key",
    "LabelStyle",
    "MarkConfig",
    "MarkingError",
    "OutputError",
    "Signing",
    "UnsupportedInputError",
    "UsageError",
    "Verification",
    "VideoDetection",
    "VideoDetector",
    "VideoLabelSettings",
    "VideoMarker",
    "__version__",
    "add_cue",
    "detect_audio",
    "detect_audio_file",
    "detect_file",
    "detect_image",
    "detect_video_file",
    "embed_audio",
    "embed_audio_file",
    "embed_file",
    "embed_image",
    "embed_video_file",
    "label_audio_file",
    "label_file",
    "label_image",
    "label_video",
    "load_config",
    "mark_file",
    "mark_image",
    "media_kind",
    "payload_for_label",
    "tag_file",
    "transcode",
    "verify_file",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'marking' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
