"""The sample photographs in samples/ (see samples/LICENSE.md), shared by the image tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_PHOTOS = [
    "photo-dandelions.jpg",
    "photo-dandelion-detail.jpg",
    "photo-astronaut.png",
    "photo-cameraman-gray.png",
    "photo-hubble-deep-field.jpg",
    "photo-retina.jpg",
]


def load_sample(name: str, mode: str | None = "RGB") -> np.ndarray:
    """A sample photo as a uint8 array, converted to ``mode`` (``None`` keeps its own mode)."""
    with Image.open(SAMPLES / name) as image:
        return np.asarray(image if mode is None else image.convert(mode)).copy()
