"""The keys, in order, of the records the embedding operations returned in 0.1: the tests of
the result types, of the file-level calls and of the command line all check against these."""

from __future__ import annotations

#: A sound's embedding (``embed_audio_file``, ``aigc-mark embed rec.wav --json``).
AUDIO_EMBEDDING_KEYS = [
    "input",
    "output",
    "kind",
    "payload",
    "snr_db",
    "format",
    "subtype",
    "sample_rate",
    "channels",
    "duration_s",
]

#: A video's embedding (``embed_video_file``, ``aigc-mark embed clip.mp4 --json``).
VIDEO_EMBEDDING_KEYS = [
    "input",
    "output",
    "kind",
    "payload",
    "psnr_min",
    "psnr_mean",
    "frames",
    "width",
    "height",
    "pix_fmt",
    "container",
    "encoder",
    "crf",
    "preset",
    "bitrate",
    "duration_s",
    "audio",
    "audio_stream",
    "audio_note",
    "copied_streams",
    "skipped_streams",
    "notes",
    "label",
    "seconds",
    "output_bitrate",
    "match_size",
]
