"""Mark and detect a 100-megapixel picture: time and peak memory at the top of the size range.

Run: ``.venv/bin/python bench/large_image.py``. The picture is the sample photo upscaled to
12000 x 8400; the script also checks that a 10x smaller copy of the marked picture decodes.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image

from marking.watermark.image import detect_image, embed_image, luma_psnr

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "photo-dandelions.jpg"
SIZE = (12000, 8400)
PAYLOAD = "0123456789abcdef"


def main() -> None:
    with Image.open(SAMPLE) as photo:
        pixels = np.asarray(photo.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC))
    embed_image(np.ascontiguousarray(pixels[:512, :512]), payload=0)  # compile outside timing
    started = time.perf_counter()
    marked = embed_image(pixels, key="bench", payload=PAYLOAD)
    embedded = time.perf_counter()
    found = detect_image(marked, key="bench")
    detected = time.perf_counter()
    thumbnail = np.asarray(
        Image.fromarray(marked).resize((SIZE[0] // 10, SIZE[1] // 10), Image.Resampling.BICUBIC)
    )
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    print(f"picture: {SIZE[0]}x{SIZE[1]} ({megapixels:.1f} MP)")
    print(f"embed:  {embedded - started:.2f} s, luma PSNR {luma_psnr(pixels, marked):.2f} dB")
    print(f"detect: {detected - embedded:.2f} s, payload {found.payload} (expected {PAYLOAD})")
    print(f"detect on a 10x smaller copy: payload {detect_image(thumbnail, key='bench').payload}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB (the input alone is {pixels.nbytes / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
