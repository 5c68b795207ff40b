"""Periodic patterns: add one tiled over an image, and fold an image back onto one tile.

The image watermark is a tile repeated over the whole picture. Writing it is one pass over the
pixels (:func:`add_tiled_pattern`); reading it starts by folding: summing every period of the
picture onto a single tile, which adds the watermark coherently and the picture incoherently.
:func:`fold_scaled` folds at any real period, which is how the detector tries the scales a
resized picture may have.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import FASTMATH, kernel, prange


@kernel(cache=True)
def _interpolation_table(count: int, block: int, cells: int) -> tuple:
    """For positions 0..count-1: the two mask cells around each and the second one's weight.

    Mask values sit at block centres; positions between centres blend the two nearest.
    """
    first = np.empty(count, dtype=np.int64)
    second = np.empty(count, dtype=np.int64)
    weight = np.empty(count, dtype=np.float32)
    for i in range(count):
        t = (i + 0.5) / block - 0.5
        cell = min(max(int(np.floor(t)), 0), cells - 1)
        first[i] = cell
        second[i] = min(cell + 1, cells - 1)
        weight[i] = min(max(t - cell, 0.0), 1.0)
    return first, second, weight


@kernel(cache=True, parallel=True, fastmath=FASTMATH)
def add_tiled_pattern(
    pixels: np.ndarray,
    tile: np.ndarray,
    mask: np.ndarray,
    mask_block: int,
    gain: float,
    value_max: float,
    round_values: bool,
) -> np.ndarray:
    """``pixels + gain * mask * tile`` with the tile repeated and the mask interpolated.

    ``pixels`` is (H, W, C) (give a grey plane as (H, W, 1)); the same delta goes to the first
    three channels (so luma moves by the delta and chroma stays), a fourth (alpha) is copied.
    ``mask`` holds one value per ``mask_block`` square, interpolated bilinearly between block
    centres so the pattern has no block edges. Outputs are clipped to ``0..value_max`` and, for
    integer pixels (``round_values``), rounded half up.
    """
    height, width, channels = pixels.shape
    period = tile.shape[0]
    row0, row1, row_w = _interpolation_table(height, mask_block, mask.shape[0])
    col0, col1, col_w = _interpolation_table(width, mask_block, mask.shape[1])
    # The mask interpolated along x once for every block row: rows then only blend two lines.
    mask_lines = np.empty((mask.shape[0], width), dtype=np.float32)
    for r in range(mask.shape[0]):
        for x in range(width):
            a = mask[r, col0[x]]
            mask_lines[r, x] = a + (mask[r, col1[x]] - a) * col_w[x]
    top = np.float32(value_max)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    row_length = width * channels
    out = np.empty_like(pixels)
    for y in prange(height):
        upper = mask_lines[row0[y]]
        lower = mask_lines[row1[y]]
        wy = np.float32(row_w[y])
        tile_row = tile[y % period]
        # The row's delta per sample (zero for alpha), so the update below is one flat loop.
        delta = np.zeros(row_length, dtype=np.float32)
        tx = 0
        for x in range(width):
            d = np.float32(gain) * (upper[x] + (lower[x] - upper[x]) * wy) * tile_row[tx]
            for c in range(min(channels, 3)):
                delta[x * channels + c] = d
            tx += 1
            if tx == period:
                tx = 0
        source = pixels[y].reshape(row_length)
        target = out[y].reshape(row_length)
        if round_values:
            for i in range(row_length):
                # Clamp, then round half up (truncating a non-negative value floors it).
                target[i] = int(min(max(np.float32(source[i]) + delta[i], zero), top) + half)
        else:
            for i in range(row_length):
                target[i] = min(max(source[i] + delta[i], zero), top)
    return out


@kernel(cache=True, parallel=True, fastmath=FASTMATH)
def add_tiled_pattern_in_place(
    plane: np.ndarray,
    tile: np.ndarray,
    mask: np.ndarray,
    mask_block: int,
    gain: float,
    value_max: float,
) -> float:
    """:func:`add_tiled_pattern` on one integer plane (2-D, any strides), in place.

    For decoded video planes: no copy in, none out, and no second pass to measure the change:
    returns the sum of the squared changes (the marked plane's squared error, for its PSNR).
    Values are clipped to ``0..value_max`` and rounded half up, as :func:`add_tiled_pattern`.
    """
    height, width = plane.shape
    period = tile.shape[0]
    row0, row1, row_w = _interpolation_table(height, mask_block, mask.shape[0])
    col0, col1, col_w = _interpolation_table(width, mask_block, mask.shape[1])
    mask_lines = np.empty((mask.shape[0], width), dtype=np.float32)
    for r in range(mask.shape[0]):
        for x in range(width):
            a = mask[r, col0[x]]
            mask_lines[r, x] = a + (mask[r, col1[x]] - a) * col_w[x]
    top = np.float32(value_max)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    scale = np.float32(gain)
    total = 0.0
    for y in prange(height):
        upper = mask_lines[row0[y]]
        lower = mask_lines[row1[y]]
        wy = np.float32(row_w[y])
        tile_row = tile[y % period]
        row = plane[y]
        # The row's delta first, exactly as add_tiled_pattern computes it (the same float32
        # operations in the same order, so the same rounding: a pixel one step off changes
        # what an encoder does with the whole clip).
        delta = np.empty(width, dtype=np.float32)
        tx = 0
        for x in range(width):
            delta[x] = scale * (upper[x] + (lower[x] - upper[x]) * wy) * tile_row[tx]
            tx += 1
            if tx == period:
                tx = 0
        row_total = 0
        for x in range(width):
            old = row[x]
            new = int(min(max(np.float32(old) + delta[x], zero), top) + half)
            change = new - int(old)
            row_total += change * change
            row[x] = new
        total += row_total
    return total


@kernel(cache=True)
def fold_periodic(plane: np.ndarray, period: int) -> np.ndarray:
    """Sum of every ``period`` x ``period`` tile of ``plane`` (float64), partial tiles included."""
    height, width = plane.shape
    out = np.zeros((period, period), dtype=np.float64)
    for y in range(height):
        target = out[y % period]
        for start in range(0, width, period):
            stop = min(start + period, width)
            for x in range(start, stop):
                target[x - start] += plane[y, x]
    return out


@kernel(cache=True)
def _splat_coordinates(count: int, step: float, size: int) -> tuple:
    """Tile cell, next cell and weight of the next cell for positions 0..count-1."""
    first = np.empty(count, dtype=np.int64)
    second = np.empty(count, dtype=np.int64)
    weight = np.empty(count, dtype=np.float32)
    for i in range(count):
        t = (i * step) % size
        cell = min(int(t), size - 1)
        first[i] = cell
        second[i] = (cell + 1) % size
        weight[i] = t - cell
    return first, second, weight


@kernel(cache=True)
def fold_scaled(plane: np.ndarray, period_y: float, period_x: float, size: int) -> np.ndarray:
    """Fold ``plane`` at a real period onto a ``size`` x ``size`` tile, splatting bilinearly.

    Pixel (y, x) lands at tile coordinates ``(y * size / period_y) mod size`` and likewise for x.
    Rows are folded first, each added whole into the two tile rows it falls between (long,
    vectorised additions); only the resulting ``size`` rows are then split column by column.
    Serial on purpose: :func:`fold_scaled_many` runs one fold per thread.
    """
    height, width = plane.shape
    row0, row1, row_w = _splat_coordinates(height, size / period_y, size)
    col0, col1, col_w = _splat_coordinates(width, size / period_x, size)
    rows = np.zeros((size, width), dtype=np.float32)
    for y in range(height):
        lower = row_w[y]
        upper = np.float32(1.0) - lower
        first = rows[row0[y]]
        second = rows[row1[y]]
        source = plane[y]
        for x in range(width):
            first[x] += source[x] * upper
            second[x] += source[x] * lower
    out = np.zeros((size, size), dtype=np.float32)
    for t in range(size):
        line = rows[t]
        target = out[t]
        for x in range(width):
            w = col_w[x]
            target[col0[x]] += line[x] * (np.float32(1.0) - w)
            target[col1[x]] += line[x] * w
    return out


@kernel(cache=True, parallel=True)
def fold_scaled_many(
    plane: np.ndarray, periods_y: np.ndarray, periods_x: np.ndarray, size: int
) -> np.ndarray:
    """:func:`fold_scaled` at many periods at once, one candidate per thread: (n, size, size)."""
    count = periods_y.shape[0]
    out = np.empty((count, size, size), dtype=np.float32)
    for i in prange(count):
        out[i] = fold_scaled(plane, periods_y[i], periods_x[i], size)
    return out


@kernel(cache=True, fastmath=FASTMATH)
def fold_mapped(plane: np.ndarray, mapping: np.ndarray, size: int) -> np.ndarray:
    """Fold ``plane`` onto a ``size`` x ``size`` tile through a homography, splatting bilinearly.

    ``mapping`` (3 x 3) takes a pixel's homogeneous (row, column, 1) to the tile's homogeneous
    coordinates; the tile position is taken modulo ``size``. This is :func:`fold_scaled` for a
    tile lattice that is rotated, sheared, stretched, mirrored or seen in mild perspective.
    Serial on purpose: :func:`fold_mapped_many` runs one fold per thread.
    """
    height, width = plane.shape
    out = np.zeros((size, size), dtype=np.float32)
    period = np.float64(size)
    per_period = 1.0 / period
    for y in range(height):
        source = plane[y]
        base_u = mapping[0, 0] * y + mapping[0, 2]
        base_v = mapping[1, 0] * y + mapping[1, 2]
        base_w = mapping[2, 0] * y + mapping[2, 2]
        for x in range(width):
            value = source[x]
            if value == 0:
                continue  # flat fill (black corners, bars) adds nothing
            scale = 1.0 / (base_w + mapping[2, 1] * x)
            u = (base_u + mapping[0, 1] * x) * scale
            v = (base_v + mapping[1, 1] * x) * scale
            u -= period * np.floor(u * per_period)
            v -= period * np.floor(v * per_period)
            row = min(int(u), size - 1)
            col = min(int(v), size - 1)
            wu = np.float32(u - row)
            wv = np.float32(v - col)
            # The next cell, wrapped without an integer modulo (a division per pixel).
            row2 = row + 1 if row + 1 < size else 0
            col2 = col + 1 if col + 1 < size else 0
            upper = value * (np.float32(1.0) - wu)
            lower = value * wu
            out[row, col] += upper * (np.float32(1.0) - wv)
            out[row, col2] += upper * wv
            out[row2, col] += lower * (np.float32(1.0) - wv)
            out[row2, col2] += lower * wv
    return out


@kernel(cache=True, parallel=True)
def fold_mapped_many(plane: np.ndarray, mappings: np.ndarray, size: int) -> np.ndarray:
    """:func:`fold_mapped` for many homographies (n, 3, 3), one per thread: (n, size, size)."""
    count = mappings.shape[0]
    out = np.empty((count, size, size), dtype=np.float32)
    for i in prange(count):
        out[i] = fold_mapped(plane, mappings[i], size)
    return out


@kernel(cache=True, parallel=True, fastmath=FASTMATH)
def lattice_scores(magnitude: np.ndarray, harmonics: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """How strongly a spectrum's magnitude shows each candidate lattice: one score per map.

    ``magnitude`` is a picture's whitened FFT magnitude (H, W); ``harmonics`` (N, 2) the tile's
    harmonics (row, column, in cycles per tile); ``maps`` (n, 2, 2) take a harmonic to a
    frequency in cycles per pixel. The score sums the magnitude at every harmonic's frequency
    (the nearest bin): a periodic pattern on that lattice puts its energy there.
    """
    height, width = magnitude.shape
    count = maps.shape[0]
    rows_k = np.ascontiguousarray(harmonics[:, 0])
    cols_k = np.ascontiguousarray(harmonics[:, 1])
    # The nearest bin, wrapped into the spectrum with a float floor: an integer modulo per
    # look-up cost half the kernel's time.
    per_height, per_width = 1.0 / height, 1.0 / width
    scores = np.empty(count, dtype=np.float64)
    for c in prange(count):
        a = maps[c, 0, 0] * height
        b = maps[c, 0, 1] * height
        d = maps[c, 1, 0] * width
        e = maps[c, 1, 1] * width
        total = 0.0
        for i in range(rows_k.shape[0]):
            y = a * rows_k[i] + b * cols_k[i] + 0.5
            x = d * rows_k[i] + e * cols_k[i] + 0.5
            row = int(y - height * np.floor(y * per_height))
            col = int(x - width * np.floor(x * per_width))
            if row >= height:  # rounding put it one period up
                row -= height
            if col >= width:
                col -= width
            total += magnitude[row, col]
        scores[c] = total
    return scores
