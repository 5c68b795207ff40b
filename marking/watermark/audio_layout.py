"""The audio watermark's keyed layout and frame grid, shared by its embedder and detector.

Audio is cut into 20 ms frames every 10 ms (50 Hz bins) at whatever rate it comes in; a keyed
pattern of 10 s (1,000 frames by the 120 bins from 300 Hz to 6.3 kHz) gives every
time-frequency slot a chip of +1 or -1, 20 % of them a sync reference, the rest the coded bits.
See :mod:`marking.watermark.audio` for the whole scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from marking.scheme.keys import Key, as_key
from marking.scheme.payload import (
    CODED_BITS,
    encode_payload,
)

#: Frame length and hop in seconds: the grid is the same at every sample rate.
FRAME_SECONDS = 0.02
FRAMES_PER_SECOND = 100
#: The marked band in 50 Hz bins: 300 Hz up to (not including) 6.3 kHz.
FIRST_BIN = 6
BANDS = 120
#: Frames in one period of the pattern (10 s).
PERIOD = 1000
#: Frames in one block of the layout: every bit owns nearly the same number of slots in each.
LAYOUT_BLOCK = 100
#: Share of the slots that are sync reference.
REFERENCE_SHARE = 0.2
#: Rates the watermark accepts.
RATE_RANGE = (8000, 192000)


# --- the keyed layout ----------------------------------------------------------------------


@dataclass(frozen=True)
class AudioLayout:
    """Where each coded bit and the sync reference sit in one period, for one key.

    ``chips`` is (PERIOD, BANDS) of +1/-1; ``owner`` gives the coded bit owning each slot, or
    -1 for the reference; ``groups`` numbers the informed-embedding groups (the bit, or one of
    the reference groups of about a bit's size).
    """

    chips: np.ndarray
    owner: np.ndarray
    groups: np.ndarray
    group_count: int
    bit_rows: np.ndarray
    bit_cols: np.ndarray
    bit_owner: np.ndarray
    reference: np.ndarray
    reference_spectrum: np.ndarray
    reference_density: np.ndarray


@lru_cache(maxsize=16)
def _layout_for(digest: bytes) -> AudioLayout:
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))
    slots_per_block = LAYOUT_BLOCK * BANDS
    reference_count = round(slots_per_block * REFERENCE_SHARE)
    data_count = slots_per_block - reference_count
    reference_groups = max(1, round(reference_count * CODED_BITS / data_count))
    owner = np.empty((PERIOD, BANDS), dtype=np.int32)
    groups = np.empty((PERIOD, BANDS), dtype=np.int32)
    for block in range(PERIOD // LAYOUT_BLOCK):
        # Each block deals the bits round-robin, starting where the last block stopped, so
        # every bit gets its share in every second of audio.
        first = block * data_count
        bits = (first + np.arange(data_count)) % CODED_BITS
        labels = np.concatenate([np.full(reference_count, -1), bits]).astype(np.int32)
        reference_group = CODED_BITS + np.arange(reference_count) % reference_groups
        group_labels = np.concatenate([reference_group, bits]).astype(np.int32)
        order = rng.permutation(slots_per_block)
        rows = slice(block * LAYOUT_BLOCK, (block + 1) * LAYOUT_BLOCK)
        owner[rows] = labels[order].reshape(LAYOUT_BLOCK, BANDS)
        groups[rows] = group_labels[order].reshape(LAYOUT_BLOCK, BANDS)
    chips = (rng.integers(0, 2, size=(PERIOD, BANDS)) * 2 - 1).astype(np.int8)
    data = owner >= 0
    order = np.argsort(owner[data], kind="stable")
    rows, cols = np.nonzero(data)
    reference = np.where(owner < 0, chips, 0).astype(np.float32)
    for array in (chips, owner, groups, reference):
        array.setflags(write=False)
    return AudioLayout(
        chips=chips,
        owner=owner,
        groups=groups,
        group_count=CODED_BITS + reference_groups,
        bit_rows=rows[order],
        bit_cols=cols[order],
        bit_owner=owner[data][order],
        reference=reference,
        reference_spectrum=scipy.fft.rfft(reference, axis=0).astype(np.complex64),
        reference_density=np.abs(reference).mean(axis=0).astype(np.float64),
    )


def audio_layout(key: Key | str | bytes | None) -> AudioLayout:
    """The layout for ``key`` (cached)."""
    return _layout_for(as_key(key).digest("audio-watermark/v1/layout"))


def slot_signs(layout: AudioLayout, payload: bytes) -> np.ndarray:
    """+1/-1 per slot of one period: the chip times the sign of the bit it carries."""
    bits = encode_payload(payload).astype(np.int8) * 2 - 1
    carried = np.where(layout.owner >= 0, bits[np.maximum(layout.owner, 0)], 1).astype(np.int8)
    return (layout.chips * carried).astype(np.float32)


# --- the frame grid ------------------------------------------------------------------------


def check_rate(rate: int) -> int:
    """``rate`` as an int, or why the watermark cannot take it (TypeError, ValueError)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise TypeError(f"sample rate must be an integer, got {type(rate).__name__}")
    rate = int(rate)
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(
            f"sample rate {rate} Hz is outside the supported {RATE_RANGE[0]}-{RATE_RANGE[1]} Hz"
        )
    return rate


@lru_cache(maxsize=64)
def analysis_window(length: int) -> np.ndarray:
    """Periodic sqrt-Hann: analysis times synthesis sums to 1 at a half-frame hop."""
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length))
    window = window.astype(np.float32)
    window.setflags(write=False)
    return window


def frame_length(rate: float) -> int:
    """Samples in one 20 ms frame at ``rate`` (at least 16)."""
    return max(16, round(rate * FRAME_SECONDS))


def live_bins(rate: float) -> int:
    """Bins of the band below 0.45 x the rate (what this rate can carry)."""
    top = int(0.45 * rate / (1 / FRAME_SECONDS))
    return max(0, min(BANDS, top - FIRST_BIN))


def frame_starts(first: int, count: int, rate: int, length: int) -> np.ndarray:
    """Start sample of frames ``first..first+count-1``: centre at ``f * rate / 100``, rounded."""
    frames = np.arange(first, first + count, dtype=np.int64)
    centres = (frames * rate * 2 + FRAMES_PER_SECOND) // (2 * FRAMES_PER_SECOND)
    return centres - length // 2
