"""Compile every Numba kernel once, into Numba's on-disk cache, before real work starts.

Kernels are ``cache=True``: the first process that needs a kernel compiles it and writes the
machine code next to the module, and later processes load it in milliseconds. If many
processes start at once on a fresh install, each would compile the same kernels and race to
write the same cache files (numba issues 4807 and 10128). Running this once after installing
(``make`` does) or in a parent before it starts workers avoids both the wasted time and the race.

Run it as ``python -m marking.warmup``.
"""

from __future__ import annotations

import time

import numpy as np


def compile_kernels() -> float:
    """Run embedding and detection on small synthetic pictures of each supported pixel type.

    Returns the seconds it took (mostly compilation on a fresh install, well under one second
    once the cache is warm).
    """
    from marking.image_watermark import detect_image, embed_image

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    base = rng.random((256, 256)).astype(np.float32)
    pictures = [
        (base[:, :, None].repeat(3, axis=2) * 255).astype(np.uint8),
        (base[:, :, None].repeat(4, axis=2) * 255).astype(np.uint8),
        (base * 255).astype(np.uint8),
        (base * 65535).astype(np.uint16),
        (base[:, :, None].repeat(3, axis=2) * 65535).astype(np.uint16),
        base,
    ]
    for picture in pictures:
        detect_image(embed_image(picture, payload=0))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"marking: kernels ready in {compile_kernels():.1f} s")
