"""Slow, obviously correct NumPy/SciPy twins of the Numba kernels, used only by tests."""
