"""Pictures on disk: write a watermarked or labeled copy, or look for the watermark.

Each function joins the Pillow edge (:mod:`marking.media.image` reads and checks,
:mod:`marking.media.image_write` writes atomically, keeping format and metadata) with the
watermark or the visible label.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from marking.errors import UsageError
from marking.media.atomic import StrPath
from marking.media.image import DEFAULT_MAX_PIXELS, memory_guard, read_image
from marking.media.image_write import open_for_rewrite, write_image
from marking.scheme.limits import MIN_DETECT_SIDE, check_strength
from marking.scheme.results import ImageDetection, ImageEmbedding, ImageLabeling

if TYPE_CHECKING:
    from marking.labels.visible import LabelStyle
    from marking.scheme.keys import Key


def embed_file(
    src: StrPath,
    dst: StrPath,
    *,
    key: Key | str | bytes | None = None,
    payload: bytes | str | int | None = None,
    strength: float = 1.0,
    quality: int = 95,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageEmbedding:
    """Write a watermarked copy of ``src`` to ``dst``; ``src`` is never modified.

    ``payload`` is 8 bytes, 16 hex digits or an int; ``None`` draws a random one. Returns an
    :class:`~marking.scheme.results.ImageEmbedding` (read as a dict too): ``input``,
    ``output``, ``payload`` (hex), ``psnr`` (luma, dB), ``width``, ``height``, ``format`` (of
    the output).
    """
    from marking.scheme.payload import parse_payload_option, random_payload
    from marking.watermark import image as image_watermark

    payload_bytes = random_payload() if payload is None else parse_payload_option(payload)
    strength = check_strength(strength)
    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be between 1 and 100, got {quality}")
    with memory_guard(src, "mark"):
        image, info = open_for_rewrite(src, dst, "marked", max_pixels=max_pixels)
        marked, psnr = image_watermark.embed_with_psnr(
            image, key=key, payload=payload_bytes, strength=strength, release_input=True
        )
        written = write_image(marked, dst, info, quality=quality, forbid=[src])
    return ImageEmbedding(
        input=os.fspath(src),
        output=os.fspath(dst),
        payload=payload_bytes.hex(),
        psnr=psnr,
        width=info.width,
        height=info.height,
        format=written,
    )


def label_file(
    src: StrPath,
    dst: StrPath,
    style: LabelStyle | None = None,
    *,
    quality: int = 95,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageLabeling:
    """Write a copy of ``src`` with the visible label drawn on it; ``src`` is never modified.

    Keeps format, mode, alpha and metadata as :func:`embed_file` does. Returns an
    :class:`~marking.scheme.results.ImageLabeling` with
    ``input``, ``output``, ``format`` and the label's ``box``, ``text_height`` and ``contrast``.
    """
    from marking.labels.visible import label_image

    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be between 1 and 100, got {quality}")
    with memory_guard(src, "label"):
        image, info = open_for_rewrite(src, dst, "labeled", max_pixels=max_pixels, min_side=1)
        labeled, result = label_image(image, style)
        written = write_image(labeled, dst, info, quality=quality, forbid=[src])
    return ImageLabeling(
        input=os.fspath(src),
        output=os.fspath(dst),
        format=written,
        width=info.width,
        height=info.height,
        label=result.to_dict(),
    )


def detect_file(
    path: StrPath,
    *,
    key: Key | str | bytes | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    notes: list[str] | None = None,
) -> ImageDetection:
    """Read an image file and look for a watermark (blind: no original needed).

    A reader: what does not decode is left out (see :func:`read_image`), each such
    omission appended to ``notes`` when given.
    """
    from marking.watermark import image as image_watermark

    # Detection works on smaller pictures than embedding (a marked picture may be resized).
    with memory_guard(path, "read"):
        image, info = read_image(
            path, max_pixels=max_pixels, min_side=MIN_DETECT_SIDE, salvage=True
        )
        if notes is not None:
            notes.extend(info.salvaged)
        return image_watermark.detect_image(image, key=key)
