"""Synchronising with the picture watermark's tile: where it is, at what scale, in what pose.

The tile repeats over the picture on a lattice. The detector's first searches assume the
lattice is square and upright (the picture was resized and cropped, no more), which is the
common case and cheap. When they fail, :func:`lattice_peaks` finds the lattice itself, so a
picture that was rotated, mirrored, stretched, sheared or photographed off a screen is found:

1. **Lattice.** Candidate bases come from :mod:`marking.watermark.image_lattice`: the
   picture's autocorrelation first (cheap, for pictures averaged down from about 850 px),
   then, if no pose stands out, the tile's harmonics in its spectrum (small pictures).
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
from marking.watermark.image_lattice import (
    BASES_TRIED,
    SPECTRUM_KEPT,
    autocorrelation_bases,
    parabolic_offset,
    spectrum_bases,
)

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
#: Periods the spectrum is searched around at most: a share of the short side and, for a
#: small original, the tile's own size (see ``image_detect._prior_centres``).
PRIOR_PERIODS = 2
#: Folds tried at most: each basis of both finders in each symmetry, then each round's nudges.
LATTICE_BASES = BASES_TRIED + PRIOR_PERIODS * SPECTRUM_KEPT
LATTICE_HYPOTHESES = LATTICE_BASES * len(SYMMETRIES) + REFINE_ROUNDS * 12


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
    # Each surface's mean is its spectrum's DC term over the cell count: only the spread needs
    # a pass (the peak and its neighbours are scaled below, not the whole surface).
    cells = size * size
    mean = spectra[:, 0, 0].real / cells
    power = np.einsum("ij,ij->i", flat, flat) / cells
    spread = np.sqrt(np.maximum(power - mean * mean, 0.0)) + 1e-12
    rows, cols = np.divmod(flat.argmax(axis=1), size)
    index = np.arange(len(folded))
    middle = surfaces[index, rows, cols]
    shift_y = rows + parabolic_offset(
        surfaces[index, (rows - 1) % size, cols], middle, surfaces[index, (rows + 1) % size, cols]
    )
    shift_x = cols + parabolic_offset(
        surfaces[index, rows, (cols - 1) % size], middle, surfaces[index, rows, (cols + 1) % size]
    )
    scores = (middle - mean) / spread
    return [
        SyncPeak(float(scores[i]), mappings[i], float(shift_y[i]), float(shift_x[i]), folded[i])
        for i in index
    ]


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


def lattice_peaks(
    work: np.ndarray, reference: np.ndarray, periods: list[float]
) -> tuple[list[SyncPeak], int]:
    """The best poses of the tile from the picture's own lattice, best first, and the number
    of folds tried (each a hypothesis for the false-alarm figure). ``periods`` are the
    embedder's possible periods in working pixels (at most :data:`PRIOR_PERIODS`)."""
    centre = (np.array(work.shape, dtype=np.float64) - 1) / 2
    peaks = _poses(work, autocorrelation_bases(work), centre, reference)
    if not peaks or peaks[0].score < REFINE_GATE:
        # Too weak in the autocorrelation (a small picture): search the spectrum.
        found = _poses(work, spectrum_bases(work, periods), centre, reference)
        peaks = sorted([*peaks, *found], key=lambda peak: -peak.score)
    tried = len(peaks)
    if peaks and peaks[0].score >= REFINE_GATE:
        best, rounds = _refine(work, peaks[0], centre, reference)
        tried += rounds * 12
        peaks = [best, *peaks[1:]]
    return peaks, tried


def _poses(
    work: np.ndarray, bases: list[np.ndarray], centre: np.ndarray, reference: np.ndarray
) -> list[SyncPeak]:
    """Fold along each basis and read each fold in the eight orientations; best first."""
    if not bases:
        return []
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
    return sorted(peaks, key=lambda peak: -peak.score)


def _refine(
    work: np.ndarray, start: SyncPeak, centre: np.ndarray, reference: np.ndarray
) -> tuple[SyncPeak, int]:
    """Hill-climb the pose's 2 x 2 map and perspective tilt; the best pose and rounds used."""
    linear, tilt = start.mapping[:2, :2].copy(), start.mapping[2, :2].copy()
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
