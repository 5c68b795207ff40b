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


def rotate(a: np.ndarray, degrees: float, expand: bool = False) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees`` (bicubic). On the same canvas the corners are
    filled black and the picture's own corners cut off; ``expand`` grows the canvas instead."""
    return np.asarray(
        _to_pil(a).rotate(degrees, Image.Resampling.BICUBIC, expand=expand, fillcolor=0)
    ).copy()


def rotate_cropped(a: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate by ``degrees``, then keep the largest centred rectangle of the original aspect
    that holds no filled corner: what a photo editor's "straighten" does."""
    turned = rotate(a, degrees)
    height, width = a.shape[:2]
    cos, sin = math.cos(math.radians(abs(degrees))), math.sin(math.radians(abs(degrees)))
    keep = min(width / (width * cos + height * sin), height / (width * sin + height * cos))
    new_h, new_w = int(height * keep), int(width * keep)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    return np.ascontiguousarray(turned[top : top + new_h, left : left + new_w])


def quarter_turn(a: np.ndarray, turns: int) -> np.ndarray:
    """Rotate counter-clockwise by ``turns`` x 90 degrees (lossless)."""
    _check(a)
    return np.ascontiguousarray(np.rot90(a, turns))


def flip(a: np.ndarray, horizontal: bool) -> np.ndarray:
    """Mirror left-right (``horizontal``) or top-bottom (lossless)."""
    _check(a)
    return np.ascontiguousarray(a[:, ::-1] if horizontal else a[::-1])


def stretch(a: np.ndarray, width_factor: float, height_factor: float) -> np.ndarray:
    """Resize each side by its own factor (bicubic): a change of aspect ratio."""
    image = _to_pil(a)
    size = (round(image.width * width_factor), round(image.height * height_factor))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC)).copy()


def shear(a: np.ndarray, amount: float) -> np.ndarray:
    """Horizontal shear: row y moves by ``amount * (y - centre)`` px (bicubic, same canvas)."""
    image = _to_pil(a)
    offset = -amount * image.height / 2
    return np.asarray(
        image.transform(
            image.size,
            Image.Transform.AFFINE,
            (1, amount, offset, 0, 1, 0),
            Image.Resampling.BICUBIC,
            fillcolor=0,
        )
    ).copy()


def perspective(a: np.ndarray, moves: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Move the four corners (top-left, top-right, bottom-right, bottom-left) by ``moves``, each
    (dx, dy) as shares of the width and height, and warp the picture to match: a photo of a
    screen. Same canvas, uncovered areas black."""
    image = _to_pil(a)
    width, height = image.size
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    moved = [
        (x + dx * width, y + dy * height) for (x, y), (dx, dy) in zip(corners, moves, strict=True)
    ]
    # Pillow maps each output pixel back to the input: solve for the homography moved -> corners.
    rows, values = [], []
    for (x, y), (u, v) in zip(moved, corners, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values.extend([u, v])
    coefficients = np.linalg.solve(np.array(rows), np.array(values))
    return np.asarray(
        image.transform(
            image.size,
            Image.Transform.PERSPECTIVE,
            tuple(coefficients),
            Image.Resampling.BICUBIC,
            fillcolor=0,
        )
    ).copy()


#: A mild perspective: each corner moved by up to 4 % of the side, as a photo of a screen gives.
SCREEN_PHOTO = ((0.04, 0.02), (-0.03, 0.04), (-0.04, -0.01), (0.02, -0.04))

#: Issue 19's geometric attacks: name -> function of one uint8 image array.
GEOMETRIC_ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **{f"rotate{d:+g}": (lambda a, d=d: rotate(a, d)) for d in (1, -1, 3, -3, 7, -7, 15, -15)},
    **{f"rotate{d:+g}-cropped": (lambda a, d=d: rotate_cropped(a, d)) for d in (3, -7, 15)},
    **{f"turn-{90 * t}": (lambda a, t=t: quarter_turn(a, t)) for t in (1, 2, 3)},
    "flip-horizontal": lambda a: flip(a, True),
    "flip-vertical": lambda a: flip(a, False),
    "width-0.8": lambda a: stretch(a, 0.8, 1.0),
    "width-1.25": lambda a: stretch(a, 1.25, 1.0),
    "height-0.9": lambda a: stretch(a, 1.0, 0.9),
    "shear-5pct": lambda a: shear(a, 0.05),
    "perspective-4pct": lambda a: perspective(a, SCREEN_PHOTO),
    "rotate+3+resize-0.75+jpeg-q75": lambda a: jpeg(resize(rotate(a, 3), 0.75), 75),
    "height-0.9+resize-0.75+jpeg-q75": lambda a: jpeg(resize(stretch(a, 1.0, 0.9), 0.75), 75),
    "perspective-4pct+resize-0.75+jpeg-q75": lambda a: jpeg(
        resize(perspective(a, SCREEN_PHOTO), 0.75), 75
    ),
}


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
