"""atheris harness: ``read_xmp_bytes`` and ``tag_image_bytes`` (JPEG/PNG/WebP/TIFF segment
walkers) on arbitrary bytes; a tagged result must read back its packet."""

from __future__ import annotations

import contextlib

import _common

from marking.errors import MarkingError
from marking.tags.image_tags import read_xmp_bytes, tag_image_bytes
from tests.support.fuzz_seeds import IMAGE_FORMATS, XMP, image_seed


def TestOneInput(data: bytes) -> None:
    with contextlib.suppress(MarkingError):
        read_xmp_bytes(data)
    try:
        tagged = tag_image_bytes(data, None, XMP)
    except MarkingError:
        return
    assert read_xmp_bytes(tagged) == XMP


if __name__ == "__main__":
    _common.run(TestOneInput, [image_seed(fmt, tagged=t) for fmt in IMAGE_FORMATS for t in (0, 1)])
