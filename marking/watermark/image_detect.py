"""Detecting the image watermark blindly: find the tile's period and position, then decode.

See :mod:`marking.watermark.image` for how the watermark works. The detector resamples the
picture to a working size and tries first the periods an uncropped picture has; only if that
fails does it scan the whole range crops can produce (a half-size scan, then full size around
its best periods). It folds the picture at each period onto one tile, finds the tile's position
by phase correlation with the reference, and decodes the payload through the error-correcting
code and its CRC; the false-alarm figure accounts for every position and scale tried.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from marking.errors import InputTooSmallError
from marking.kernels.blur import gaussian_blur
from marking.kernels.luma import luma
from marking.kernels.tiling import fold_scaled_many
from marking.scheme.keys import Key, as_key
from marking.scheme.limits import FALSE_ALARM_LIMIT, MIN_DETECT_SIDE
from marking.scheme.payload import (
    CHECK_BITS,
    decode_payload,
)
from marking.scheme.results import ImageDetection
from marking.scheme.tile_pattern import (
    TILE,
    CarrierLayout,
    carrier_layout,
    payload_statistics,
    whitened_coefficients,
)
from marking.watermark.image_embed import PREFILTER_SIGMA, resize_periodic
from marking.watermark.image_sync import (
    LATTICE_HYPOTHESES,
    SyncPeak,
    correlate,
    lattice_peaks,
    scaling,
)
from marking.watermark.pixels import Regions, region_reader, strip_rows

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
#: Decoding is attempted only above this reference correlation (noise peaks sit near 4.5-5).
SYNC_GATE = 4.0
DECODE_ATTEMPTS = 2
#: Searches that may each decode: the prior periods, the full period range, the lattice.
SEARCHES = 3
#: Detection reads at most this many short sides along the long side, a centred crop: the
#: working plane (short side WORKING_SIDE) of a thinner picture grows with its aspect ratio
#: (96 x 2,000,000 px gave 5.5 gigapixels). The mark repeats over the whole picture, so the
#: crop still holds 32 periods of it; the odds of a false alarm do not depend on the crop.
MAX_DETECT_ASPECT = 8


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
    detail = plane - gaussian_blur(plane, sigma)  # SciPy's gaussian_filter, bit for bit
    spread = 1.4826 * float(np.median(np.abs(detail))) + 1e-6
    return np.clip(detail, -3 * spread, 3 * spread).astype(np.float32)


def _sync_many(
    plane: np.ndarray, periods_y: np.ndarray, periods_x: np.ndarray, reference: np.ndarray
) -> list[SyncPeak]:
    """Fold at every candidate period and phase-correlate each fold with the reference.

    Folds run one candidate per thread and the FFTs in one batch, so a scan of hundreds of
    periods costs tens of milliseconds.
    """
    periods_y = np.ascontiguousarray(periods_y, dtype=np.float64)
    periods_x = np.ascontiguousarray(periods_x, dtype=np.float64)
    folded = fold_scaled_many(plane, periods_y, periods_x, reference.shape[0])
    mappings = np.stack([scaling(y, x) for y, x in zip(periods_y, periods_x, strict=True)])
    return correlate(folded, mappings, reference)


def _period_grid(short_side: int, step: float) -> np.ndarray:
    low, high = short_side * PERIOD_RANGE[0], short_side * PERIOD_RANGE[1]
    return low * np.exp(np.arange(0.0, math.log(high / low) + step, step))


def _distinct_best(peaks: list[SyncPeak], count: int) -> list[SyncPeak]:
    """The best peaks, at most one per neighbourhood of periods."""
    chosen: list[SyncPeak] = []
    for peak in sorted(peaks, key=lambda peak: -peak.score):
        if all(abs(math.log(peak.period_x / c.period_x)) > 2.5 * FINE_STEP for c in chosen):
            chosen.append(peak)
        if len(chosen) == count:
            break
    return chosen


def _refine(work: np.ndarray, layout: CarrierLayout, peak: SyncPeak) -> SyncPeak:
    """Let the two axes settle separately (a picture resized to another aspect ratio)."""
    factors = np.array(PERIOD_NUDGES)
    trials = _sync_many(
        work,
        peak.period_y * factors[:, 0],
        peak.period_x * factors[:, 1],
        layout.reference_spectrum,
    )
    return max([peak, *trials], key=lambda candidate: candidate.score)


def _scan(work: np.ndarray, layout: CarrierLayout, periods: np.ndarray) -> list[SyncPeak]:
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
    steps = FINE_STEP * np.arange(-PRIOR_STEPS, PRIOR_STEPS + 1)
    return np.concatenate([c * (1 + steps) for c in _prior_centres(short_side, factor, fraction)])


def _prior_centres(short_side: int, factor: float, fraction: float) -> list[float]:
    """The embedder's period in working pixels if the picture kept its proportions: a share of
    the short side, and TILE px of the input if that is longer (a small original)."""
    centres = [short_side * fraction]
    if TILE * factor > short_side * fraction * (1 + PRIOR_SPAN):
        centres.append(TILE * factor)  # a small original never resized: period TILE px
    return centres


def _search_hypotheses(short_side: int) -> float:
    """Independent (period or pose, position) hypotheses the search can pick its best from:
    the upright periods, then the poses of the lattice search."""
    low, high = short_side * PERIOD_RANGE[0], short_side * PERIOD_RANGE[1]
    periods = math.log(high / low) / FINE_STEP + 2 * PRIOR_STEPS + 1
    return (periods + LATTICE_HYPOTHESES) * TILE * TILE


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
    regions = region_reader(image)
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
    bars = _padding(plane, MIN_DETECT_SIDE // reduce_by)
    if bars is not None and not found.detected:
        # A picture placed on a larger canvas (letterbox, pillarbox): its period is a share of
        # its own short side, not the canvas's. Looked for again without the bars; two
        # searches, so each figure counts twice.
        inner_top, inner_bottom, inner_left, inner_right = bars
        inner = plane[inner_top:inner_bottom, inner_left:inner_right]
        inner_work, inner_factor = working_plane(inner)
        again = _counted_twice(detect_working_plane(inner_work, inner_factor / reduce_by, the_key))
        found = again if again.detected else _counted_twice(found)
        if again.detected:
            top, left = top + inner_top * reduce_by, left + inner_left * reduce_by
    if not (top or left) or not found.transform:
        return found
    moved = dict(found.transform)
    moved["origin_x"] = (moved["origin_x"] - left) % moved["period_x"]
    moved["origin_y"] = (moved["origin_y"] - top) % moved["period_y"]
    return replace(found, transform=moved)


#: Luma spread (8-bit levels) under which a row or column at the edge counts as a flat bar.
BAR_SPREAD = 3.0
#: Bars narrower than this share of the side are not worth a second search.
MIN_BAR_SHARE = 0.04


def _padding(plane: np.ndarray, min_side: int) -> tuple[int, int, int, int] | None:
    """The box (top, bottom, left, right) inside flat bars at the plane's edges, when the bars
    take at least MIN_BAR_SHARE of a side and the box keeps ``min_side`` a side; else None."""
    rows = np.flatnonzero(np.ptp(plane, axis=1) > BAR_SPREAD)
    cols = np.flatnonzero(np.ptp(plane, axis=0) > BAR_SPREAD)
    if rows.size == 0 or cols.size == 0:
        return None
    box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    height, width = plane.shape
    cut = max((height - (box[1] - box[0])) / height, (width - (box[3] - box[2])) / width)
    small = min(box[1] - box[0], box[3] - box[2]) < min_side
    return None if cut < MIN_BAR_SHARE or small else box


def _counted_twice(found: ImageDetection) -> ImageDetection:
    """A result of one of two searches: its false-alarm figure doubled (the union bound), and
    a detection only while the doubled figure is within the limit."""
    false_alarm = min(1.0, 2 * found.false_alarm)
    if found.detected and false_alarm > FALSE_ALARM_LIMIT:
        return replace(found, detected=False, payload=None, false_alarm=false_alarm)
    return replace(found, false_alarm=false_alarm)


def _reduced_luma(regions: Regions, box: tuple[int, int, int, int], reduce_by: int) -> np.ndarray:
    """Luma (8-bit units) of ``box`` (top, bottom, left, right), averaged over ``reduce_by``
    squared blocks, computed a strip at a time. Rows and columns past the last whole block
    are left out, so the scale is exactly 1 / reduce_by from the box's corner."""
    top, bottom, left, right = box
    rows = (bottom - top) // reduce_by * reduce_by
    cols = (right - left) // reduce_by * reduce_by
    reduced = np.empty((rows // reduce_by, cols // reduce_by), np.float32)
    step = strip_rows(cols, reduce_by)
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
    if result is None:
        # Not upright: rotated, mirrored, stretched, sheared or in perspective.
        periods = _prior_centres(short, factor, period_fraction)
        posed, _ = lattice_peaks(work, layout.reference_spectrum, periods)
        result = _decode(layout, posed, short, factor)
        peaks = sorted([*peaks, *posed], key=lambda peak: -peak.score)
    if result is not None:
        return result
    best = peaks[0]
    sync_false_alarm = min(1.0, _search_hypotheses(short) * _normal_tail(best.score))
    return ImageDetection(False, None, sync_false_alarm, best.score, _transform(best, factor))


def _transform(peak: SyncPeak, factor: float) -> dict[str, float]:
    """Tile period and tile origin found, in the input image's pixels; for a tile found
    turned or mirrored, also the turn (degrees, counter-clockwise) and whether mirrored."""
    lattice = peak.lattice()
    found = {
        "period_x": float(peak.period_x / factor),
        "period_y": float(peak.period_y / factor),
    }
    if lattice[0, 1] == 0 and lattice[1, 0] == 0 and np.all(np.diag(lattice) > 0):
        found["origin_x"] = float((-peak.shift_x * peak.period_x / TILE) % peak.period_x / factor)
        found["origin_y"] = float((-peak.shift_y * peak.period_y / TILE) % peak.period_y / factor)
        return found
    origin = peak.origin()
    found["origin_x"], found["origin_y"] = float(origin[1] / factor), float(origin[0] / factor)
    found["rotation_degrees"] = float(np.degrees(np.arctan2(-lattice[0, 1], lattice[1, 1])))
    found["mirrored"] = float(np.linalg.det(lattice) < 0)
    return found


def _decode(
    layout: CarrierLayout, peaks: list[SyncPeak], short: int, factor: float
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
        # Three searches (prior, full, lattice) may each attempt DECODE_ATTEMPTS decodes.
        p_sync = min(1.0, hypotheses * _normal_tail(peak.score))
        false_alarm = p_sync * SEARCHES * DECODE_ATTEMPTS * 2.0**-CHECK_BITS
        if false_alarm <= FALSE_ALARM_LIMIT:
            return ImageDetection(
                True, decoded.payload.hex(), false_alarm, peak.score, _transform(peak, factor)
            )
    return None


def aligned_fold(plane: np.ndarray, transform: dict[str, float]) -> np.ndarray:
    """``plane`` (luma, 8-bit units) prefiltered and folded onto one tile at the geometry a
    detection found (its ``transform``, in this plane's pixels), aligned as the decoder reads
    it; a second look (see :class:`marking.watermark.video.VideoRefiner`) folds frames so."""
    work, factor = working_plane(plane)
    work = _prefilter(work, PREFILTER_SIGMA)
    period_y, period_x = transform["period_y"] * factor, transform["period_x"] * factor
    folded = fold_scaled_many(work, np.array([period_y]), np.array([period_x]), TILE)[0]
    # The inverse of _transform's origin (modulo the tile, which _aligned ignores).
    shift_y = -transform["origin_y"] * factor * TILE / period_y
    shift_x = -transform["origin_x"] * factor * TILE / period_x
    return _aligned(folded, shift_y, shift_x)
