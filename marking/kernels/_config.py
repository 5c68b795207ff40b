"""Numba settings shared by every kernel, kept in one place so they are tuned together."""

from __future__ import annotations

#: LLVM fast-math flags for kernels whose results may differ from strict IEEE order by a few
#: ulps (sign of zero, reciprocal, fused multiply-add, approximate functions, reassociation).
#: ``nnan``/``ninf`` are deliberately left out: NaN and infinity must survive as they are, so
#: bad input stays visible instead of turning into arbitrary numbers.
FASTMATH: set[str] = {"nsz", "arcp", "contract", "afn", "reassoc"}
