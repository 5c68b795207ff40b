"""Pictures as pixel arrays for the image watermark: NumPy arrays and PIL images in, the same
type out, read a strip or a region at a time so that no full-size float copy of a large picture
is ever made; and the luma PSNR of a change, summed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from marking.errors import UnsupportedInputError
from marking.kernels.luma import luma, luma_squared_difference

#: Luma is computed a strip of about this many pixels at a time, so neither embedding nor
#: detection holds a full-size float copy of the picture (4 bytes a pixel, 8 in float64).
STRIP_PIXELS = 1 << 20


# --- pixels in and out -------------------------------------------------------------------


@dataclass(frozen=True)
class Pixels:
    """A picture's pixels as an (H, W, C) array, and how to turn marked values back."""

    array: np.ndarray  # (H, W, C) view or copy of the input's pixels
    to_8bit: float  # multiply values by this to get 8-bit units
    value_max: float  # outputs are clipped to 0..value_max
    round_values: bool  # integer pixels: round the marked values
    rebuild: Any  # turns the marked (H, W, C) array back into the input's type


def as_pixels(image: Any, value_max: float | None = None) -> Pixels:
    """Accept an ndarray ((H,W), (H,W,3), (H,W,4); uint8, uint16, float) or a PIL image.

    ``value_max`` gives the range of a float or 32-bit picture when it was judged on the whole
    picture already (this being a strip of it); otherwise it is judged from the values.
    """
    if isinstance(image, np.ndarray):
        return _array_pixels(image, lambda marked: marked, value_max)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _pil_pixels(image, value_max)
    raise UnsupportedInputError(
        f"expected a NumPy array or a PIL image, got {type(image).__name__}"
    )


def _array_pixels(array: np.ndarray, finish: Any, value_max: float | None = None) -> Pixels:
    if array.ndim == 2:
        pixels = array[:, :, None]
        restore = lambda marked: finish(marked[:, :, 0])  # noqa: E731
    elif array.ndim == 3 and array.shape[2] in (1, 3, 4):
        pixels = array
        restore = finish
    else:
        raise UnsupportedInputError(
            f"image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}"
        )
    if array.dtype == np.uint8:
        value_max = 255.0
    elif array.dtype == np.uint16:
        value_max = 65535.0
    elif array.dtype in (np.float32, np.float64):
        if not np.isfinite(array).all():
            raise UnsupportedInputError("image contains NaN or infinite values")
        value_max = value_max or _value_range(array)
    else:
        raise UnsupportedInputError(f"unsupported image dtype {array.dtype}")
    return Pixels(
        np.ascontiguousarray(pixels),
        255.0 / value_max,
        value_max,
        array.dtype.kind != "f",
        restore,
    )


def _value_range(array: np.ndarray) -> float:
    """The top of the range a float or 32-bit picture is in, judged by its values.

    0..1, 0..255 and 0..65535 are the usual ranges; a wider one is taken up to the next power of
    two, so the mark is scaled to the picture's own range and nothing is clipped. Negative values
    mean a normalised or signed picture, whose range cannot be guessed: refused.
    """
    if not array.size:
        return 1.0
    return _range_top(float(array.min()), float(array.max()))


def _range_top(low: float, peak: float) -> float:
    """:func:`_value_range` from the picture's lowest and highest value."""
    if low < 0:
        raise UnsupportedInputError(
            "image has negative values; give pixels in 0..1, 0..255 or 0..65535"
        )
    for top in (1.0, 255.0, 65535.0):
        if peak <= top:
            return top
    return float(2.0 ** math.ceil(math.log2(peak + 1.0)) - 1.0)


def _pil_pixels(image: Any, value_max: float | None = None) -> Pixels:
    from PIL import Image

    mode = image.mode
    if mode in ("L", "RGB", "RGBA", "LA"):
        array = _pil_array(image)
        if mode == "LA":
            # Carry the mark in L as one grey channel and keep alpha aside, untouched: no
            # stacked copies of a large picture (L, L, L, alpha took 2.8 GB at 200 MP).
            grey = np.ascontiguousarray(array[:, :, :1])
            alpha = np.ascontiguousarray(array[:, :, 1])
            del array

            def merge_alpha(marked: np.ndarray) -> Any:
                planes = (Image.fromarray(marked[:, :, 0], "L"), Image.fromarray(alpha, "L"))
                return Image.merge("LA", planes)

            return Pixels(grey, 1.0, 255.0, True, merge_alpha)
        return _array_pixels(array, lambda marked: Image.fromarray(marked, mode))
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        array = _pil_array(image, np.uint16)
        return _array_pixels(array, lambda marked: Image.fromarray(marked))
    if mode in ("I", "F"):
        array = _pil_array(image, np.float32)
        if mode == "I":

            def finish_int(marked: np.ndarray) -> Any:
                return Image.fromarray(_as_int32_in_place(marked), "I")

            value_max = value_max or max(255.0, _value_range(array))
            return Pixels(
                np.ascontiguousarray(array[:, :, None]),
                255.0 / value_max,
                value_max,
                True,
                lambda marked: finish_int(marked[:, :, 0]),
            )
        return _array_pixels(array, lambda marked: Image.fromarray(marked, "F"), value_max)
    raise UnsupportedInputError(
        f"image mode {mode} is not supported (use L, LA, RGB, RGBA, I;16, I or F)"
    )


def _as_int32_in_place(values: np.ndarray) -> np.ndarray:
    """Float32 values that are whole numbers (the kernel rounds them) as int32, converted a
    strip at a time in their own memory: no second full-size array."""
    ints = values.view(np.int32)
    rows = strip_rows(values.shape[1] if values.ndim > 1 else 1)
    for top in range(0, values.shape[0], rows):
        ints[top : top + rows] = values[top : top + rows]  # numpy buffers the overlap
    return ints


def _pil_array(image: Any, dtype: Any = None) -> np.ndarray:
    """``np.asarray(image)`` (as ``dtype`` if given), filled a strip at a time for a large
    picture: Pillow's own conversion goes through ``tobytes``, which holds the pixels twice
    more at its peak (its chunks and their join), 1.2 GB for a 200 MP RGB picture, and a
    conversion afterwards would hold them once more."""
    width, height = image.size
    if width * height <= STRIP_PIXELS:
        array = np.asarray(image)
        return array if dtype is None else array.astype(dtype, copy=False)
    first = np.asarray(image.crop((0, 0, width, 1)))
    array = np.empty((height, *first.shape[1:]), dtype or first.dtype)
    rows = strip_rows(width)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        array[top:bottom] = np.asarray(image.crop((0, top, width, bottom)))
    return array


@dataclass(frozen=True)
class Regions:
    """A picture read a region at a time: a PIL image is converted one strip at a time and an
    array only sliced, so no full-size copy of a large picture is made."""

    height: int
    width: int
    to_8bit: float
    dtype: np.dtype
    read: Callable[[int, int, int, int], np.ndarray]  # (top, bottom, left, right) -> (h, w, C)


def region_reader(image: Any) -> Regions:
    """Region reader of an ndarray or PIL image (see :func:`as_pixels` for what is accepted)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        pixels = as_pixels(image)
        height, width = pixels.array.shape[:2]
        array = pixels.array
        return Regions(
            height,
            width,
            pixels.to_8bit,
            array.dtype,
            lambda top, bottom, left, right: array[top:bottom, left:right],
        )
    value_max = None
    if image.mode in ("I", "F"):
        # The range is judged on the whole picture, as a full conversion would judge it.
        low, high = image.getextrema()
        if not (math.isfinite(low) and math.isfinite(high)):
            raise UnsupportedInputError("image contains NaN or infinite values")
        value_max = _range_top(float(low), float(high))
        value_max = max(255.0, value_max) if image.mode == "I" else value_max

    def read(top: int, bottom: int, left: int, right: int) -> np.ndarray:
        return _pil_pixels(image.crop((left, top, right, bottom)), value_max).array

    probe = _pil_pixels(image.crop((0, 0, 1, 1)), value_max)
    width, height = image.size
    return Regions(height, width, probe.to_8bit, probe.array.dtype, read)


def strip_rows(width: int, multiple: int = 1) -> int:
    """Rows per strip of about STRIP_PIXELS pixels, a multiple of ``multiple``."""
    return max(1, STRIP_PIXELS // max(width, 1) // multiple) * multiple


# --- luma PSNR ---------------------------------------------------------------------------


def luma_psnr(original: Any, marked: Any) -> float:
    """PSNR of the luma planes in dB (8-bit scale); infinite when they are identical."""
    first, second = region_reader(original), region_reader(marked)
    # A marked float picture may peak a little higher than its original: judge the range once.
    same_kind = first.dtype == second.dtype
    if (first.height, first.width) != (second.height, second.width):
        raise ValueError(
            f"shapes differ: {(first.height, first.width)} vs {(second.height, second.width)}"
        )
    return psnr_by_strips(
        first, second, first.to_8bit, first.to_8bit if same_kind else second.to_8bit
    )


def psnr_by_strips(
    original: np.ndarray | Regions,
    marked: np.ndarray | Regions,
    original_to_8bit: float,
    marked_to_8bit: float,
) -> float:
    """Luma PSNR (dB) of two same-sized pictures (arrays (H, W, C) or region readers), summed
    a strip at a time so no full-size float plane is made (two arrays: in one pass)."""
    if (
        isinstance(original, np.ndarray)
        and isinstance(marked, np.ndarray)
        and original.shape == marked.shape
        and original.dtype == marked.dtype
        and original_to_8bit == marked_to_8bit
    ):
        squared = luma_squared_difference(original, marked, original_to_8bit)
        mse = squared / max(original.shape[0] * original.shape[1], 1)
        return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    readers = [
        picture.read if isinstance(picture, Regions) else _slicer(picture)
        for picture in (original, marked)
    ]
    height, width = (
        (original.height, original.width) if isinstance(original, Regions) else original.shape[:2]
    )
    rows = strip_rows(width)
    squared = 0.0
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        before = luma(readers[0](top, bottom, 0, width), original_to_8bit)
        after = luma(readers[1](top, bottom, 0, width), marked_to_8bit)
        difference = before.astype(np.float64) - after
        squared += float(np.dot(difference.ravel(), difference.ravel()))
    mse = squared / max(height * width, 1)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _slicer(array: np.ndarray) -> Callable[[int, int, int, int], np.ndarray]:
    return lambda top, bottom, left, right: array[top:bottom, left:right]
