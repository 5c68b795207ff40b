"""Slow, obviously correct twins of the convolutional encoder and the Viterbi kernel.

Both follow the textbook description step by step, with their own parity computation, so
they share no tables with the code under test; only the generator constants are repeated.
"""

from __future__ import annotations

import numpy as np

GENERATORS = (0o133, 0o171, 0o165)
MEMORY = 6


def _parity(value: int) -> int:
    return bin(value).count("1") & 1


def convolutional_encode_naive(info_bits: np.ndarray) -> np.ndarray:
    """Shift-register encoder: newest input in register bit 6, zero tail of 6 bits."""
    state = 0
    coded: list[int] = []
    for bit in [int(b) for b in info_bits] + [0] * MEMORY:
        register = (bit << MEMORY) | state
        coded.extend(_parity(register & generator) for generator in GENERATORS)
        state = register >> 1
    return np.array(coded, dtype=np.uint8)


def viterbi_decode_naive(soft: np.ndarray) -> np.ndarray:
    """Per-step Viterbi with correlation metrics; ties keep the predecessor with oldest bit 0."""
    soft = np.asarray(soft, dtype=np.float32)
    n_steps = soft.size // len(GENERATORS)
    n_states = 1 << MEMORY
    metrics = [-np.inf] * n_states
    metrics[0] = 0.0
    history: list[list[int]] = []
    for step in range(n_steps):
        received = [float(v) for v in soft[3 * step : 3 * step + 3]]
        new_metrics = [0.0] * n_states
        choices = [0] * n_states
        for state in range(n_states):
            newest = state >> (MEMORY - 1)
            candidates = []
            for oldest in (0, 1):
                previous = ((state << 1) & (n_states - 1)) | oldest
                register = (newest << MEMORY) | previous
                assert register >> 1 == state
                signs = [1.0 if _parity(register & g) else -1.0 for g in GENERATORS]
                branch = received[0] * signs[0] + received[1] * signs[1] + received[2] * signs[2]
                candidates.append(metrics[previous] + branch)
            choices[state] = 1 if candidates[1] > candidates[0] else 0
            new_metrics[state] = candidates[choices[state]]
        metrics = new_metrics
        history.append(choices)

    decoded = []
    state = 0
    for step in reversed(range(n_steps)):
        decoded.append(state >> (MEMORY - 1))
        state = ((state << 1) & (n_states - 1)) | history[step][state]
    decoded.reverse()
    return np.array(decoded[: n_steps - MEMORY], dtype=np.uint8)
