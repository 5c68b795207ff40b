"""Mark and detect a 100-megapixel picture: time and peak memory at the top of the size range.

Run: ``.venv/bin/python bench/large_image.py [--size WIDTHxHEIGHT]``. The picture is the sample
photo upscaled to 12000 x 8400 (or ``--size``); the script also checks that a 10x smaller copy
of the marked picture decodes.
"""

from __future__ import annotations

import argparse
import resource
import time

import harness
import numpy as np
from harness import KEY, PAYLOAD_HEX, SAMPLES
from PIL import Image

from marking.errors import InputTooSmallError
from marking.watermark.image import detect_image, embed_image, luma_psnr

SAMPLE = SAMPLES / "photo-dandelions.jpg"
SIZE = (12000, 8400)


def picture_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` as two whole numbers of pixels, at least 256 each (the smallest the
    watermark marks)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    if min(width, height) < 256:
        raise argparse.ArgumentTypeError(f"{text!r}: both sides must be at least 256 px")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__)
    parser.add_argument(
        "--size",
        type=picture_size,
        default=SIZE,
        metavar="WIDTHxHEIGHT",
        help=f"size of the picture (default {SIZE[0]}x{SIZE[1]})",
    )
    size = parser.parse_args(argv).size
    with Image.open(SAMPLE) as photo:
        pixels = np.asarray(photo.convert("RGB").resize(size, Image.Resampling.BICUBIC))
    harness.warm_kernels()  # compile or load outside the timing
    started = time.perf_counter()
    marked = embed_image(pixels, key=KEY, payload=PAYLOAD_HEX)
    embedded = time.perf_counter()
    found = detect_image(marked, key=KEY)
    detected = time.perf_counter()
    thumbnail = np.asarray(
        Image.fromarray(marked).resize((size[0] // 10, size[1] // 10), Image.Resampling.BICUBIC)
    )
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    print(f"picture: {size[0]}x{size[1]} ({megapixels:.1f} MP)")
    print(f"embed:  {embedded - started:.2f} s, luma PSNR {luma_psnr(pixels, marked):.2f} dB")
    print(f"detect: {detected - embedded:.2f} s, payload {found.payload} (expected {PAYLOAD_HEX})")
    try:
        small = f"payload {detect_image(thumbnail, key=KEY).payload}"
    except InputTooSmallError as error:  # a small --size
        small = f"not tried: {error}"
    print(f"detect on a 10x smaller copy: {small}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB (the input alone is {pixels.nbytes / 2**20:.0f} MB)")
    return 0 if found.payload == PAYLOAD_HEX else 1


if __name__ == "__main__":
    raise SystemExit(main())
