"""``python -m marking.warmup``: compile every kernel into Numba's cache.

The warm-up lives in :mod:`marking.watermark.warmup`; this module is its stable entry point
(``make`` and install scripts run it), and hands out the same names.
"""

from __future__ import annotations

from typing import Any

from marking.watermark.warmup import compile_kernels, ensure_compiled, main

__all__ = ["compile_kernels", "ensure_compiled", "main"]


def __getattr__(name: str) -> Any:
    from marking.watermark import warmup

    return getattr(warmup, name)


if __name__ == "__main__":
    main()
