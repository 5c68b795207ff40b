"""Invisible image watermark: embed a 64-bit payload in luma, find it blindly after attacks.

How it works, in one paragraph. A key-driven tile (see :mod:`marking.scheme.tile_pattern`) is scaled
so that its period is a quarter of the picture's short side (never less than 128 px), shaped by
a perceptual mask and added to luma over the whole picture. Before adding it, the embedder looks
at how the picture itself projects onto each payload bit and reference chip (improved spread
spectrum) and leans against it, so the picture's own content does not outvote the mark. The
detector resamples the picture to a working size and tries first the periods an uncropped
picture has (a quarter of its short side, whatever resize it went through); only if that fails
does it scan the whole range crops can produce (a half-size scan, then full size around its best
periods). It folds the picture at each period onto one tile, finds the tile's position by phase
correlation with the reference, and decodes the payload through the error-correcting code and
its CRC. The false-alarm probability combines the reference correlation's tail probability,
corrected for every position and scale tried, with the CRC's 2**-24 chance of accepting noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from marking.errors import InputTooSmallError, UnsupportedInputError
from marking.kernels.block_dct import block_dct8
from marking.kernels.luma import luma
from marking.kernels.masking import CONTRAST_MASKING_EXPONENT, block_std
from marking.kernels.tiling import add_tiled_pattern, fold_periodic, fold_scaled_many
from marking.scheme.keys import Key, as_key
from marking.scheme.limits import FALSE_ALARM_LIMIT, MIN_DETECT_SIDE, MIN_SIDE
from marking.scheme.payload import (
    CHECK_BITS,
    CODED_BITS,
    decode_payload,
    encode_payload,
    parse_payload,
    random_payload,
)
from marking.scheme.results import ImageDetection
from marking.scheme.tile_pattern import (
    TILE,
    CarrierLayout,
    carrier_layout,
    coefficients_to_tile,
    payload_statistics,
    position_scales,
    tile_coefficients,
    whitened_coefficients,
)

#: Short side at which the tile period is exactly :data:`TILE`; larger pictures scale the tile.
REFERENCE_SIDE = 512
#: RMS of the luma change at strength 1, in 8-bit units: PSNR = 20 log10(255 / 1.9) = 42.6 dB.
BASE_AMPLITUDE = 1.9
#: Improved spread spectrum: how much of the picture's own projection the embedder cancels.
HOST_CANCELLATION = 1.0
REFERENCE_CANCELLATION = 0.5
MAX_BIT_GAIN = 3.0

#: Detection works on the picture resampled to this short side.
WORKING_SIDE = 512
#: Tile periods searched, as fractions of the working short side: from an uncropped picture
#: (1/4, with slack for small crops) to one whose short side was cropped to about 45 %.
PERIOD_RANGE = (1 / 4.4, 1 / 1.8)
FINE_STEP = 0.0025
#: The half-size scan keeps a narrower band, so its peaks are wider and it can step further.
COARSE_STEP = 0.004
PRIOR_STEPS = 8
COARSE_KEEP = 4
PRIOR_SPAN = PRIOR_STEPS * FINE_STEP
PERIOD_NUDGES = (
    (1 + FINE_STEP, 1.0),
    (1 - FINE_STEP, 1.0),
    (1.0, 1 + FINE_STEP),
    (1.0, 1 - FINE_STEP),
)
PREFILTER_SIGMA = 3.0
#: Decoding is attempted only above this reference correlation (noise peaks sit near 4.5-5).
SYNC_GATE = 4.0
DECODE_ATTEMPTS = 2
#: Luma is computed a strip of about this many pixels at a time, so neither embedding nor
#: detection holds a full-size float copy of the picture (4 bytes a pixel, 8 in float64).
STRIP_PIXELS = 1 << 20
#: Detection reads at most this many short sides along the long side, a centred crop: the
#: working plane (short side WORKING_SIDE) of a thinner picture grows with its aspect ratio
#: (96 x 2,000,000 px gave 5.5 gigapixels). The mark repeats over the whole picture, so the
#: crop still holds 32 periods of it; the odds of a false alarm do not depend on the crop.
MAX_DETECT_ASPECT = 8


# --- pixels in and out -------------------------------------------------------------------


@dataclass(frozen=True)
class _Pixels:
    array: np.ndarray  # (H, W, C) view or copy of the input's pixels
    to_8bit: float  # multiply values by this to get 8-bit units
    value_max: float  # outputs are clipped to 0..value_max
    round_values: bool  # integer pixels: round the marked values
    rebuild: Any  # turns the marked (H, W, C) array back into the input's type


def as_pixels(image: Any, value_max: float | None = None) -> _Pixels:
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


def _array_pixels(array: np.ndarray, finish: Any, value_max: float | None = None) -> _Pixels:
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
    return _Pixels(
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


def _pil_pixels(image: Any, value_max: float | None = None) -> _Pixels:
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

            return _Pixels(grey, 1.0, 255.0, True, merge_alpha)
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
            return _Pixels(
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
    rows = _strip_rows(values.shape[1] if values.ndim > 1 else 1)
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
    rows = _strip_rows(width)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        array[top:bottom] = np.asarray(image.crop((0, top, width, bottom)))
    return array


@dataclass(frozen=True)
class _Regions:
    """A picture read a region at a time: a PIL image is converted one strip at a time and an
    array only sliced, so no full-size copy of a large picture is made."""

    height: int
    width: int
    to_8bit: float
    dtype: np.dtype
    read: Callable[[int, int, int, int], np.ndarray]  # (top, bottom, left, right) -> (h, w, C)


def _regions(image: Any) -> _Regions:
    """Region reader of an ndarray or PIL image (see :func:`as_pixels` for what is accepted)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        pixels = as_pixels(image)
        height, width = pixels.array.shape[:2]
        array = pixels.array
        return _Regions(
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
    return _Regions(height, width, probe.to_8bit, probe.array.dtype, read)


def _strip_rows(width: int, multiple: int = 1) -> int:
    """Rows per strip of about STRIP_PIXELS pixels, a multiple of ``multiple``."""
    return max(1, STRIP_PIXELS // max(width, 1) // multiple) * multiple


# --- shared signal processing ------------------------------------------------------------


def resize_periodic(tile: np.ndarray, size: int) -> np.ndarray:
    """Resample one period of a periodic pattern to ``size`` x ``size`` (Fourier, exact).

    Frequencies both sizes can hold are kept, the rest dropped (down) or zero (up); the
    patterns here are band-limited well below either Nyquist frequency.
    """
    from scipy import fft

    n = tile.shape[0]
    if size == n:
        return tile.astype(np.float32)
    half = min(n, size) // 2
    spectrum = fft.rfft2(tile, workers=-1)
    out = np.zeros((size, size // 2 + 1), np.complex128)
    out[:half, :half] = spectrum[:half, :half]
    out[size - half :, :half] = spectrum[n - half :, :half]
    return (fft.irfft2(out, s=(size, size), workers=-1) * (size * size) / (n * n)).astype(
        np.float32
    )


@lru_cache(maxsize=4)
def _highpass_response(size: int, sigma: float) -> np.ndarray:
    """Gain of "picture minus its Gaussian blur" on the half spectrum of a size x size tile."""
    radius2 = np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2
    return 1.0 - np.exp(-2 * np.pi**2 * sigma**2 * radius2)


def _circular_highpass(tile: np.ndarray, sigma: float = PREFILTER_SIGMA) -> np.ndarray:
    """The detector's prefilter applied to one period of a periodic pattern."""
    from scipy import fft

    size = tile.shape[0]
    spectrum = fft.rfft2(tile) * _highpass_response(size, sigma)
    return fft.irfft2(spectrum, s=(size, size)).astype(np.float32)


def perceptual_mask(plane: np.ndarray, block: int) -> np.ndarray:
    """Per-block gain with mean square 1: stronger in texture, weaker in flat areas."""
    return _mask_from_activity(block_std(plane, block))


def _mask_from_activity(activity: np.ndarray) -> np.ndarray:
    """:func:`perceptual_mask` from the per-block standard deviation of luma."""
    mask = (activity + 1.0) ** CONTRAST_MASKING_EXPONENT
    mask /= math.sqrt(float(np.mean(mask**2)))
    mask = np.clip(mask, 0.3, 3.0)
    return (mask / math.sqrt(float(np.mean(mask**2)))).astype(np.float32)


def tile_period(height: int, width: int) -> int:
    """Tile period in pixels for a picture of this size: a quarter of the short side, >= TILE."""
    return max(TILE, round(TILE * min(height, width) / REFERENCE_SIDE))


def _mask_block(period: int) -> int:
    """Side of the perceptual mask's blocks for a tile of this period."""
    return max(8, round(8 * period / TILE))


# --- embedding ---------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _unit_response(layout: CarrierLayout, payload: bytes) -> np.ndarray:
    """What the detector reads from the unit-RMS tile of this payload (before any gains)."""
    nominal = coefficients_to_tile(tile_coefficients(layout, encode_payload(payload)))
    return block_dct8(_circular_highpass(nominal / nominal.std()))


#: Smallest DCT spread the informed gains divide by (luma in 0-255 units): far below any
#: textured picture's, high enough that chip / spread stays finite in float32.
SPREAD_FLOOR = 1e-12


def _informed_gains(
    layout: CarrierLayout,
    payload: bytes,
    coded: np.ndarray,
    folded: np.ndarray,
    pixel_count: int,
    period: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bit and per-reference-chip gains that cancel the picture's own projection.

    The detector sees the picture folded onto one tile. Folding the host here the same way
    tells, for every coded bit, whether the picture already pushes its statistic the right or
    the wrong way; the bit's amplitude is lowered or raised to compensate (Malvar and Florencio's
    improved spread spectrum). Gains are clipped, and the tile is renormalised afterwards, so
    the total watermark energy (and the PSNR) does not change. ``folded`` is the picture's luma
    folded at ``period`` (:func:`fold_periodic`), ``pixel_count`` the number of pixels folded.
    """
    host = block_dct8(_circular_highpass(resize_periodic(folded, TILE)))
    # A flat picture's spreads sit at position_scales' relative floor (1e-36 when they are all
    # zero): chip / spread then overflowed float32 once the response grew with the pixel count
    # (a black 300 x 60,000 picture), every gain became NaN and the picture was left unmarked.
    # The absolute floor binds only there; any picture with texture keeps its exact gains.
    scales = np.tile(np.maximum(position_scales(host), SPREAD_FLOOR), (TILE // 8, TILE // 8))
    response = _unit_response(layout, payload) * (BASE_AMPLITUDE * pixel_count / period**2)
    symbols = coded.astype(np.float64) * 2 - 1
    host_chips = host[layout.payload_rows, layout.payload_cols] * layout.payload_signs
    mark_chips = response[layout.payload_rows, layout.payload_cols] * layout.payload_signs
    weights = 1.0 / scales[layout.payload_rows, layout.payload_cols]
    host_bits = np.bincount(layout.chip_bit, host_chips * weights, minlength=CODED_BITS)
    mark_bits = np.bincount(layout.chip_bit, mark_chips * weights, minlength=CODED_BITS) * symbols
    bit_gains = 1.0 - HOST_CANCELLATION * symbols * host_bits / np.maximum(mark_bits, 1e-9)
    host_ref = host[layout.reference_rows, layout.reference_cols] * layout.reference_signs
    mark_ref = response[layout.reference_rows, layout.reference_cols] * layout.reference_signs
    ref_gains = 1.0 - REFERENCE_CANCELLATION * host_ref / np.maximum(mark_ref, 1e-9)
    return (
        np.clip(bit_gains, 0.2, MAX_BIT_GAIN).astype(np.float32),
        np.clip(ref_gains, 0.0, MAX_BIT_GAIN).astype(np.float32),
    )


def embed_image(
    image: Any,
    *,
    key: Key | str | bytes | None = None,
    payload: bytes | str | int | None = None,
    strength: float = 1.0,
) -> Any:
    """Return a marked copy of ``image`` carrying ``payload`` (64 bits) under ``key``.

    ``image`` is an ndarray ((H, W), (H, W, 3) or (H, W, 4); uint8, uint16 or float) or a PIL
    image (L, LA, RGB, RGBA, I;16, I, F); the result has the same type, shape, dtype and mode.
    Only luma changes (R, G and B move together), alpha is kept. ``payload`` defaults to random
    bytes; ``strength`` scales the amplitude (1.0 gives about 42.6 dB luma PSNR).
    """
    return embed_with_psnr(image, key=key, payload=payload, strength=strength)[0]


def embed_with_psnr(
    image: Any,
    *,
    key: Key | str | bytes | None = None,
    payload: bytes | str | int | None = None,
    strength: float = 1.0,
    release_input: bool = False,
) -> tuple[Any, float]:
    """:func:`embed_image`, and the luma PSNR of the change (dB, as :func:`luma_psnr`).

    Memory: the picture's pixels once as an array and once marked, plus strips; luma is
    never held whole (the host statistics and the PSNR are gathered a strip at a time).
    ``release_input`` closes a PIL ``image`` once its pixels are copied, for a caller that
    no longer needs it: one full copy less (800 MB for a 200 MP RGB picture).
    """
    if not 0 < strength <= 4:
        raise ValueError("strength must be in (0, 4]")
    the_key = as_key(key)
    payload_bytes = random_payload() if payload is None else parse_payload(payload)
    pixels = as_pixels(image)
    height, width = pixels.array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputTooSmallError(
            f"image is {width}x{height}; the watermark needs at least {MIN_SIDE} px on each side"
        )
    if release_input and not isinstance(image, np.ndarray):
        image.close()  # a PIL image: its pixels were copied out (np.asarray copies them)
    period = tile_period(height, width)
    mask_block = _mask_block(period)
    folded, activity = _luma_statistics(pixels, period, mask_block)
    tile = _informed_tile(the_key, payload_bytes, folded, height * width, period)
    marked = add_tiled_pattern(
        pixels.array,
        tile,
        _mask_from_activity(activity),
        mask_block,
        float(BASE_AMPLITUDE * strength / pixels.to_8bit),
        float(pixels.value_max),
        pixels.round_values,
    )
    psnr = _psnr(pixels.array, marked, pixels.to_8bit, pixels.to_8bit)
    if not math.isfinite(psnr):  # nothing changed: never report an unmarked picture as marked
        raise UnsupportedInputError(
            f"image is {width}x{height}; no pixel changed, so it carries no watermark "
            "(raise the strength)"
        )
    rebuild = pixels.rebuild
    del pixels  # the unmarked array is not needed while the marked one is rebuilt
    return rebuild(marked), psnr


def _luma_statistics(
    pixels: _Pixels, period: int, mask_block: int
) -> tuple[np.ndarray, np.ndarray]:
    """Luma folded at ``period`` and its per-block standard deviation, a strip at a time.

    Strips are whole mask blocks tall, so the blocks are those of the full plane; each strip's
    fold is rolled to where its first row falls in the period.
    """
    height, width = pixels.array.shape[:2]
    rows = _strip_rows(width, mask_block)
    folded = np.zeros((period, period), np.float64)
    activity = []
    for top in range(0, height, rows):
        plane = luma(pixels.array[top : top + rows], pixels.to_8bit)
        folded += np.roll(fold_periodic(plane, period), top % period, axis=0)
        activity.append(block_std(plane, mask_block))
    return folded, np.concatenate(activity)


def informed_tile(
    key: Key, payload: bytes, plane: np.ndarray, period: int | None = None
) -> np.ndarray:
    """One period of the mark for this picture (unit RMS), leaning against its content.

    ``plane`` is luma in 8-bit units; the period defaults to :func:`tile_period` of its size.
    """
    period = period or tile_period(*plane.shape)
    return _informed_tile(key, payload, fold_periodic(plane, period), plane.size, period)


def _informed_tile(
    key: Key, payload: bytes, folded: np.ndarray, pixel_count: int, period: int
) -> np.ndarray:
    """:func:`informed_tile` from the picture's luma folded at ``period``."""
    layout = carrier_layout(key)
    coded = encode_payload(payload)
    bit_gains, ref_gains = _informed_gains(layout, payload, coded, folded, pixel_count, period)
    tile = coefficients_to_tile(tile_coefficients(layout, coded, bit_gains, ref_gains))
    tile = resize_periodic(tile / tile.std(), period)
    return tile / tile.std()


def add_tile(
    pixels: np.ndarray,
    plane: np.ndarray,
    tile: np.ndarray,
    scale: float,
    value_max: float,
    round_values: bool,
) -> np.ndarray:
    """``pixels`` (H, W, C) plus the tile repeated and shaped by the perceptual mask of luma.

    ``plane`` is the luma of ``pixels`` in 8-bit units; ``scale`` converts 8-bit units to the
    pixels' (times the strength). Values are rounded when ``round_values`` and always clipped
    to ``0..value_max``.
    """
    mask_block = _mask_block(tile.shape[0])
    mask = perceptual_mask(plane, mask_block)
    return add_tiled_pattern(
        pixels,
        tile,
        mask,
        mask_block,
        float(BASE_AMPLITUDE * scale),
        float(value_max),
        round_values,
    )


# --- detection ---------------------------------------------------------------------------


def working_plane(plane: np.ndarray) -> tuple[np.ndarray, float]:
    """Resample luma so its short side is WORKING_SIDE; returns the plane and the factor used."""
    from PIL import Image

    height, width = plane.shape
    factor = WORKING_SIDE / min(height, width)
    size = (max(1, int(width * factor)), max(1, int(height * factor)))
    # The box makes the factor exact on both axes (the output size alone would round it).
    box = (0.0, 0.0, min(width, size[0] / factor), min(height, size[1] / factor))
    resized = Image.fromarray(plane, "F").resize(size, Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized, dtype=np.float32), factor


def _prefilter(plane: np.ndarray, sigma: float) -> np.ndarray:
    """High-pass (remove the picture's smooth shading) and clip outliers (edges, highlights)."""
    from scipy.ndimage import gaussian_filter

    detail = plane - gaussian_filter(plane, sigma, mode="reflect")
    spread = 1.4826 * float(np.median(np.abs(detail))) + 1e-6
    return np.clip(detail, -3 * spread, 3 * spread).astype(np.float32)


@dataclass(frozen=True)
class _SyncPeak:
    score: float
    period_y: float
    period_x: float
    shift_y: float
    shift_x: float
    folded: np.ndarray


def _parabolic(left: np.ndarray, middle: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-sample offset of a peak from its two neighbours (vectorised over candidates)."""
    denominator = left - 2 * middle + right
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, np.clip(0.5 * (left - right) / safe, -0.5, 0.5))


def _sync_many(
    plane: np.ndarray, periods_y: np.ndarray, periods_x: np.ndarray, reference: np.ndarray
) -> list[_SyncPeak]:
    """Fold at every candidate period and phase-correlate each fold with the reference.

    The score is the correlation peak in standard deviations of its own surface, so it is
    comparable across candidates and pictures. Folds run one candidate per thread and the FFTs
    in one batch, so a scan of hundreds of periods costs tens of milliseconds.
    """
    from scipy import fft

    size = reference.shape[0]
    periods_y = np.ascontiguousarray(periods_y, dtype=np.float64)
    periods_x = np.ascontiguousarray(periods_x, dtype=np.float64)
    folded = fold_scaled_many(plane, periods_y, periods_x, size)
    spectra = fft.rfft2(folded, axes=(1, 2), workers=-1)
    spectra *= reference / (np.abs(spectra) + 1e-9)
    surfaces = fft.irfft2(spectra, s=(size, size), axes=(1, 2), workers=-1)
    flat = surfaces.reshape(len(periods_y), -1)
    flat -= flat.mean(axis=1, keepdims=True)
    flat /= flat.std(axis=1, keepdims=True) + 1e-12
    best = flat.argmax(axis=1)
    rows, cols = np.divmod(best, size)
    index = np.arange(len(periods_y))
    middle = surfaces[index, rows, cols]
    shift_y = rows + _parabolic(
        surfaces[index, (rows - 1) % size, cols], middle, surfaces[index, (rows + 1) % size, cols]
    )
    shift_x = cols + _parabolic(
        surfaces[index, rows, (cols - 1) % size], middle, surfaces[index, rows, (cols + 1) % size]
    )
    return [
        _SyncPeak(
            float(middle[i]),
            float(periods_y[i]),
            float(periods_x[i]),
            float(shift_y[i]),
            float(shift_x[i]),
            folded[i],
        )
        for i in index
    ]


def _period_grid(short_side: int, step: float) -> np.ndarray:
    low, high = short_side * PERIOD_RANGE[0], short_side * PERIOD_RANGE[1]
    return low * np.exp(np.arange(0.0, math.log(high / low) + step, step))


def _distinct_best(peaks: list[_SyncPeak], count: int) -> list[_SyncPeak]:
    """The best peaks, at most one per neighbourhood of periods."""
    chosen: list[_SyncPeak] = []
    for peak in sorted(peaks, key=lambda peak: -peak.score):
        if all(abs(math.log(peak.period_x / c.period_x)) > 2.5 * FINE_STEP for c in chosen):
            chosen.append(peak)
        if len(chosen) == count:
            break
    return chosen


def _refine(work: np.ndarray, layout: CarrierLayout, peak: _SyncPeak) -> _SyncPeak:
    """Let the two axes settle separately (a picture resized to another aspect ratio)."""
    factors = np.array(PERIOD_NUDGES)
    trials = _sync_many(
        work,
        peak.period_y * factors[:, 0],
        peak.period_x * factors[:, 1],
        layout.reference_spectrum,
    )
    return max([peak, *trials], key=lambda candidate: candidate.score)


def _scan(work: np.ndarray, layout: CarrierLayout, periods: np.ndarray) -> list[_SyncPeak]:
    """Sync peaks at each period, the best of every local neighbourhood first."""
    peaks = _sync_many(work, periods, periods, layout.reference_spectrum)
    return [_refine(work, layout, peak) for peak in _distinct_best(peaks, DECODE_ATTEMPTS)]


@lru_cache(maxsize=8)
def _half_reference(layout: CarrierLayout) -> np.ndarray:
    return np.conj(np.fft.rfft2(resize_periodic(layout.reference_tile, TILE // 2)))


def _coarse_candidates(work: np.ndarray, layout: CarrierLayout, periods: np.ndarray) -> np.ndarray:
    """Periods worth a full-resolution look, from a scan of the half-size picture.

    Folding a half-size picture onto a half-size tile costs a quarter as much and keeps the
    tile's band up to 0.25 cycles per pixel, so the true period still stands out; only the few
    best survive to the full-resolution scan around them.
    """
    rows, cols = work.shape[0] // 2 * 2, work.shape[1] // 2 * 2
    half = work[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    half = np.ascontiguousarray(half, dtype=np.float32)
    peaks = _sync_many(half, periods / 2, periods / 2, _half_reference(layout))
    steps = 1 + FINE_STEP * np.arange(-1, 2)
    return np.concatenate([2 * c.period_x * steps for c in _distinct_best(peaks, COARSE_KEEP)])


def _prior_periods(short_side: int, factor: float, fraction: float = 0.25) -> np.ndarray:
    """Periods an unresized or uniformly resized picture has, with slack for trimmed edges.

    The embedder sets the period to a quarter of the short side (at least TILE px): resizing
    keeps that ratio, so most pictures are found here without the full search.
    """
    centres = {short_side * fraction}
    if TILE * factor > short_side * fraction * (1 + PRIOR_SPAN):
        centres.add(TILE * factor)  # a small original never resized: period TILE px
    steps = FINE_STEP * np.arange(-PRIOR_STEPS, PRIOR_STEPS + 1)
    return np.concatenate([c * (1 + steps) for c in sorted(centres)])


def _search_hypotheses(short_side: int) -> float:
    """Independent (period, position) hypotheses the search can pick its best from."""
    low, high = short_side * PERIOD_RANGE[0], short_side * PERIOD_RANGE[1]
    return (math.log(high / low) / FINE_STEP + 2 * PRIOR_STEPS + 1) * TILE * TILE


def _aligned(folded: np.ndarray, shift_y: float, shift_x: float) -> np.ndarray:
    frequency = np.fft.fftfreq(folded.shape[0])
    phase = np.exp(2j * np.pi * (frequency[:, None] * shift_y + frequency[None, :] * shift_x))
    return np.fft.ifft2(np.fft.fft2(folded) * phase).real


def _normal_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def detect_image(image: Any, *, key: Key | str | bytes | None = None) -> ImageDetection:
    """Look for the watermark blindly (no original needed) and decode its payload.

    Memory and time are bounded whatever the shape: a thin picture is read in a centred crop
    at most MAX_DETECT_ASPECT short sides long, a large one box-averaged a strip at a time
    down to at least twice the working side before the final resampling.
    """
    the_key = as_key(key)
    regions = _regions(image)
    height, width = regions.height, regions.width
    if min(height, width) < MIN_DETECT_SIDE:
        raise InputTooSmallError(
            f"image is {width}x{height}; detection needs at least {MIN_DETECT_SIDE} px a side"
        )
    short = min(height, width)
    kept_height, kept_width = (min(side, MAX_DETECT_ASPECT * short) for side in (height, width))
    top, left = (height - kept_height) // 2, (width - kept_width) // 2
    reduce_by = max(1, short // (2 * WORKING_SIDE))
    plane = _reduced_luma(regions, (top, top + kept_height, left, left + kept_width), reduce_by)
    work, factor = working_plane(plane)
    found = detect_working_plane(work, factor / reduce_by, the_key)
    if not (top or left) or not found.transform:
        return found
    moved = dict(found.transform)
    moved["origin_x"] = (moved["origin_x"] - left) % moved["period_x"]
    moved["origin_y"] = (moved["origin_y"] - top) % moved["period_y"]
    return replace(found, transform=moved)


def _reduced_luma(regions: _Regions, box: tuple[int, int, int, int], reduce_by: int) -> np.ndarray:
    """Luma (8-bit units) of ``box`` (top, bottom, left, right), averaged over ``reduce_by``
    squared blocks, computed a strip at a time. Rows and columns past the last whole block
    are left out, so the scale is exactly 1 / reduce_by from the box's corner."""
    top, bottom, left, right = box
    rows = (bottom - top) // reduce_by * reduce_by
    cols = (right - left) // reduce_by * reduce_by
    reduced = np.empty((rows // reduce_by, cols // reduce_by), np.float32)
    step = _strip_rows(cols, reduce_by)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        strip = luma(regions.read(top + start, top + stop, left, left + cols), regions.to_8bit)
        if reduce_by > 1:
            blocks = strip.reshape((stop - start) // reduce_by, reduce_by, -1, reduce_by)
            strip = blocks.mean(axis=(1, 3), dtype=np.float32)
        reduced[start // reduce_by : stop // reduce_by] = strip
    return reduced


def detect_working_plane(
    work: np.ndarray, factor: float, key: Key, period_fraction: float = 0.25
) -> ImageDetection:
    """Blind detection on a plane from :func:`working_plane` (or an average of several).

    ``period_fraction`` is the embedder's period as a share of the short side, tried first.
    """
    layout = carrier_layout(key)
    work = _prefilter(work, PREFILTER_SIGMA)
    short = min(work.shape)
    peaks = _scan(work, layout, _prior_periods(short, factor, period_fraction))
    result = _decode(layout, peaks, short, factor)
    if result is None:
        coarse_grid = _period_grid(short, COARSE_STEP)
        peaks = _scan(work, layout, _coarse_candidates(work, layout, coarse_grid))
        result = _decode(layout, peaks, short, factor)
    if result is not None:
        return result
    best = peaks[0]
    sync_false_alarm = min(1.0, _search_hypotheses(short) * _normal_tail(best.score))
    return ImageDetection(False, None, sync_false_alarm, best.score, _transform(best, factor))


def _transform(peak: _SyncPeak, factor: float) -> dict[str, float]:
    """Tile period and tile origin found, in the input image's pixels."""
    return {
        "period_x": float(peak.period_x / factor),
        "period_y": float(peak.period_y / factor),
        "origin_x": float((-peak.shift_x * peak.period_x / TILE) % peak.period_x / factor),
        "origin_y": float((-peak.shift_y * peak.period_y / TILE) % peak.period_y / factor),
    }


def _decode(
    layout: CarrierLayout, peaks: list[_SyncPeak], short: int, factor: float
) -> ImageDetection | None:
    """Decode at the best peaks; a detection only when the CRC holds and the odds are low."""
    hypotheses = _search_hypotheses(short)
    for peak in peaks[:DECODE_ATTEMPTS]:
        if peak.score < SYNC_GATE:
            break
        whitened = whitened_coefficients(_aligned(peak.folded, peak.shift_y, peak.shift_x))
        decoded = decode_payload(payload_statistics(layout, whitened))
        if decoded.payload is None:
            continue
        # Two searches (prior, then full) may each attempt DECODE_ATTEMPTS decodes.
        p_sync = min(1.0, hypotheses * _normal_tail(peak.score))
        false_alarm = p_sync * 2 * DECODE_ATTEMPTS * 2.0**-CHECK_BITS
        if false_alarm <= FALSE_ALARM_LIMIT:
            return ImageDetection(
                True, decoded.payload.hex(), false_alarm, peak.score, _transform(peak, factor)
            )
    return None


def luma_psnr(original: Any, marked: Any) -> float:
    """PSNR of the luma planes in dB (8-bit scale); infinite when they are identical."""
    first, second = _regions(original), _regions(marked)
    # A marked float picture may peak a little higher than its original: judge the range once.
    same_kind = first.dtype == second.dtype
    if (first.height, first.width) != (second.height, second.width):
        raise ValueError(
            f"shapes differ: {(first.height, first.width)} vs {(second.height, second.width)}"
        )
    return _psnr(first, second, first.to_8bit, first.to_8bit if same_kind else second.to_8bit)


def _psnr(
    original: np.ndarray | _Regions,
    marked: np.ndarray | _Regions,
    original_to_8bit: float,
    marked_to_8bit: float,
) -> float:
    """Luma PSNR (dB) of two same-sized pictures (arrays (H, W, C) or region readers), summed
    a strip at a time so no full-size float plane is made."""
    readers = [
        picture.read if isinstance(picture, _Regions) else _slicer(picture)
        for picture in (original, marked)
    ]
    height, width = (
        (original.height, original.width) if isinstance(original, _Regions) else original.shape[:2]
    )
    rows = _strip_rows(width)
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
