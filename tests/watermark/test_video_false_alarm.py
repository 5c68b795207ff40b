"""The video watermark detector does not fire on video that carries no mark for its key.

Unmarked clips of every kind in :mod:`tests.support.video_clips` (the real *Big Buck Bunny*
excerpt, a
pan and a tripod shot over photos), at three frame shapes (640x360, 480x270 and portrait
360x640) and two seeds (another start frame, another photo), 2 s each, are checked with the
test key and with two random keys each: 54 detections, none may report a mark. Each clip is
decoded once and every frame goes to one :class:`~marking.watermark.video.VideoDetector` per
key. A marked clip read with wrong keys must not be detected either (while its own key finds
it).

The detector reports a mark only when its false-alarm probability (the search over tile
periods and positions, times the CRC-24 check) is at most 1e-6 per file, so zero detections
here is the expected outcome, not a tuned one; the reported probabilities must also stay
probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from marking.kernels.config import single_threaded
from marking.media.video import EncoderSettings, FrameInfo, frames, transcode
from marking.watermark.image import FALSE_ALARM_LIMIT
from marking.watermark.video import VideoDetection, VideoDetector, VideoMarker
from tests.support.video_clips import KINDS, clip_path

KEY = "video-false-alarm-test-key"
PAYLOAD = "00c0ffee00c0ffee"
SIZES = ((640, 360), (480, 270), (360, 640))
SEEDS = (1, 2)
SECONDS = 2.0
RANDOM_KEYS = 2
WRONG_KEYS = 10
FPS = {"bbb": 25, "pan": 30, "static": 30}


def detect_with_keys(path: Path, keys: list[str]) -> list[VideoDetection]:
    """One detection per key over every frame of ``path``, decoding it once."""
    detectors = [VideoDetector(key=key) for key in keys]
    for planes, info in frames(path):
        for detector in detectors:
            detector.push_plane(planes[0], max_value=info.max_value)
    return [detector.result() for detector in detectors]


def _random_keys(rng: np.random.Generator, count: int) -> list[str]:
    return [rng.bytes(16).hex() for _ in range(count)]


def _unmarked_cases() -> list[object]:
    return [
        pytest.param(kind, size, seed, id=f"{kind}-{size[0]}x{size[1]}-seed{seed}")
        for kind in KINDS
        for size in SIZES
        for seed in SEEDS
    ]


@pytest.mark.parametrize(("kind", "size", "seed"), _unmarked_cases())
def test_unmarked_clips_are_not_detected(kind: str, size: tuple[int, int], seed: int) -> None:
    width, height = size
    path = clip_path(
        kind, width=width, height=height, fps=FPS[kind], seconds=SECONDS, audio=False, seed=seed
    )
    rng = np.random.default_rng([seed, width, height, len(kind)])
    keys = [KEY, *_random_keys(rng, RANDOM_KEYS)]
    for key, found in zip(keys, detect_with_keys(path, keys), strict=True):
        assert not found.detected, (
            f"{kind} {width}x{height} seed {seed}, key {key!r}: detected payload "
            f"{found.payload} (false alarm {found.false_alarm:.2e}, score {found.score:.2f})"
        )
        assert found.payload is None
        assert 0.0 <= found.false_alarm <= 1.0
        assert found.false_alarm > FALSE_ALARM_LIMIT
        assert found.frames == round(SECONDS * FPS[kind])


def test_a_marked_clip_is_not_detected_with_wrong_keys(tmp_path: Path) -> None:
    source = clip_path("bbb", width=640, height=360, fps=25, seconds=SECONDS, audio=False)
    marker = VideoMarker(payload=PAYLOAD, key=KEY)

    def mark(planes: list[np.ndarray], info: FrameInfo) -> None:
        marker.mark_plane(planes[0], max_value=info.max_value)

    marked = tmp_path / "marked.mp4"
    with single_threaded():
        transcode(source, marked, mark, EncoderSettings())
    wrong = [f"{KEY}-wrong-{i}" for i in range(WRONG_KEYS // 2)]
    wrong += _random_keys(np.random.default_rng(7), WRONG_KEYS - len(wrong))
    right, *others = detect_with_keys(marked, [KEY, *wrong])
    assert right.detected
    assert right.payload == PAYLOAD
    for key, found in zip(wrong, others, strict=True):
        assert not found.detected, (
            f"wrong key {key!r}: detected {found.payload} (false alarm {found.false_alarm:.2e})"
        )
        assert found.false_alarm > FALSE_ALARM_LIMIT
