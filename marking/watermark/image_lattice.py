"""Finding the watermark tile's lattice in a picture whose pose is unknown.

The tile repeats on a lattice: two period vectors, a quarter of the short side long and at
right angles when the picture is upright, turned, stretched or sheared otherwise. Two finders
give candidate bases (2 x 2 matrices, columns the two vectors in working-plane pixels (row,
column)); :mod:`marking.watermark.image_sync` folds along each and checks it against the keyed
reference, so a wrong candidate costs only time and one counted hypothesis.

- :func:`autocorrelation_bases`: the autocorrelation of the high-passed picture peaks at the
  lattice vectors, whatever their length or direction. Cheap and scale-free, but the peaks
  stand out only in pictures averaged down from about 850 px.
- :func:`spectrum_bases`: the lattice puts the tile's energy on the harmonics ``B^-T k`` of
  the spectrum. Summing the whitened magnitude over all the tile's in-band harmonics is far
  more sensitive (about 2,250 of them) but must search the pose: rotations, aspect ratios and
  shears around the embedder's period, then a local polish of the best.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

import numpy as np

from marking.kernels.tiling import lattice_scores
from marking.scheme.tile_pattern import BAND_LIMIT, TILE

#: Two peaks make a basis only if the angle between them is at least this far from 0 or 180.
MIN_BASIS_SINE = 0.6
#: Autocorrelation peaks kept, and candidate bases built from the strongest of them.
PEAKS_KEPT = 8
BASES_TRIED = 3
#: Lattice vectors are looked for with these lengths, as shares of the working short side:
#: the embedder's period is a quarter of the short side, then stretched, cropped or scaled.
VECTOR_LENGTHS = (1 / 5.5, 1 / 1.6)

#: The spectrum search's grid: rotations (degrees), and around the embedder's period the
#: scale (relative), the other axis's stretch for an aspect change and the shear. The steps
#: keep every harmonic within about 0.4 frequency bins of a grid point (the lines are about
#: a bin wide); coarser grids, even on a max-pooled spectrum, lose small pictures' marks.
ANGLE_SPAN, ANGLE_STEP = 45.0, 0.25
SCALE_SPAN, SCALE_STEP = 0.03, 0.005
STRETCH_SPAN = 0.33
SHEAR_SPAN, SHEAR_STEP = 0.08, 0.0025
#: A photo of a screen: near upright, but shrunk (corners moved in), turned and stretched at
#: once. Scales (log, relative), turns (degrees) and aspect changes (log) searched together.
SCREEN_SCALES = (-0.09, 0.03)
SCREEN_TURN, SCREEN_TURN_STEP = 3.0, 0.25
SCREEN_STRETCH = 0.04
#: The turns, aspect changes and shears are read on a spectrum zero-padded this many times.
TURN_PADDING = 2
#: Candidates the spectrum search hands on (of the turns, aspect changes and shears, and of
#: the screen poses), and the polish's relative steps.
TURNS_KEPT, SCREENS_KEPT = 8, 4
SPECTRUM_KEPT = TURNS_KEPT + SCREENS_KEPT
#: The screen poses are scored coarse to fine, as (share of the harmonics scored, share of the
#: poses kept after): all on a quarter of the harmonics, the best half on a half, the best
#: 10 % on all, for 43 % of the cost of scoring all on all. On the sample photos the screen
#: family's best pose ranked within the best 44 % on a quarter and 5.6 % on a half (the
#: weakest: the 512 px cameraman in perspective). The other families are scored on all
#: harmonics: a turn on the same canvas can be found at z 3.9, first only on all of them.
COARSE_STAGES = ((0.25, 0.5), (0.5, 0.1))
POLISH_STEPS = (0.002, 0.001, 0.0005)


def parabolic_offset(left: np.ndarray, middle: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-sample offset of a peak from its two neighbours (vectorised over candidates)."""
    denominator = left - 2 * middle + right
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, np.clip(0.5 * (left - right) / safe, -0.5, 0.5))


@lru_cache(maxsize=1)
def _harmonics() -> np.ndarray:
    """The tile's harmonics inside its band (cycles per tile), one of each +- pair."""
    k = np.fft.fftfreq(TILE) * TILE
    ky, kx = np.meshgrid(k, k, indexing="ij")
    radius = np.hypot(ky, kx)
    keep = (radius <= BAND_LIMIT * TILE) & (radius >= 2) & ((ky > 0) | ((ky == 0) & (kx > 0)))
    return np.column_stack([ky[keep], kx[keep]]).astype(np.float64)


@lru_cache(maxsize=1)
def _harmonic_shares() -> tuple[np.ndarray, ...]:
    """The harmonics dealt into the coarse-to-fine stages' shares (:data:`COARSE_STAGES`): a
    fixed random draw, so each share samples the whole band; each in the band's order."""
    harmonics = _harmonics()
    order = np.random.default_rng(0).permutation(len(harmonics))
    bounds = [0, *(int(share * len(harmonics)) for share, _ in COARSE_STAGES), len(harmonics)]
    return tuple(
        np.ascontiguousarray(harmonics[np.sort(order[start:stop])])
        for start, stop in pairwise(bounds)
    )


def _whitened_magnitude(work: np.ndarray, padding: int) -> np.ndarray:
    """The plane's FFT magnitude over its local average: the picture's own spectral envelope
    (and the ridges of straight edges) flattened, the lattice's sharp lines kept.

    ``padding`` zero-pads the FFT to that many times the plane's size: a turned lattice's
    lines fall between the plain FFT's bins and lose up to a third of their height there (a
    512 px photo turned 7 degrees and cropped back scored z 4.6 at a wrong pose, 6.0 at the
    right one padded twice). A lattice in perspective smears its lines instead, and is read
    better without (a 512 px photo was found plain, lost padded).
    """
    from scipy import fft
    from scipy.ndimage import uniform_filter

    shape = (padding * work.shape[0], padding * work.shape[1])
    magnitude = np.abs(fft.fft2(work, s=shape, workers=-1)).astype(np.float32)
    return magnitude / (uniform_filter(magnitude, 8 * padding + 1, mode="wrap") + 1e-6)


def _pose_grid(period: float, aspect: float) -> np.ndarray:
    """Candidate bases: rotations (on the same canvas, and cropped back to the picture's
    ``aspect`` as photo editors straighten), aspect changes (either axis) and shears (either
    way)."""
    scales = period * np.exp(np.arange(-SCALE_SPAN, SCALE_SPAN + 1e-9, SCALE_STEP))
    angles = np.radians(np.arange(-ANGLE_SPAN, ANGLE_SPAN, ANGLE_STEP))
    cos, sin = np.cos(angles), np.sin(angles)
    turned = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)  # (a, 2, 2)
    bases = [(scales[:, None, None, None] * turned[None]).reshape(-1, 2, 2)]
    # Cropping a turned picture to its largest upright rectangle of the same aspect keeps the
    # tile's size but shrinks the short side: the period grows by the crop's inverse.
    lean = np.abs(sin)
    crop = np.minimum(1 / (cos + lean / aspect), 1 / (aspect * lean + cos))
    grown = np.flatnonzero(1 / crop > np.exp(SCALE_SPAN))
    bases.append(
        (
            scales[:, None, None, None] / crop[grown][None, :, None, None] * turned[grown][None]
        ).reshape(-1, 2, 2)
    )
    stretches = np.exp(np.arange(-STRETCH_SPAN, STRETCH_SPAN + 1e-9, SCALE_STEP))
    for axis in (0, 1):
        grid = np.zeros((len(scales), len(stretches), 2, 2))
        grid[..., axis, axis] = scales[:, None]
        grid[..., 1 - axis, 1 - axis] = scales[:, None] * stretches[None, :]
        bases.append(grid.reshape(-1, 2, 2))
    shears = np.arange(-SHEAR_SPAN, SHEAR_SPAN + 1e-9, SHEAR_STEP)
    for axis in (0, 1):
        grid = np.zeros((len(scales), len(shears), 2, 2))
        grid[..., 0, 0] = grid[..., 1, 1] = scales[:, None]
        grid[..., axis, 1 - axis] = scales[:, None] * shears[None, :]
        bases.append(grid.reshape(-1, 2, 2))
    return np.concatenate(bases)


def _screen_grid(period: float) -> np.ndarray:
    """Candidate bases for a photo of a screen (see :data:`SCREEN_SCALES`): every
    combination of scale, turn and aspect change near upright."""
    scales = period * np.exp(np.arange(SCREEN_SCALES[0], SCREEN_SCALES[1] + 1e-9, SCALE_STEP))
    angles = np.radians(np.arange(-SCREEN_TURN, SCREEN_TURN, SCREEN_TURN_STEP))
    stretches = np.exp(np.arange(-SCREEN_STRETCH, SCREEN_STRETCH + 1e-9, SCALE_STEP))
    cos, sin = np.cos(angles), np.sin(angles)
    turned = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)  # (a, 2, 2)
    stretched = np.zeros((len(stretches), 2, 2))
    stretched[:, 0, 0], stretched[:, 1, 1] = 1.0, stretches
    linear = np.einsum("aij,sjk->asik", turned, stretched)
    return (scales[:, None, None, None, None] * linear[None]).reshape(-1, 2, 2)


def _frequency_maps(bases: np.ndarray) -> np.ndarray:
    """Each basis's map from tile harmonics to frequencies (cycles per pixel): ``B^-T``."""
    return np.ascontiguousarray(np.transpose(np.linalg.inv(bases), (0, 2, 1)))


def spectrum_bases(work: np.ndarray, periods: list[float]) -> list[np.ndarray]:
    """Candidate tile lattices of a high-passed working plane whose embedder's period was one
    of ``periods`` (working pixels), from the tile's harmonics in its spectrum: for each
    period, the best turns, aspect changes and shears, then the best screen poses."""
    harmonics = _harmonics()
    padded = _whitened_magnitude(work, TURN_PADDING)
    plain = _whitened_magnitude(work, 1)
    chosen: list[tuple[np.ndarray, np.ndarray]] = []
    for period in periods:
        grid = _pose_grid(period, work.shape[1] / work.shape[0])
        scores = lattice_scores(padded, harmonics, _frequency_maps(grid))
        chosen += [(padded, basis) for basis in _distinct(grid, scores, TURNS_KEPT, 0.01)]
        screen, screen_scores = _coarse_to_fine(plain, _screen_grid(period))
        chosen += [(plain, basis) for basis in _distinct(screen, screen_scores, SCREENS_KEPT, 0.01)]
    return [_polished(magnitude, harmonics, basis) for magnitude, basis in chosen]


def _coarse_to_fine(magnitude: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid's best poses and their scores on all harmonics (see :data:`COARSE_STAGES`).

    Scores add over harmonics, so each stage adds only the share the last one lacked.
    """
    first, *rest = _harmonic_shares()
    maps, poses = _frequency_maps(grid), len(grid)
    scores = lattice_scores(magnitude, first, maps)
    for (_, kept), share in zip(COARSE_STAGES, rest, strict=True):
        best = np.argsort(-scores)[: max(SCREENS_KEPT, int(kept * poses))]
        grid, maps = grid[best], maps[best]
        scores = scores[best] + lattice_scores(magnitude, share, maps)
    return grid, scores


def _distinct(bases: np.ndarray, scores: np.ndarray, count: int, apart: float) -> np.ndarray:
    """The best-scoring bases, each differing from those before it by more than ``apart``."""
    chosen: list[np.ndarray] = []
    for index in np.argsort(-scores):
        basis = bases[index]
        if not any(
            np.abs(np.linalg.solve(known, basis) - np.eye(2)).max() <= apart for known in chosen
        ):
            chosen.append(basis)
            if len(chosen) == count:
                break
    return np.stack(chosen)


def _polished(magnitude: np.ndarray, harmonics: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Coordinate ascent of the spectrum score over the basis's four entries."""
    best = basis
    best_score = lattice_scores(magnitude, harmonics, _frequency_maps(basis[None]))[0]
    for step in POLISH_STEPS:
        for _ in range(6):
            trials = []
            for index in range(4):
                for sign in (1.0, -1.0):
                    change = np.eye(2)
                    change[divmod(index, 2)] += sign * step
                    trials.append(best @ change)
            trial_bases = np.stack(trials)
            scores = lattice_scores(magnitude, harmonics, _frequency_maps(trial_bases))
            if scores.max() <= best_score:
                break
            best, best_score = trial_bases[int(scores.argmax())], float(scores.max())
    return best


# --- the lattice from the autocorrelation -------------------------------------------------


def autocorrelation_bases(work: np.ndarray) -> list[np.ndarray]:
    """Candidate tile lattices of a high-passed working plane: 2 x 2 matrices whose columns
    are two shortest period vectors (row, column) in working-plane pixels, best first."""
    from scipy import fft
    from scipy.ndimage import maximum_filter

    rows, cols = work.shape[0] // 2 * 2, work.shape[1] // 2 * 2
    half = work[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    height, width = half.shape
    short = min(height, width)
    reach = int(np.ceil(short * VECTOR_LENGTHS[1])) + 2
    spectrum = fft.rfft2(half, s=(2 * height, 2 * width), workers=-1)
    # The spectrum's magnitude, not its power: whitened, so the picture's own large-scale
    # correlation does not drown the lattice's sharp peaks.
    acf = fft.irfft2(np.abs(spectrum), s=(2 * height, 2 * width), workers=-1)
    lags = np.arange(-reach, reach + 1)
    window = acf[np.ix_(lags % (2 * height), lags % (2 * width))]
    dy, dx = np.meshgrid(lags, lags, indexing="ij")
    radius = np.hypot(dy, dx)
    allowed = (radius >= short * VECTOR_LENGTHS[0]) & (radius <= short * VECTOR_LENGTHS[1])
    allowed &= (dy > 0) | ((dy == 0) & (dx > 0))  # one of each pair (the ACF is symmetric)
    local_max = (window == maximum_filter(window, size=5)) & allowed
    found_y, found_x = np.nonzero(local_max)
    order = np.argsort(-window[found_y, found_x])[:PEAKS_KEPT]
    vectors = []
    for y, x in zip(found_y[order], found_x[order], strict=True):
        if not (0 < y < len(lags) - 1 and 0 < x < len(lags) - 1):
            continue
        offset_y = parabolic_offset(window[y - 1, x], window[y, x], window[y + 1, x])
        offset_x = parabolic_offset(window[y, x - 1], window[y, x], window[y, x + 1])
        vectors.append(2 * np.array([lags[y] + offset_y, lags[x] + offset_x]))
    return _bases(vectors)


def _bases(vectors: list[np.ndarray]) -> list[np.ndarray]:
    """Up to BASES_TRIED distinct reduced bases, each from one of the strongest vectors and
    the strongest one not parallel to it."""
    bases: list[np.ndarray] = []
    for first in vectors[:BASES_TRIED]:
        partner = next(
            (
                other
                for other in vectors
                if abs(_cross(first, other)) > MIN_BASIS_SINE * _norm(first) * _norm(other)
            ),
            None,
        )
        if partner is None:
            continue
        basis = _reduced(first, partner)
        if not any(_same_lattice(basis, known) for known in bases):
            bases.append(basis)
    return bases


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _norm(a: np.ndarray) -> float:
    return float(np.hypot(a[0], a[1]))


def _reduced(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduction: the two shortest vectors spanning the same lattice."""
    a, b = first.astype(np.float64), second.astype(np.float64)
    for _ in range(16):
        if _norm(b) < _norm(a):
            a, b = b, a
        multiple = round(float(a @ b) / float(a @ a))
        if multiple == 0:
            break
        b = b - multiple * a
    return np.column_stack([a, b])


def _same_lattice(one: np.ndarray, other: np.ndarray) -> bool:
    """Whether two bases span the same lattice (within 2 px)."""
    change = np.linalg.solve(other, one)
    return bool(np.all(np.abs(change - np.round(change)) < 2 / min(map(_norm, other.T))))
