"""Numba settings shared by every kernel, kept in one place so they are tuned together."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: LLVM fast-math flags for kernels whose results may differ from strict IEEE order by a few
#: ulps (sign of zero, reciprocal, fused multiply-add, approximate functions, reassociation).
#: ``nnan``/``ninf`` are deliberately left out: NaN and infinity must survive as they are, so
#: bad input stays visible instead of turning into arbitrary numbers.
FASTMATH: set[str] = {"nsz", "arcp", "contract", "afn", "reassoc"}


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the Numba kernels on one thread for a while, then restore the count.

    For work next to codecs that already use every core (parallel kernels contending with
    them make a transcode about twice as slow), and for per-core measurements.
    """
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)
