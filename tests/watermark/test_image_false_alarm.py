"""The image watermark detector does not fire on pictures that carry no mark for its key.

300 unmarked crops (random sizes 256-512 px, random positions, some rescaled) of the sample
photos and of synthetic natural-looking pictures are each checked with a fresh random key; none
may be detected. A marked picture checked with wrong keys must not be detected either.
``bench/false_alarms.py`` runs the same check at a scale that measures the rate (README).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from marking.watermark.image import ImageDetection, detect_image, embed_image
from tests.conftest import natural_pixels
from tests.support.sample_photos import SAMPLE_PHOTOS, load_sample

pytestmark = pytest.mark.needs_watermark

UNMARKED_TRIALS = 300
SYNTHETIC_PICTURES = 6
SYNTHETIC_SIZE = (720, 640)  # width, height
#: Crop sides are drawn from this range; the aspect ratio stays within MAX_ASPECT so every
#: detection works on a picture of about the same size (the detector resamples to 512 px).
CROP_SIDES = (256, 512)
MAX_ASPECT = 1.25
RESIZED_FRACTION = 0.3
RESIZE_FACTORS = (0.6, 1.5)
WRONG_KEYS = 20


@dataclass(frozen=True)
class Trial:
    source: str
    shape: tuple[int, ...]
    result: ImageDetection


def synthetic_picture(seed: int) -> np.ndarray:
    pixels = natural_pixels(SYNTHETIC_SIZE, 3, seed=1000 + seed)
    return np.round(pixels * 255).astype(np.uint8)


def random_crop(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crop with sides in CROP_SIDES at a random position, sometimes rescaled (bicubic)."""
    height, width = picture.shape[:2]
    short = int(rng.integers(CROP_SIDES[0], min(CROP_SIDES[1], height, width) + 1))
    long_side = round(short * rng.uniform(1.0, MAX_ASPECT))
    crop_h, crop_w = (short, long_side) if rng.random() < 0.5 else (long_side, short)
    crop_h, crop_w = min(crop_h, height), min(crop_w, width)
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    crop = picture[top : top + crop_h, left : left + crop_w]
    if rng.random() < RESIZED_FRACTION:
        factor = rng.uniform(*RESIZE_FACTORS)
        size = (round(crop_w * factor), round(crop_h * factor))
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC))
    return np.ascontiguousarray(crop)


def unmarked_cases(count: int, seed: int = 2024) -> Iterator[tuple[str, np.ndarray, bytes]]:
    """``count`` (source name, unmarked crop, random key) cases, reproducibly."""
    rng = np.random.default_rng(seed)
    pictures = {name: load_sample(name, mode=None) for name in SAMPLE_PHOTOS}
    pictures.update(
        {f"synthetic-{seed}": synthetic_picture(seed) for seed in range(SYNTHETIC_PICTURES)}
    )
    names = list(pictures)
    for index in range(count):
        name = names[index % len(names)]
        yield name, random_crop(pictures[name], rng), rng.bytes(16)


@pytest.fixture(scope="module")
def unmarked_trials() -> list[Trial]:
    """Detection results on UNMARKED_TRIALS unmarked crops, each with its own random key."""
    return [
        Trial(name, crop.shape, detect_image(crop, key=key))
        for name, crop, key in unmarked_cases(UNMARKED_TRIALS)
    ]


def test_no_detection_on_unmarked_crops(unmarked_trials: list[Trial]) -> None:
    assert len(unmarked_trials) == UNMARKED_TRIALS
    detected = [trial for trial in unmarked_trials if trial.result.detected]
    assert not detected, [(t.source, t.shape, t.result.to_dict()) for t in detected]


def test_unmarked_results_are_well_formed(unmarked_trials: list[Trial]) -> None:
    for trial in unmarked_trials:
        result = trial.result
        assert result.payload is None
        assert 0.0 <= result.false_alarm <= 1.0
        assert np.isfinite(result.score)


def test_unmarked_score_distribution(unmarked_trials: list[Trial]) -> None:
    """Report the sync scores seen on unmarked pictures (run with ``-s`` to see them)."""
    scores = np.array([trial.result.score for trial in unmarked_trials])
    false_alarms = np.array([trial.result.false_alarm for trial in unmarked_trials])
    print(
        f"\nunmarked sync score over {scores.size} crops: max {scores.max():.3f}, "
        f"mean {scores.mean():.3f}, std {scores.std():.3f}, "
        f"99th percentile {np.percentile(scores, 99):.3f}; "
        f"smallest false_alarm {false_alarms.min():.3g}"
    )
    # Sanity only: the scores are normalised correlation peaks, not signal.
    assert 0.0 < scores.mean() < 10.0
    assert scores.max() < 10.0


def test_marked_image_not_detected_with_wrong_keys() -> None:
    original = load_sample("photo-astronaut.png", mode=None)
    marked = embed_image(original, key="the-right-key", payload="fedcba9876543210")
    assert detect_image(marked, key="the-right-key").payload == "fedcba9876543210"
    rng = np.random.default_rng(7)
    for _ in range(WRONG_KEYS):
        result = detect_image(marked, key=rng.bytes(16))
        assert not result.detected
        assert result.payload is None
        assert 0.0 <= result.false_alarm <= 1.0
