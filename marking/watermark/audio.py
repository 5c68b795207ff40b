"""Invisible audio watermark: a 64-bit payload in the short-time spectrum, found blindly.

How it works, in one paragraph. Audio is cut into 20 ms frames every 10 ms (50 Hz bins) at
whatever rate it comes in. A keyed pattern of 10 s (1,000 frames by the 120 bins from 300 Hz
to 6.3 kHz) gives every time-frequency slot a chip of +1 or -1; 20 % of the slots are a sync
reference, the rest carry the 282 coded bits of the payload (the image watermark's code and
CRC), each bit spread evenly over every second. Marking multiplies each slot's spectrum by
``exp(+-g)``: patchwork coding, read back as "log power above or below its neighbourhood", so
the host's own loudness and colour cancel. The gains are informed: per 2.5 s segment the
embedder measures how the host already projects onto each bit and spends gain only where the
host works against it, more on quiet slots (cheap in distortion) than on loud ones, inside a
per-frame masking budget (the mark's power stays 24 dB under the frame's). The pattern repeats
every 10 s, so the detector folds any excerpt onto one period, finds the phase by correlating
with the reference, decodes, and checks the CRC; if nothing is found it searches playback
speeds from 0.8 to 1.25, tempos from 0.9 to 1.1 and pitch shifts of +-2 semitones. Digital
silence stays exactly silent: the mark scales what is there.

The code is in four modules, gathered here: :mod:`~marking.watermark.audio_layout` (the keyed
layout and the frame grid), :mod:`~marking.watermark.audio_embed` (the streaming embedder),
:mod:`~marking.watermark.audio_detect` (the streaming detector) and
:mod:`~marking.watermark.audio_search` (its search over speed, tempo and pitch).
"""

from __future__ import annotations

from marking.scheme.limits import FALSE_ALARM_LIMIT
from marking.scheme.results import AudioDetection
from marking.watermark.audio_detect import (
    DECODE_ATTEMPTS,
    DETECT_MIN_RATE,
    MIN_DETECT_SECONDS,
    SUB_OFFSETS,
    SYNC_GATE,
    AudioDetector,
    detect_audio,
    iter_chunks,
)
from marking.watermark.audio_embed import (
    BUDGET_DB,
    FILL,
    GAIN_MAX,
    GAIN_ROUNDS,
    RESPONSE,
    RESPONSE_RANGE,
    SEGMENT,
    TARGET,
    WEIGHT_EXPONENT,
    AudioEmbedder,
    embed_audio,
)
from marking.watermark.audio_layout import (
    BANDS,
    FIRST_BIN,
    FRAME_SECONDS,
    FRAMES_PER_SECOND,
    LAYOUT_BLOCK,
    PERIOD,
    RATE_RANGE,
    REFERENCE_SHARE,
    AudioLayout,
    audio_layout,
)
from marking.watermark.audio_search import (
    COARSE_OFFSET_STEP,
    SPEED_COARSE,
    SPEED_COARSE_SECONDS,
    SPEED_FINE,
    SPEED_GATE,
    SPEED_KEEP,
)

__all__ = [
    "BANDS",
    "BUDGET_DB",
    "COARSE_OFFSET_STEP",
    "DECODE_ATTEMPTS",
    "DETECT_MIN_RATE",
    "FALSE_ALARM_LIMIT",
    "FILL",
    "FIRST_BIN",
    "FRAMES_PER_SECOND",
    "FRAME_SECONDS",
    "GAIN_MAX",
    "GAIN_ROUNDS",
    "LAYOUT_BLOCK",
    "MIN_DETECT_SECONDS",
    "PERIOD",
    "RATE_RANGE",
    "REFERENCE_SHARE",
    "RESPONSE",
    "RESPONSE_RANGE",
    "SEGMENT",
    "SPEED_COARSE",
    "SPEED_COARSE_SECONDS",
    "SPEED_FINE",
    "SPEED_GATE",
    "SPEED_KEEP",
    "SUB_OFFSETS",
    "SYNC_GATE",
    "TARGET",
    "WEIGHT_EXPONENT",
    "AudioDetection",
    "AudioDetector",
    "AudioEmbedder",
    "AudioLayout",
    "audio_layout",
    "detect_audio",
    "embed_audio",
    "iter_chunks",
]
