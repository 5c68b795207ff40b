"""Video files through PyAV, in one import: the names the rest of the toolkit uses.

The work is in five modules, one job each: :mod:`marking.media.video_probe` (what a file
holds, whether it is truncated), :mod:`marking.media.video_frames` (decoded frames, one at a
time), :mod:`marking.media.transcode` (the streaming re-encode every video feature shares,
with its encoder in :mod:`marking.media.video_encoder` and its settings in
:mod:`marking.media.encoding`), :mod:`marking.media.sound_pass` (the audio stream through a
processor in the same pass), and the PyAV helpers they share in :mod:`marking.media.av_util`.
"""

from __future__ import annotations

from marking.media.av_util import (
    CHAPTERS_REWRITTEN,
    TIMECODE_REWRITTEN,
    add_stream_copy,
    dropped_stream_note,
)
from marking.media.encoding import CONTAINERS, DEFAULT_CODECS, X264_PRESETS, EncoderSettings
from marking.media.sound_pass import AudioProcessor, AudioStreamInfo, ProcessAudio
from marking.media.transcode import ProcessFrame, TranscodeReport, transcode
from marking.media.video_frames import FrameInfo, frames
from marking.media.video_probe import (
    COLOR_PRIMARIES,
    COLOR_RANGES,
    COLOR_TRCS,
    COLORSPACES,
    StreamInfo,
    VideoInfo,
    probe_video,
    truncation,
    video_duration,
)

__all__ = [
    "CHAPTERS_REWRITTEN",
    "COLORSPACES",
    "COLOR_PRIMARIES",
    "COLOR_RANGES",
    "COLOR_TRCS",
    "CONTAINERS",
    "DEFAULT_CODECS",
    "TIMECODE_REWRITTEN",
    "X264_PRESETS",
    "AudioProcessor",
    "AudioStreamInfo",
    "EncoderSettings",
    "FrameInfo",
    "ProcessAudio",
    "ProcessFrame",
    "StreamInfo",
    "TranscodeReport",
    "VideoInfo",
    "add_stream_copy",
    "dropped_stream_note",
    "frames",
    "probe_video",
    "transcode",
    "truncation",
    "video_duration",
]
