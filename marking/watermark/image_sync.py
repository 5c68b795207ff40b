"""Synchronising with the picture watermark's tile: where it is, at what scale, in what pose.

The tile repeats over the picture on a lattice. The detector's first searches assume the
lattice is square and upright (the picture was resized and cropped, no more), which is the
common case and cheap. When they fail, :func:`lattice_peaks` finds the lattice itself, so a
picture that was rotated, mirrored, stretched, sheared or photographed off a screen is found:

1. **Lattice.** The autocorrelation of the high-passed picture (its spectrum's magnitude,
   whitened) peaks at the lattice vectors: a periodic pattern matches itself one period away,
   whatever that period's length and direction. The strongest peaks give a few candidate
   bases (two vectors each), reduced to the shortest pair.
2. **Orientation.** Folding the picture along a basis gives one tile, but a basis says nothing
   of which vector was the tile's x axis or which way it pointed: the eight symmetries of the
   square (quarter turns, mirrors) are each correlated with the reference. That is also how a
   picture turned by 90 degrees or mirrored is found.
3. **Refinement.** The best pose is polished by trying small changes of the 2 x 2 map and of
   a perspective tilt, keeping what raises the correlation: a photo of a screen is a
   homography close to an affine map.

Every fold and orientation tried is a hypothesis: :data:`LATTICE_HYPOTHESES` counts them for
the false-alarm figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from marking.kernels.tiling import fold_mapped_many
from marking.scheme.tile_pattern import TILE

#: Lattice vectors are looked for with these lengths, as shares of the working short side:
#: the embedder's period is a quarter of the short side, then stretched, cropped or scaled.
VECTOR_LENGTHS = (1 / 5.5, 1 / 1.6)
#: Autocorrelation peaks kept, and candidate bases built from the strongest of them.
PEAKS_KEPT = 8
BASES_TRIED = 3
#: Two peaks make a basis only if the angle between them is at least this far from 0 or 180.
MIN_BASIS_SINE = 0.6
#: The eight symmetries of the square tile, as maps of tile coordinates (row, column).
SYMMETRIES = tuple(
    np.array(matrix, dtype=np.float64)
    for matrix in (
        [[1, 0], [0, 1]],
        [[0, -1], [1, 0]],
        [[-1, 0], [0, -1]],
        [[0, 1], [-1, 0]],
        [[-1, 0], [0, 1]],
        [[0, 1], [1, 0]],
        [[1, 0], [0, -1]],
        [[0, -1], [-1, 0]],
    )
)
#: Refinement: relative step of the 2 x 2 map, and of the tilt (the perspective term, as the
#: relative change of scale it makes at the working plane's corner); rounds at most.
LINEAR_STEP = 0.004
TILT_STEP = 0.01
REFINE_ROUNDS = 10
#: A pose is refined only when its correlation reaches this: noise peaks sit near 4.5-5.7
#: (the best of every fold and orientation tried), a found lattice scores 9 and more.
REFINE_GATE = 7.0
#: Folds tried at most: each basis in each symmetry, then each round's nudges.
LATTICE_HYPOTHESES = BASES_TRIED * len(SYMMETRIES) + REFINE_ROUNDS * 12


@dataclass(frozen=True)
class SyncPeak:
    """One fold's correlation peak with the reference: how strong and where.

    ``mapping`` is the homography from working-plane pixels (row, column, 1) to tile
    coordinates the fold used; ``shift_y``, ``shift_x`` the tile position in the fold.
    """

    score: float
    mapping: np.ndarray
    shift_y: float
    shift_x: float
    folded: np.ndarray

    @property
    def period_y(self) -> float:
        """Length of the tile's vertical period vector, in working-plane pixels."""
        return float(np.hypot(*self.lattice()[:, 0]))

    @property
    def period_x(self) -> float:
        """Length of the tile's horizontal period vector, in working-plane pixels."""
        return float(np.hypot(*self.lattice()[:, 1]))

    def origin(self) -> np.ndarray:
        """A working-plane pixel (row, column) where a tile starts."""
        target = np.array([-self.shift_y, -self.shift_x, 1.0])
        point = np.linalg.solve(self.mapping, target)
        return point[:2] / point[2]

    def lattice(self) -> np.ndarray:
        """The tile's period vectors (columns: its y and x axis) near the working plane's
        centre, in working-plane pixels (row, column)."""
        return TILE * np.linalg.inv(self.mapping[:2, :2])


def scaling(period_y: float, period_x: float) -> np.ndarray:
    """The homography of an upright tile lattice with these periods (working pixels)."""
    return np.diag([TILE / period_y, TILE / period_x, 1.0])


def _parabolic(left: np.ndarray, middle: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-sample offset of a peak from its two neighbours (vectorised over candidates)."""
    denominator = left - 2 * middle + right
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, np.clip(0.5 * (left - right) / safe, -0.5, 0.5))


def correlate(folded: np.ndarray, mappings: np.ndarray, reference: np.ndarray) -> list[SyncPeak]:
    """Phase-correlate each fold (n, size, size) with the reference spectrum.

    The score is the correlation peak in standard deviations of its own surface, so it is
    comparable across candidates and pictures. The FFTs run in one batch.
    """
    from scipy import fft

    size = folded.shape[1]
    spectra = fft.rfft2(folded, axes=(1, 2), workers=-1)
    spectra *= reference / (np.abs(spectra) + 1e-9)
    surfaces = fft.irfft2(spectra, s=(size, size), axes=(1, 2), workers=-1)
    flat = surfaces.reshape(len(folded), -1)
    flat -= flat.mean(axis=1, keepdims=True)
    flat /= flat.std(axis=1, keepdims=True) + 1e-12
    rows, cols = np.divmod(flat.argmax(axis=1), size)
    index = np.arange(len(folded))
    middle = surfaces[index, rows, cols]
    shift_y = rows + _parabolic(
        surfaces[index, (rows - 1) % size, cols], middle, surfaces[index, (rows + 1) % size, cols]
    )
    shift_x = cols + _parabolic(
        surfaces[index, rows, (cols - 1) % size], middle, surfaces[index, rows, (cols + 1) % size]
    )
    return [
        SyncPeak(float(middle[i]), mappings[i], float(shift_y[i]), float(shift_x[i]), folded[i])
        for i in index
    ]


# --- the lattice from the autocorrelation -------------------------------------------------


def lattice_bases(work: np.ndarray) -> list[np.ndarray]:
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
        offset_y = _parabolic(window[y - 1, x], window[y, x], window[y + 1, x])
        offset_x = _parabolic(window[y, x - 1], window[y, x], window[y, x + 1])
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


# --- poses: symmetries and refinement ----------------------------------------------------


def homography(linear: np.ndarray, centre: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """Pixels (row, column, 1) to tile coordinates: ``linear @ (p - centre)``, divided by
    ``1 + tilt @ (p - centre)`` (the perspective term; zero for an affine map)."""
    mapping = np.zeros((3, 3))
    mapping[:2, :2] = linear
    mapping[:2, 2] = -linear @ centre
    mapping[2, :2] = tilt
    mapping[2, 2] = 1.0 - tilt @ centre
    return mapping


@lru_cache(maxsize=2)
def _symmetry_indices(size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """For each symmetry S, where each cell of the transformed fold comes from: a fold made
    through ``S @ linear`` is the fold through ``linear`` read at ``S^-1`` of each cell."""
    cells = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"))
    sources = []
    for symmetry in SYMMETRIES:
        source = np.einsum("ij,jyx->iyx", np.linalg.inv(symmetry), cells)
        source = np.round(source).astype(np.int64) % size
        sources.append((source[0], source[1]))
    return tuple(sources)


def lattice_peaks(work: np.ndarray, reference: np.ndarray) -> tuple[list[SyncPeak], int]:
    """The best poses of the tile from the picture's own lattice, best first, and the number
    of folds tried (each a hypothesis for the false-alarm figure)."""
    bases = lattice_bases(work)
    if not bases:
        return [], 0
    centre = (np.array(work.shape, dtype=np.float64) - 1) / 2
    no_tilt = np.zeros(2)
    linears = [TILE * np.linalg.inv(basis) for basis in bases]
    mappings = np.stack([homography(linear, centre, no_tilt) for linear in linears])
    folds = fold_mapped_many(work, mappings, TILE)
    variants, poses = [], []
    for linear, fold in zip(linears, folds, strict=True):
        for symmetry, (rows, cols) in zip(SYMMETRIES, _symmetry_indices(TILE), strict=True):
            variants.append(fold[rows, cols])
            poses.append(homography(symmetry @ linear, centre, no_tilt))
    peaks = correlate(np.stack(variants), np.stack(poses), reference)
    peaks.sort(key=lambda peak: -peak.score)
    tried = len(peaks)
    if peaks[0].score >= REFINE_GATE:
        best, rounds = _refine(work, peaks[0], centre, reference)
        tried += rounds * 12
        peaks = [best, *peaks[1:]]
    return peaks, tried


def _refine(
    work: np.ndarray, start: SyncPeak, centre: np.ndarray, reference: np.ndarray
) -> tuple[SyncPeak, int]:
    """Hill-climb the pose's 2 x 2 map and perspective tilt; the best pose and rounds used."""
    linear = start.mapping[:2, :2].copy()
    tilt = np.zeros(2)
    corner = float(np.hypot(*centre))
    best, linear_step, tilt_step = start, LINEAR_STEP, TILT_STEP / corner
    rounds = 0
    while rounds < REFINE_ROUNDS and linear_step > LINEAR_STEP / 8:
        rounds += 1
        trials = []
        for index in range(4):
            for sign in (1.0, -1.0):
                change = np.eye(2)
                change[divmod(index, 2)] += sign * linear_step
                trials.append(homography(change @ linear, centre, tilt))
        for index in range(2):
            for sign in (1.0, -1.0):
                moved = tilt.copy()
                moved[index] += sign * tilt_step
                trials.append(homography(linear, centre, moved))
        mappings = np.stack(trials)
        candidates = correlate(fold_mapped_many(work, mappings, TILE), mappings, reference)
        top = max(candidates, key=lambda candidate: candidate.score)
        if top.score > best.score:
            best = top
            linear, tilt = top.mapping[:2, :2].copy(), top.mapping[2, :2].copy()
        else:
            linear_step, tilt_step = linear_step / 2, tilt_step / 2
    return best, rounds
