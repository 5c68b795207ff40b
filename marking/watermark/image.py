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

The code is in three modules, gathered here: :mod:`~marking.watermark.pixels` (pictures in and
out, a strip at a time; luma PSNR), :mod:`~marking.watermark.image_embed` (the informed tile and
embedding) and :mod:`~marking.watermark.image_detect` (the blind search and decoding).
"""

from __future__ import annotations

from marking.scheme.limits import FALSE_ALARM_LIMIT, MIN_DETECT_SIDE, MIN_SIDE
from marking.scheme.results import ImageDetection
from marking.scheme.tile_pattern import TILE
from marking.watermark.image_detect import (
    COARSE_KEEP,
    COARSE_STEP,
    DECODE_ATTEMPTS,
    FINE_STEP,
    MAX_DETECT_ASPECT,
    PERIOD_NUDGES,
    PERIOD_RANGE,
    PRIOR_SPAN,
    PRIOR_STEPS,
    SYNC_GATE,
    WORKING_SIDE,
    detect_image,
    detect_working_plane,
    working_plane,
)
from marking.watermark.image_embed import (
    BASE_AMPLITUDE,
    HOST_CANCELLATION,
    MAX_BIT_GAIN,
    PREFILTER_SIGMA,
    REFERENCE_CANCELLATION,
    REFERENCE_SIDE,
    SPREAD_FLOOR,
    add_tile,
    embed_image,
    embed_with_psnr,
    informed_tile,
    perceptual_mask,
    resize_periodic,
    tile_period,
)
from marking.watermark.pixels import STRIP_PIXELS, as_pixels, luma_psnr

__all__ = [
    "BASE_AMPLITUDE",
    "COARSE_KEEP",
    "COARSE_STEP",
    "DECODE_ATTEMPTS",
    "FALSE_ALARM_LIMIT",
    "FINE_STEP",
    "HOST_CANCELLATION",
    "MAX_BIT_GAIN",
    "MAX_DETECT_ASPECT",
    "MIN_DETECT_SIDE",
    "MIN_SIDE",
    "PERIOD_NUDGES",
    "PERIOD_RANGE",
    "PREFILTER_SIGMA",
    "PRIOR_SPAN",
    "PRIOR_STEPS",
    "REFERENCE_CANCELLATION",
    "REFERENCE_SIDE",
    "SPREAD_FLOOR",
    "STRIP_PIXELS",
    "SYNC_GATE",
    "TILE",
    "WORKING_SIDE",
    "ImageDetection",
    "add_tile",
    "as_pixels",
    "detect_image",
    "detect_working_plane",
    "embed_image",
    "embed_with_psnr",
    "informed_tile",
    "luma_psnr",
    "perceptual_mask",
    "resize_periodic",
    "tile_period",
    "working_plane",
]
