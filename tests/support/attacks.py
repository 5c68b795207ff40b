"""Image attacks for watermark robustness tests and the benchmark.

Every attack is a pure function: it takes a uint8 image array, (H, W) greyscale or (H, W, 3)
RGB, never modifies it, and returns a new uint8 array (whose size may differ). They use only
Pillow and NumPy, so the tests and the benchmark apply exactly the same distortions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

#: Pillow's ``subsampling`` values: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.
SUBSAMPLING_420 = 2


def _check(a: np.ndarray) -> None:
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, 3) array, got {a.dtype} {a.shape}")


def _to_pil(a: np.ndarray) -> Image.Image:
    _check(a)
    return Image.fromarray(np.ascontiguousarray(a), "L" if a.ndim == 2 else "RGB")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def jpeg(a: np.ndarray, quality: int, subsampling: int = SUBSAMPLING_420) -> np.ndarray:
    """Compress to JPEG at ``quality`` (chroma ``subsampling`` 2 = 4:2:0) and decode again."""
    image = _to_pil(a)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert(image.mode)).copy()


def resize(a: np.ndarray, factor: float) -> np.ndarray:
    """Scale both sides by ``factor`` with Pillow's bicubic filter (the size is not restored)."""
    image = _to_pil(a)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC)).copy()


def center_crop(a: np.ndarray, area_fraction: float) -> np.ndarray:
    """Keep the centred rectangle with ``area_fraction`` of the area (same aspect ratio)."""
    _check(a)
    if not 0 < area_fraction <= 1:
        raise ValueError("area_fraction must be in (0, 1]")
    height, width = a.shape[:2]
    side = math.sqrt(area_fraction)
    new_h, new_w = max(1, round(height * side)), max(1, round(width * side))
    top, left = (height - new_h) // 2, (width - new_w) // 2
    return a[top : top + new_h, left : left + new_w].copy()


def crop_edges(a: np.ndarray, left: int, top: int) -> np.ndarray:
    """Cut ``left`` columns off the left edge and ``top`` rows off the top edge."""
    _check(a)
    return a[top:, left:].copy()


def brightness(a: np.ndarray, factor: float) -> np.ndarray:
    """Multiply every value by ``factor`` (1.2 = 20 % brighter), clipping to 0..255."""
    _check(a)
    return _to_uint8(a.astype(np.float64) * factor)


def contrast(a: np.ndarray, factor: float) -> np.ndarray:
    """Scale deviations from the image's mean value by ``factor`` (< 1 flattens)."""
    _check(a)
    values = a.astype(np.float64)
    mean = float(values.mean())
    return _to_uint8(mean + (values - mean) * factor)


def gaussian_noise(a: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma`` (8-bit units), reproducibly."""
    _check(a)
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=a.shape)
    return _to_uint8(a.astype(np.float64) + noise)


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Pillow's Gaussian blur; its ``radius`` is the kernel's standard deviation."""
    return np.asarray(_to_pil(a).filter(ImageFilter.GaussianBlur(radius=sigma))).copy()


def pad_to_aspect(a: np.ndarray, aspect: float, value: int = 0) -> np.ndarray:
    """Place the picture in the middle of the smallest canvas of ``aspect`` (width / height)
    that holds it, the rest filled with ``value`` (letterbox or pillarbox)."""
    _check(a)
    height, width = a.shape[:2]
    if width / height < aspect:
        canvas_width, canvas_height = round(height * aspect), height
    else:
        canvas_width, canvas_height = width, round(width / aspect)
    canvas = np.full((canvas_height, canvas_width, *a.shape[2:]), value, dtype=np.uint8)
    top, left = (canvas_height - height) // 2, (canvas_width - width) // 2
    canvas[top : top + height, left : left + width] = a
    return canvas


def _none(a: np.ndarray) -> np.ndarray:
    _check(a)
    return a.copy()


#: The acceptance list: attack name -> function of one uint8 image array.
IMAGE_ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": _none,
    "jpeg-q50-420": lambda a: jpeg(a, 50, SUBSAMPLING_420),
    "resize-0.5": lambda a: resize(a, 0.5),
    "resize-0.75": lambda a: resize(a, 0.75),
    "center-crop-50pct-area": lambda a: center_crop(a, 0.5),
    "crop-10px-left-top": lambda a: crop_edges(a, 10, 10),
    "brightness+20%": lambda a: brightness(a, 1.2),
    "brightness-20%": lambda a: brightness(a, 0.8),
    "contrast-0.8": lambda a: contrast(a, 0.8),
    "noise-sigma5": lambda a: gaussian_noise(a, 5.0, seed=0),
    "blur-sigma1": lambda a: gaussian_blur(a, 1.0),
    "resize-0.5+jpeg-q75": lambda a: jpeg(resize(a, 0.5), 75, SUBSAMPLING_420),
}
