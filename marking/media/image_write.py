"""Writing image files: a picture and the metadata of its source, atomically.

:func:`write_image` writes a decoded picture with what :func:`marking.media.image.read_image`
found beside its pixels (:class:`~marking.media.image.ImageInfo`: ICC profile, EXIF, XMP,
resolution, PNG text, the encoder settings), in the source's format or the one the output's
suffix names; :func:`save_params` is that metadata as Pillow ``save()`` arguments.
:func:`open_for_rewrite` reads a picture for writing a changed copy, checking both ends first.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, PngImagePlugin

from marking.errors import OutputError, UnsupportedInputError, UsageError
from marking.media.atomic import (
    StrPath,
    atomic_write,
    check_output_path,
    display_path,
    file_error,
)
from marking.media.image import (
    EXIF_IFD,
    FORMAT_ALIASES,
    GPS_IFD,
    SUPPORTED_MODES,
    TIFF_DESCRIPTIVE_TAGS,
    ImageInfo,
    format_name,
    read_image,
)
from marking.media.png import PNG_XMP_KEYWORD
from marking.media.sniffing import IMAGE_SUFFIX_FORMATS, suffix_mismatch

#: Modes each output format stores without losing channels or bit depth. WebP keeps
#: grayscale as RGB, which loses nothing.
_WRITABLE_MODES = {
    "JPEG": ("L", "RGB"),
    "PNG": ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L"),
    "WEBP": ("L", "LA", "RGB", "RGBA"),
    "TIFF": SUPPORTED_MODES,
}

_JPEG_MARKERS = {"APP1": b"\xff\xe1", "APP13": b"\xff\xed"}
_TIFF_XMP = 700
_DEFAULT_TIFF_COMPRESSION = "tiff_adobe_deflate"


def output_format(path: StrPath, source_format: str, source: StrPath | None = None) -> str:
    """The format to write ``path`` in: its suffix's if it names a supported format, the
    source's if the suffix is the source's own (a file named against its content).

    Raises :class:`OutputError` for image suffixes of unsupported formats (``.gif``) and
    :class:`UsageError` for any other suffix, or none: an output's name says what it holds.
    """
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIX_FORMATS:
        return IMAGE_SUFFIX_FORMATS[suffix]
    if suffix and suffix in Image.registered_extensions():
        supported = ", ".join(sorted(IMAGE_SUFFIX_FORMATS))
        raise OutputError(
            f"{display_path(path)}: cannot write {suffix} files (supported: {supported})"
        )
    mismatch = suffix_mismatch(
        display_path(path), "a picture", source=source, expected=tuple(IMAGE_SUFFIX_FORMATS)
    )
    if mismatch is not None:  # a sound's or a video's name (.wav, .mp4), or no format's
        raise UsageError(mismatch)
    return FORMAT_ALIASES.get(source_format, source_format)


def check_writable_mode(path: StrPath, mode: str, target_format: str) -> None:
    """Refuse an output format that would drop the alpha channel or bit depth of ``mode``."""
    if mode not in _WRITABLE_MODES.get(target_format, ()):
        better = "PNG or TIFF" if mode in _WRITABLE_MODES["PNG"] else "TIFF"
        raise OutputError(
            f"{display_path(path)}: a {mode} image cannot be saved as "
            f"{format_name(target_format)} without losing data; write {better} instead"
        )


def _exif_for_tiff(exif_bytes: bytes | None, xmp: bytes | None, compression: str) -> Image.Exif:
    """TIFF tags for the copy: the descriptive EXIF tags and the XMP packet.

    Pillow's libtiff writer (every compressed TIFF) cannot write sub-IFDs, so the EXIF
    and GPS IFDs survive only in uncompressed TIFF.
    """
    tags = Image.Exif()
    if exif_bytes:
        source = Image.Exif()
        with contextlib.suppress(Exception):
            source.load(exif_bytes)
        for tag in TIFF_DESCRIPTIVE_TAGS:
            if tag in source:
                tags[tag] = source[tag]
        if compression == "raw":
            for ifd in (EXIF_IFD, GPS_IFD):
                with contextlib.suppress(Exception):
                    if ifd in source and (sub_ifd := dict(source.get_ifd(ifd))):
                        tags[ifd] = sub_ifd
    if xmp:
        tags[_TIFF_XMP] = xmp
    if EXIF_IFD in tags or GPS_IFD in tags:
        # Pillow's TIFF writer reads sub-IFDs back from a parsed block, not from dicts.
        parsed = Image.Exif()
        parsed.load(tags.tobytes())
        return parsed
    return tags


def _png_info(info: ImageInfo) -> PngImagePlugin.PngInfo:
    png_info = PngImagePlugin.PngInfo()
    if info.format == "PNG":
        for chunk_type, data, after_idat in info.png_chunks:
            png_info.add(chunk_type, data, after_idat)
    if info.xmp:
        png_info.add_itxt(PNG_XMP_KEYWORD.decode(), info.xmp.decode("utf-8", "replace"))
    return png_info


def _jpeg_extra(info: ImageInfo) -> bytes:
    """Copied APP segments, encoded as JPEG markers."""
    extra = b""
    for marker, content in info.jpeg_segments:
        extra += _JPEG_MARKERS[marker] + struct.pack(">H", len(content) + 2) + content
    return extra


def save_params(target_format: str, info: ImageInfo, *, quality: int = 95) -> dict[str, Any]:
    """Pillow ``save()`` keyword arguments writing ``info``'s metadata in ``target_format``.

    Every metadata key is passed explicitly (even as ``None``) so that nothing leaks in
    from the ``info`` dict of the image being saved.
    """
    same_format = target_format == info.format
    params: dict[str, Any] = {"icc_profile": info.icc_profile}
    if target_format == "JPEG":
        params |= {
            "quality": quality,
            "exif": info.exif or b"",
            "xmp": info.xmp or b"",
            "comment": info.jpeg_comment if same_format else None,
            "progressive": info.jpeg_progressive and same_format,
            "optimize": True,
        }
        if same_format and info.jpeg_subsampling not in (None, -1):
            params["subsampling"] = info.jpeg_subsampling
        if same_format and info.jpeg_segments:
            params["extra"] = _jpeg_extra(info)
        if info.dpi:
            params["dpi"] = info.dpi
    elif target_format == "PNG":
        params |= {
            "exif": info.exif or b"",
            "pnginfo": _png_info(info),
            "transparency": info.transparency if same_format else None,
            "dpi": info.dpi,
        }
    elif target_format == "WEBP":
        lossless = bool(info.webp_lossless) if same_format else info.format != "JPEG"
        params |= {"lossless": lossless, "exif": info.exif or b"", "xmp": info.xmp or b""}
        params |= {"exact": True} if lossless else {"quality": quality}
    elif target_format == "TIFF":
        compression = (info.tiff_compression if same_format else None) or (
            _DEFAULT_TIFF_COMPRESSION
        )
        params |= {
            "compression": compression,
            "exif": _exif_for_tiff(info.exif, info.xmp, compression),
        }
        if compression == "jpeg":
            params["quality"] = quality
        if same_format and info.tiff_resolution:
            x_resolution, y_resolution, unit = info.tiff_resolution
            params |= {
                "x_resolution": x_resolution,
                "y_resolution": y_resolution,
                "resolution_unit": unit,
            }
        elif info.dpi:
            params["dpi"] = info.dpi
    else:
        raise OutputError(f"cannot write {format_name(target_format)} images")
    return params


def write_image(
    image: Image.Image,
    path: StrPath,
    info: ImageInfo,
    *,
    quality: int = 95,
    forbid: Iterable[StrPath] = (),
) -> str:
    """Write ``image`` to ``path`` atomically, carrying over ``info``'s metadata.

    The format is the source's unless the suffix of ``path`` names another supported one.
    Refuses to write onto any path in ``forbid`` (and onto ``info.source``), and to write a
    mode the format cannot hold. Returns the format written (Pillow's name).
    """
    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be between 1 and 100, got {quality}")
    forbidden = [*forbid, *([info.source] if info.source is not None else [])]
    check_output_path(path, forbidden)
    target_format = output_format(path, info.format, info.source)
    check_writable_mode(path, image.mode, target_format)
    params = save_params(target_format, info, quality=quality)
    if isinstance(image, ImageFile.ImageFile):
        # A file-backed image would add its own stale tags (TIFF) and info on save.
        image = image.copy()
    # Encode in memory, then write the bytes: Pillow's optimized JPEG path drops write errors
    # (a full disk gave a silently truncated file), while a plain write always reports them.
    encoded = io.BytesIO()
    try:
        image.save(encoded, format=target_format, **params)
    except (OSError, ValueError, RuntimeError, TypeError, struct.error) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise OutputError(
            f"{display_path(path)}: cannot write {format_name(target_format)}: {reason}"
        ) from error
    with atomic_write(path, forbid=forbidden) as stream:
        stream.write(encoded.getbuffer())
    return target_format


def open_for_rewrite(
    src: StrPath, dst: StrPath, verb: str, *, max_pixels: int, min_side: int | None = None
) -> tuple[Image.Image, ImageInfo]:
    """Read ``src`` for writing a changed copy to ``dst``, checking both ends first.

    Refuses an output that is the input, 16-bit colour (Pillow would reduce it to 8 bits)
    and output formats that cannot hold the image's mode.
    """
    check_output_path(dst, forbid=[src])
    image, info = read_image(src, max_pixels=max_pixels, min_side=min_side)
    if info.reduced_bit_depth:
        raise file_error(
            UnsupportedInputError,
            src,
            f"16-bit colour images cannot be {verb} yet (they would be reduced to 8 bits); "
            "convert to 8 bits per channel first",
        )
    check_writable_mode(dst, image.mode, output_format(dst, info.format, src))
    return image, info
