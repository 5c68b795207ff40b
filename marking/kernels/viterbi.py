"""Soft-decision Viterbi decoder for the K=7, rate-1/3 convolutional code (octal 133, 171, 165).

Code convention (shared with the encoder in :mod:`marking.scheme.payload`):

* The encoder state is the last 6 input bits; state bit 5 is the newest, bit 0 the oldest.
* At each step the 7-bit register is ``(input << 6) | state`` and output ``k`` is the parity of
  ``register & GENERATORS[k]``, so a generator's most significant bit taps the current input.
* The three outputs of a step are sent in generator order, step after step.
* The trellis starts in state 0 and is zero-terminated with ``TAIL_BITS`` zero inputs, so it
  also ends in state 0; the decoder traces back from state 0.

Soft input convention: **positive means coded bit 1, negative means 0, the magnitude is the
confidence, and 0 is an erasure** (it favours neither bit).

The kernel deliberately avoids fast-math: path metrics are summed in a fixed order in float64
so that the decisions are reproducible and match the slow twin in
``tests/support/naive/viterbi.py``.
"""

from __future__ import annotations

import numpy as np

from marking.kernels.config import kernel

#: Register length: the current input plus ``TAIL_BITS`` previous ones.
CONSTRAINT_LENGTH = 7
#: Zero inputs appended to return the encoder to state 0 (the code memory).
TAIL_BITS = CONSTRAINT_LENGTH - 1
#: Trellis states: every value of the last ``TAIL_BITS`` inputs.
N_STATES = 1 << TAIL_BITS
#: Generator polynomials (octal 133, 171, 165); the MSB taps the current input.
GENERATORS = (0o133, 0o171, 0o165)
#: Coded bits emitted per input bit (the inverse code rate).
OUTPUTS_PER_STEP = len(GENERATORS)


def _output_codes() -> np.ndarray:
    """The 3-bit output pattern (bit k = output k) for each of the 128 register values."""
    registers = np.arange(1 << CONSTRAINT_LENGTH, dtype=np.uint8)
    codes = np.zeros(registers.size, dtype=np.uint8)
    for k, generator in enumerate(GENERATORS):
        parity = np.bitwise_count(registers & np.uint8(generator)) & 1
        codes |= (parity << k).astype(np.uint8)
    return codes


#: Output pattern of every register value; a compile-time constant for the kernel.
OUTPUT_CODES = _output_codes()


@kernel(cache=True)
def viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Maximum-likelihood info bits (uint8 0/1) for ``soft`` (float32, 3 values per step).

    The last ``TAIL_BITS`` decoded inputs are the zero tail and are not returned, so the
    result has ``len(soft) // 3 - TAIL_BITS`` bits. Ties go to the predecessor whose oldest
    bit is 0.
    """
    if soft.ndim != 1 or soft.size % OUTPUTS_PER_STEP != 0:
        raise ValueError("soft input must be 1-D with a multiple of 3 values")
    n_steps = soft.size // OUTPUTS_PER_STEP
    if n_steps <= TAIL_BITS:
        raise ValueError("soft input is shorter than the tail")

    metrics = np.full(N_STATES, -np.inf)
    metrics[0] = 0.0
    next_metrics = np.empty(N_STATES)
    branch_metrics = np.empty(1 << OUTPUTS_PER_STEP)
    survivors = np.empty((n_steps, N_STATES), dtype=np.uint8)

    for step in range(n_steps):
        s0 = np.float64(soft[OUTPUTS_PER_STEP * step])
        s1 = np.float64(soft[OUTPUTS_PER_STEP * step + 1])
        s2 = np.float64(soft[OUTPUTS_PER_STEP * step + 2])
        # Correlation of the received values with each of the 8 possible output triples
        # (bit k of the pattern set means +1 for output k, clear means -1).
        for pattern in range(1 << OUTPUTS_PER_STEP):
            sign0 = 1.0 if pattern & 1 else -1.0
            sign1 = 1.0 if pattern & 2 else -1.0
            sign2 = 1.0 if pattern & 4 else -1.0
            branch_metrics[pattern] = s0 * sign0 + s1 * sign1 + s2 * sign2

        for state in range(N_STATES):
            newest_input = state >> (TAIL_BITS - 1)
            predecessor = (state & (N_STATES // 2 - 1)) << 1  # its oldest bit still 0
            register = (newest_input << TAIL_BITS) | predecessor
            metric_0 = metrics[predecessor] + branch_metrics[OUTPUT_CODES[register]]
            metric_1 = metrics[predecessor | 1] + branch_metrics[OUTPUT_CODES[register | 1]]
            if metric_1 > metric_0:
                next_metrics[state] = metric_1
                survivors[step, state] = 1
            else:
                next_metrics[state] = metric_0
                survivors[step, state] = 0
        metrics, next_metrics = next_metrics, metrics

    n_info = n_steps - TAIL_BITS
    info_bits = np.empty(n_info, dtype=np.uint8)
    state = 0
    for step in range(n_steps - 1, -1, -1):
        if step < n_info:
            info_bits[step] = state >> (TAIL_BITS - 1)
        state = ((state & (N_STATES // 2 - 1)) << 1) | survivors[step, state]
    return info_bits
