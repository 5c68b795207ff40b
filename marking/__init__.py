"""aigc-marking: mark AI-generated media with invisible watermarks and verify them.

The public API is imported lazily (PEP 562), so ``import marking`` and the command line's
``--help`` stay fast: NumPy, Numba and Pillow load only when a function is first used.

>>> import marking
>>> marking.embed_file("generated.png", "generated.marked.png")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from marking.errors import (
    InputError,
    InputTooLargeError,
    InputTooSmallError,
    MarkingError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)

if TYPE_CHECKING:
    from marking.aigc_label import AigcLabel
    from marking.audio_cue import CueSettings, CueWriter, add_cue, label_audio_file
    from marking.audio_watermark import (
        AudioDetection,
        AudioDetector,
        AudioEmbedder,
        detect_audio,
        embed_audio,
    )
    from marking.audio_watermark_io import detect_audio_file, embed_audio_file
    from marking.content_sniffing import media_kind
    from marking.image_io import detect_file, embed_file, label_file
    from marking.image_watermark import ImageDetection, detect_image, embed_image
    from marking.keys import DEFAULT_KEY, Key
    from marking.mark_config import load_config
    from marking.pipeline import AudioMarker, MarkConfig, mark_file, mark_image
    from marking.tagging import Signing, tag_file
    from marking.verify import Verification, payload_for_label, verify_file
    from marking.video_io import EncoderSettings, transcode
    from marking.video_label import VideoLabelSettings, label_video
    from marking.video_watermark import VideoDetection, VideoDetector, VideoMarker
    from marking.video_watermark_io import detect_video_file, embed_video_file
    from marking.visible_label import LabelStyle, label_image

__version__ = "0.1.0"

#: Public name -> module that defines it; imported on first attribute access.
_LAZY_EXPORTS = {
    "embed_image": "marking.image_watermark",
    "detect_image": "marking.image_watermark",
    "ImageDetection": "marking.image_watermark",
    "embed_file": "marking.image_io",
    "AudioEmbedder": "marking.audio_watermark",
    "AudioDetector": "marking.audio_watermark",
    "AudioDetection": "marking.audio_watermark",
    "embed_audio": "marking.audio_watermark",
    "detect_audio": "marking.audio_watermark",
    "embed_audio_file": "marking.audio_watermark_io",
    "detect_audio_file": "marking.audio_watermark_io",
    "detect_file": "marking.image_io",
    "Key": "marking.keys",
    "DEFAULT_KEY": "marking.keys",
    "LabelStyle": "marking.visible_label",
    "label_image": "marking.visible_label",
    "label_file": "marking.image_io",
    "VideoLabelSettings": "marking.video_label",
    "label_video": "marking.video_label",
    "VideoMarker": "marking.video_watermark",
    "VideoDetector": "marking.video_watermark",
    "VideoDetection": "marking.video_watermark",
    "embed_video_file": "marking.video_watermark_io",
    "detect_video_file": "marking.video_watermark_io",
    "EncoderSettings": "marking.video_io",
    "transcode": "marking.video_io",
    "CueSettings": "marking.audio_cue",
    "CueWriter": "marking.audio_cue",
    "add_cue": "marking.audio_cue",
    "label_audio_file": "marking.audio_cue",
    "media_kind": "marking.content_sniffing",
    "AigcLabel": "marking.aigc_label",
    "Signing": "marking.tagging",
    "tag_file": "marking.tagging",
    "verify_file": "marking.verify",
    "mark_file": "marking.pipeline",
    "mark_image": "marking.pipeline",
    "AudioMarker": "marking.pipeline",
    "MarkConfig": "marking.pipeline",
    "load_config": "marking.mark_config",
    "payload_for_label": "marking.verify",
    "Verification": "marking.verify",
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
