"""Embedding the image watermark: the informed tile, shaped by the picture's perceptual mask.

See :mod:`marking.watermark.image` for how the watermark works. The tile's period is a quarter
of the picture's short side; before it is added, the embedder folds the picture's own luma onto
one period and leans each bit against what the picture already projects onto it (improved
spread spectrum). The signal processing both sides share (periodic resampling, the detector's
prefilter on one period, the perceptual mask) lives here too.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from marking.errors import InputTooSmallError, UnsupportedInputError
from marking.kernels.block_dct import block_dct8
from marking.kernels.luma import luma
from marking.kernels.masking import CONTRAST_MASKING_EXPONENT, block_std, block_std_of_integers
from marking.kernels.tiling import add_tiled_pattern, add_tiled_pattern_in_place, fold_periodic
from marking.scheme.keys import Key, as_key
from marking.scheme.limits import MIN_SIDE
from marking.scheme.payload import (
    CODED_BITS,
    encode_payload,
    parse_payload,
    random_payload,
)
from marking.scheme.tile_pattern import (
    TILE,
    CarrierLayout,
    carrier_layout,
    coefficients_to_tile,
    position_scales,
    tile_coefficients,
)
from marking.watermark.pixels import Pixels, as_pixels, psnr_by_strips, strip_rows

#: Short side at which the tile period is exactly :data:`TILE`; larger pictures scale the tile.
REFERENCE_SIDE = 512
#: RMS of the luma change at strength 1, in 8-bit units: PSNR = 20 log10(255 / 1.9) = 42.6 dB.
BASE_AMPLITUDE = 1.9
#: Improved spread spectrum: how much of the picture's own projection the embedder cancels.
HOST_CANCELLATION = 1.0
REFERENCE_CANCELLATION = 0.5
MAX_BIT_GAIN = 3.0


# --- shared signal processing ------------------------------------------------------------

#: Sigma (working-plane pixels) of the detector's high-pass prefilter; the embedder mimics it.
PREFILTER_SIGMA = 3.0


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
    psnr = psnr_by_strips(pixels.array, marked, pixels.to_8bit, pixels.to_8bit)
    if not math.isfinite(psnr):  # nothing changed: never report an unmarked picture as marked
        raise UnsupportedInputError(
            f"image is {width}x{height}; no pixel changed, so it carries no watermark "
            "(raise the strength)"
        )
    rebuild = pixels.rebuild
    del pixels  # the unmarked array is not needed while the marked one is rebuilt
    return rebuild(marked), psnr


def _luma_statistics(pixels: Pixels, period: int, mask_block: int) -> tuple[np.ndarray, np.ndarray]:
    """Luma folded at ``period`` and its per-block standard deviation, a strip at a time.

    Strips are whole mask blocks tall, so the blocks are those of the full plane; each strip's
    fold is rolled to where its first row falls in the period.
    """
    height, width = pixels.array.shape[:2]
    rows = strip_rows(width, mask_block)
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


#: Rows of a video frame read for its perceptual mask: all of them. Every second row costs
#: half (1.0 against 1.8 ms at 1080p) but gives a slightly different mask, and that lost the
#: bench's 720p pan after H.264 CRF 40, a case at the margin (tests/watermark/
#: test_video_robustness.py::test_pan_720p_survives_crf40).
MASK_ROW_STEP = 1


def add_tile_in_place(
    plane: np.ndarray, tile: np.ndarray, scale: float, to_8bit: float, value_max: int
) -> float:
    """:func:`add_tile` on one integer plane (a decoded luma plane), in place.

    ``scale`` converts 8-bit units to the plane's (times the strength), ``to_8bit`` the other
    way. Same pattern and mask as :func:`add_tile`, without copying the frame in or out;
    returns the sum of the squared changes, in the plane's units (for its PSNR).
    """
    mask_block = _mask_block(tile.shape[0])
    activity = block_std_of_integers(plane, mask_block, MASK_ROW_STEP)
    mask = _mask_from_activity(activity * np.float32(to_8bit))
    gain = float(BASE_AMPLITUDE * scale)
    return float(add_tiled_pattern_in_place(plane, tile, mask, mask_block, gain, float(value_max)))
