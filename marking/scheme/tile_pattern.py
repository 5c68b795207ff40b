"""The image watermark's tile: which DCT coefficients carry what, and how to read them back.

The tile is :data:`TILE` x :data:`TILE` pixels at the canonical scale, 16 x 16 blocks of 8 x 8.
In every block the low and middle frequencies (``1 <= u + v <= 4``, the band that survives JPEG,
resizing and blur) are carrier slots. A key-driven shuffle gives each coded payload bit
:data:`CHIPS_PER_BIT` slots with key-driven signs (spread spectrum); the remaining slots form the
*reference*, a payload-independent pattern the detector uses to find scale and position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from marking.kernels.block_dct import block_dct8, block_idct8
from marking.scheme.keys import Key
from marking.scheme.payload import CODED_BITS, DecodedPayload, decode_payload

TILE = 128
BLOCK = 8
BLOCKS_PER_SIDE = TILE // BLOCK
CARRIER_POSITIONS = tuple((u, total - u) for total in range(1, 5) for u in range(total + 1))
SLOTS = BLOCKS_PER_SIDE**2 * len(CARRIER_POSITIONS)
CHIPS_PER_BIT = 9
PAYLOAD_SLOTS = CODED_BITS * CHIPS_PER_BIT
#: The tile is band-limited to this frequency (cycles per canonical pixel): it keeps the DCT
#: carriers and drops the block-edge harmonics that would only be visible and fragile.
BAND_LIMIT = 0.30


@dataclass(frozen=True, eq=False)
class CarrierLayout:
    """Where each chip of the payload and of the reference sits in the tile's DCT plane."""

    payload_rows: np.ndarray
    payload_cols: np.ndarray
    payload_signs: np.ndarray
    chip_bit: np.ndarray  # coded bit index of each payload chip
    reference_rows: np.ndarray
    reference_cols: np.ndarray
    reference_signs: np.ndarray
    reference_tile: np.ndarray  # spatial reference pattern, float32 TILE x TILE
    reference_spectrum: np.ndarray  # conj(rfft2) of the reference tile, for sync correlation


def _slot_positions(slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    block, position = np.divmod(slots, len(CARRIER_POSITIONS))
    block_row, block_col = np.divmod(block, BLOCKS_PER_SIDE)
    u = np.array([p[0] for p in CARRIER_POSITIONS])[position]
    v = np.array([p[1] for p in CARRIER_POSITIONS])[position]
    return block_row * BLOCK + u, block_col * BLOCK + v


def band_limit(tile: np.ndarray) -> np.ndarray:
    """Zero every frequency of a periodic tile above :data:`BAND_LIMIT`."""
    frequency = np.fft.fftfreq(tile.shape[0])
    radius = np.hypot(frequency[:, None], frequency[None, :])
    return np.fft.ifft2(np.fft.fft2(tile) * (radius <= BAND_LIMIT)).real.astype(np.float32)


def coefficients_to_tile(coefficients: np.ndarray) -> np.ndarray:
    """Spatial tile (band-limited) from a TILE x TILE plane of 8x8 block DCT coefficients."""
    return band_limit(block_idct8(coefficients.astype(np.float32)))


@lru_cache(maxsize=8)
def _layout_for(seed: bytes) -> CarrierLayout:
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "little")))
    order = rng.permutation(SLOTS)
    signs = (rng.integers(0, 2, SLOTS) * 2 - 1).astype(np.float32)
    payload_slots, reference_slots = order[:PAYLOAD_SLOTS], order[PAYLOAD_SLOTS:]
    payload_rows, payload_cols = _slot_positions(payload_slots)
    reference_rows, reference_cols = _slot_positions(reference_slots)
    coefficients = np.zeros((TILE, TILE), np.float32)
    coefficients[reference_rows, reference_cols] = signs[reference_slots]
    reference_tile = coefficients_to_tile(coefficients)
    return CarrierLayout(
        payload_rows=payload_rows,
        payload_cols=payload_cols,
        payload_signs=signs[payload_slots],
        chip_bit=np.arange(PAYLOAD_SLOTS) % CODED_BITS,
        reference_rows=reference_rows,
        reference_cols=reference_cols,
        reference_signs=signs[reference_slots],
        reference_tile=reference_tile,
        reference_spectrum=np.conj(np.fft.rfft2(reference_tile)),
    )


def carrier_layout(key: Key) -> CarrierLayout:
    """The key's layout (cached: building it costs a few milliseconds)."""
    return _layout_for(key.digest("image/carrier-layout"))


def tile_coefficients(
    layout: CarrierLayout,
    coded_bits: np.ndarray,
    bit_gains: np.ndarray | None = None,
    reference_gains: np.ndarray | None = None,
) -> np.ndarray:
    """DCT plane of the tile carrying ``coded_bits``; each bit and reference chip has a gain."""
    symbols = coded_bits.astype(np.float32) * 2 - 1
    chips = layout.payload_signs * symbols[layout.chip_bit]
    if bit_gains is not None:
        chips = chips * bit_gains[layout.chip_bit]
    reference = layout.reference_signs
    if reference_gains is not None:
        reference = reference * reference_gains
    coefficients = np.zeros((TILE, TILE), np.float32)
    coefficients[layout.payload_rows, layout.payload_cols] = chips
    coefficients[layout.reference_rows, layout.reference_cols] = reference
    return coefficients


def position_scales(coefficients: np.ndarray) -> np.ndarray:
    """Robust spread of each DCT position over the tile's blocks, as an 8x8 array.

    The picture leaves far more energy at low than at middle frequencies; dividing each carrier
    by its position's spread weighs every chip by how much it can be trusted.
    """
    blocks = coefficients.reshape(BLOCKS_PER_SIDE, BLOCK, BLOCKS_PER_SIDE, BLOCK)
    spread = 1.4826 * np.median(np.abs(blocks), axis=(0, 2))
    return np.maximum(spread, 1e-6 * (spread.max() + 1e-30))


def whitened_coefficients(folded_tile: np.ndarray) -> np.ndarray:
    """Block DCT of an aligned folded tile, each position divided by its robust spread."""
    coefficients = block_dct8(np.ascontiguousarray(folded_tile, dtype=np.float32))
    return coefficients / np.tile(position_scales(coefficients), (BLOCKS_PER_SIDE, BLOCKS_PER_SIDE))


def payload_statistics(layout: CarrierLayout, whitened: np.ndarray) -> np.ndarray:
    """Per coded bit, the sum of its de-spread chips: positive means bit 1 (float32)."""
    chips = whitened[layout.payload_rows, layout.payload_cols] * layout.payload_signs
    sums = np.bincount(layout.chip_bit, weights=chips, minlength=CODED_BITS)
    return (sums / np.sqrt(CHIPS_PER_BIT)).astype(np.float32)


def reference_statistics(layout: CarrierLayout, whitened: np.ndarray) -> np.ndarray:
    """Each reference chip's de-spread value: positive where the reference pattern is present."""
    return whitened[layout.reference_rows, layout.reference_cols] * layout.reference_signs


def reference_strength(layout: CarrierLayout, whitened: np.ndarray) -> float:
    """Mean de-spread reference chip of a whitened tile: how much of the mark it holds, in
    units of its own noise (about 0 without the mark, whatever the payload)."""
    return float(np.mean(reference_statistics(layout, whitened)))


def decode_tile(layout: CarrierLayout, aligned: np.ndarray) -> DecodedPayload:
    """Decode the payload of a folded tile aligned with the layout (CRC checked)."""
    return decode_payload(payload_statistics(layout, whitened_coefficients(aligned)))
