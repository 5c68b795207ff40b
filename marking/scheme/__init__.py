"""Layer 2, the scheme: payload and error-correcting code, keys, the tile pattern, detection
statistics (false-alarm figures and limits) and the result types.

Rule: pure computation; imports only :mod:`marking.kernels` and :mod:`marking.errors`.
"""
