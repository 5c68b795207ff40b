"""Reading image files: the only module that opens them with Pillow to decode them.

:func:`read_image` opens a JPEG, PNG, WebP or TIFF file, decodes it fully and checks that
the watermark can work with it, turning every way a file can be unusable into one
:class:`~marking.errors.InputError` with a one-line message. Alongside the pixels it
returns an :class:`ImageInfo`: the metadata a marked copy must carry over (ICC profile,
EXIF, XMP, resolution, PNG text, the encoder settings of the source).
:mod:`marking.media.image_write` writes such a copy atomically, and
:mod:`marking.files.image` joins the two with the watermark and the visible label.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from marking.errors import (
    InputError,
    InputTooLargeError,
    InputTooSmallError,
    MarkingError,
    UnsupportedInputError,
)
from marking.media.atomic import (
    StrPath,
    file_error,
    input_file_problem,
    open_regular,
    read_whole,
)
from marking.media.png import PNG_XMP_KEYWORD, png_chunk_headers
from marking.media.sniffing import PILLOW_NAMES, image_format_of_file
from marking.scheme.limits import MIN_SIDE

#: Images with more pixels than this are refused (a decompression-bomb guard).
DEFAULT_MAX_PIXELS = 200_000_000

#: Formats we read and write, by Pillow's format name. MPO (a JPEG with extra frames, as
#: phone cameras write) is read as its primary JPEG image.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
#: Pillow's formats read (and written) as another: MPO as JPEG.
FORMAT_ALIASES = {"MPO": "JPEG"}
#: Pillow's format names as messages show them (``WEBP`` as ``WebP``).
_FORMAT_NAMES = {pillow: name for name, pillow in PILLOW_NAMES.items()}

#: Pixel modes the watermark handles.
SUPPORTED_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F")
_MODE_ADVICE = {
    "P": "palette images (mode P) are not supported; convert to RGB or RGBA first",
    "PA": "palette images (mode PA) are not supported; convert to RGBA first",
    "1": "1-bit images are not supported; convert to grayscale (L) first",
    "CMYK": "CMYK images are not supported; convert to RGB first",
    "YCbCr": "YCbCr images are not supported; convert to RGB first",
}

#: PNG ancillary chunks copied verbatim into a PNG copy: text and colour description.
#: (pHYs, iCCP, eXIf and tRNS are written from their decoded values instead; tIME is
#: deliberately dropped because the copy is a new modification.)
_PNG_COPIED_CHUNKS = frozenset(
    {b"tEXt", b"zTXt", b"iTXt", b"gAMA", b"cHRM", b"cICP", b"sRGB", b"sBIT", b"bKGD"}
)
_PNG_MAX_COPIED_BYTES = 16 * 1024 * 1024

#: JPEG APP segments copied verbatim: Photoshop IRB / IPTC (APP13) and extended XMP (APP1).
#: C2PA manifests (APP11) are not copied: they bind to the original pixels.
_JPEG_COPIED_SEGMENTS = {
    "APP13": (b"Photoshop 3.0\x00",),
    "APP1": (b"http://ns.adobe.com/xmp/extension/\x00",),
}
_JPEG_MAX_SEGMENT = 65533

#: TIFF tags that describe the picture (as opposed to its layout) and so belong in a copy.
TIFF_DESCRIPTIVE_TAGS = (
    269,  # DocumentName
    270,  # ImageDescription
    271,  # Make
    272,  # Model
    274,  # Orientation
    285,  # PageName
    305,  # Software
    306,  # DateTime
    315,  # Artist
    316,  # HostComputer
    33432,  # Copyright
)
#: The tags pointing at a TIFF's (or an EXIF block's) EXIF and GPS sub-IFDs.
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
_TIFF_RESOLUTION_TAGS = (282, 283, 296)  # XResolution, YResolution, ResolutionUnit
_EXIF_HEADER = b"Exif\x00\x00"

# Pillow keeps its decompression-bomb limit and truncated-image switch in module globals;
# read_image sets both for the duration of a read, one read at a time.
_PILLOW_SETTINGS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageInfo:
    """What a file held besides its pixels: enough to write a faithful marked copy.

    ``format`` is Pillow's name (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ``"TIFF"``); ``exif``
    is a complete EXIF block starting with ``b"Exif\\0\\0"``; ``xmp`` the raw XMP packet.
    Format-specific fields are ``None`` (or empty) for other formats.
    """

    format: str
    mode: str
    size: tuple[int, int]
    source: Path | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    #: PNG tRNS colour key of an L/RGB/I;16 image (an int or an RGB tuple).
    transparency: Any = None
    #: JPEG chroma subsampling as Pillow numbers it (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0),
    #: -1 when not applicable (grayscale).
    jpeg_subsampling: int | None = None
    jpeg_progressive: bool = False
    jpeg_comment: bytes | None = None
    #: Raw JPEG segments copied as they are: (marker name, payload).
    jpeg_segments: tuple[tuple[str, bytes], ...] = ()
    #: Raw PNG chunks copied as they are: (chunk type, data, after IDAT).
    png_chunks: tuple[tuple[bytes, bytes, bool], ...] = ()
    webp_lossless: bool | None = None
    tiff_compression: str | None = None
    #: TIFF XResolution, YResolution and ResolutionUnit as stored.
    tiff_resolution: tuple[float, float, int] | None = None
    #: The file has more bits per sample than Pillow decodes (16-bit colour PNG): fine to
    #: read for detection, but a marked copy would lose precision.
    reduced_bit_depth: bool = False
    #: What a reader left out to decode the picture (damaged or oversized PNG chunks), a
    #: note each; always empty for a file read to be rewritten.
    salvaged: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def has_alpha(self) -> bool:
        """Whether the image carries transparency (an alpha channel or a colour key)."""
        return self.mode in ("LA", "RGBA") or self.transparency is not None


def format_name(pillow_format: str) -> str:
    """A format as messages name it: Pillow's ``WEBP`` is ``WebP``."""
    return _FORMAT_NAMES.get(pillow_format, pillow_format)


@contextlib.contextmanager
def _pillow_guards(max_pixels: int) -> Iterator[None]:
    """Set Pillow's pixel limit to ``max_pixels`` (warning made an error) and forbid
    decoding truncated files, restoring the previous settings afterwards."""
    pillow_log = logging.getLogger("PIL")
    with _PILLOW_SETTINGS_LOCK, warnings.catch_warnings():
        # Pillow warns (and logs, "More samples per pixel than can be decoded") about damaged
        # files on stderr; errors are reported our way, on one line.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, pillow_log.level
        Image.MAX_IMAGE_PIXELS = max_pixels
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        pillow_log.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, log_level = saved
            pillow_log.setLevel(log_level)


@contextlib.contextmanager
def memory_guard(path: StrPath, work: str) -> Iterator[None]:
    """Report running out of memory (a memory limit reached while working on a picture) as
    one named line instead of an unexpected error. Memory is bounded by the picture's own
    pixels (see README), so this is a limit set below what the picture needs."""
    try:
        yield
    except MemoryError:
        raise file_error(
            InputTooLargeError, Path(path), f"not enough memory to {work} this picture"
        ) from None


def _check_file(path: Path) -> None:
    """Fail early, with a clear message, on paths that are not readable non-empty files."""
    problem = input_file_problem(path, "image")
    if problem:
        raise file_error(InputError, path, problem)


def _too_large(
    path: Path, size: tuple[int, int] | None, max_pixels: int, detail: str = ""
) -> MarkingError:
    limit = f"the {max_pixels / 1e6:g} MP limit"
    if size is None:
        # Pillow refused before telling us the size; its message has the pixel count.
        found = re.search(r"\((\d+) pixels\)", detail)
        stated = f" ({int(found.group(1)) / 1e6:.0f} MP)" if found else ""
        return file_error(InputTooLargeError, path, f"image is over {limit}{stated}")
    width, height = size
    megapixels = width * height / 1e6
    return file_error(
        InputTooLargeError, path, f"image is {width}x{height} ({megapixels:.0f} MP), over {limit}"
    )


def read_image(
    path: StrPath,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
    salvage: bool = False,
) -> tuple[Image.Image, ImageInfo]:
    """Open and fully decode an image file; return the image and its metadata.

    Raises an :class:`~marking.errors.InputError` subclass with a one-line message when
    the file is missing, empty, truncated or corrupt (``InputError``), not a supported
    single-frame image in a supported mode (``UnsupportedInputError``), shorter than
    ``min_side`` (default: the watermark's ``MIN_SIDE`` for embedding) on its short side
    (``InputTooSmallError``) or above ``max_pixels`` (``InputTooLargeError``).

    A PNG ancillary chunk whose CRC fails is left out, as libpng does. With ``salvage`` (a
    reader: detect, verify) so are text and ICC chunks the decoder refuses (inflating past its
    limit), noted in ``ImageInfo.salvaged``; without it (a writer) such a file is refused, as a
    copy would lose them.
    """
    if min_side is None:
        min_side = MIN_SIDE

    path = Path(path)
    _check_file(path)
    try:
        return _decode(path, path, max_pixels, min_side)
    except InputError:
        # Pillow refuses a PNG whose ancillary chunk fails its CRC; libpng skips the chunk.
        # Bit rot in a C2PA manifest (caBX) must not hide the pixels and their watermark.
        # Pillow also refuses text it would have to inflate past 1 MiB; a reader skips it.
        repaired = _png_repaired(path, salvage=True)
        if repaired is None:
            raise
        data, notes = repaired
        if not salvage:
            repaired = _png_repaired(path, salvage=False)
            if repaired is None:
                raise file_error(
                    InputError,
                    path,
                    f"cannot copy a {notes[-1]}; verify and detect read the picture without it",
                ) from None
            data, notes = repaired[0], ()
        image, info = _decode(path, io.BytesIO(data), max_pixels, min_side)
        return image, replace(info, salvaged=tuple(f"left out a {note}" for note in notes))


def _png_repaired(path: Path, *, salvage: bool) -> tuple[bytes, tuple[str, ...]] | None:
    """A PNG under :data:`PNG_REPAIR_LIMIT` bytes without the ancillary chunks a reader skips
    (:func:`~marking.media.png.png_salvaged`; without ``salvage``, only damaged ones)."""
    from marking.media.png import png_salvaged

    if image_format_of_file(path) != "PNG" or path.stat().st_size > PNG_REPAIR_LIMIT:
        return None
    limits = (PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY) if salvage else None
    return png_salvaged(read_whole(path), text_limits=limits)


#: Largest PNG read into memory to leave out damaged ancillary chunks.
PNG_REPAIR_LIMIT = 512 * 1024 * 1024


def _decode(
    path: Path, source: Path | BinaryIO, max_pixels: int, min_side: int
) -> tuple[Image.Image, ImageInfo]:
    """:func:`read_image` on ``source`` (the file at ``path``, or a repaired copy of it)."""
    size: tuple[int, int] | None = None
    try:
        with _pillow_guards(max_pixels), Image.open(source) as opened:
            size = opened.size
            pillow_format = FORMAT_ALIASES.get(opened.format or "", opened.format or "")
            _check_opened(path, opened, pillow_format, max_pixels, min_side)
            reduced_bit_depth = _decodes_to_fewer_bits(opened)
            opened.load()
            info = _collect_info(path, opened, pillow_format, reduced_bit_depth)
            image = opened
    except MarkingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_large(path, size, max_pixels, str(error)) from None
    except UnidentifiedImageError:
        if damaged_format := image_format_of_file(path):
            problem = f"corrupt or truncated {format_name(damaged_format)} file"
            raise file_error(InputError, path, problem) from None
        raise file_error(
            UnsupportedInputError, path, "not an image, or an image format that is not supported"
        ) from None
    except MemoryError:
        raise file_error(InputTooLargeError, path, "not enough memory to decode") from None
    except RecursionError:
        raise file_error(InputError, path, "corrupt image (structures nested too deep)") from None
    except _DECODER_ERRORS as error:
        # Pillow's plugins report a damaged file in many ways ("Missing dimensions" is a
        # TypeError when a TIFF's IFD is garbage); each is one line, never "unexpected".
        raise file_error(InputError, path, _decode_problem(error)) from None
    return image, info


#: What Pillow's decoders raise on a damaged file.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    ArithmeticError,
    struct.error,
    zlib.error,
)


def _decode_problem(error: BaseException) -> str:
    """One line saying why decoding failed."""
    if isinstance(error, PermissionError):
        return "permission denied"
    reason = (getattr(error, "strerror", None) or str(error)).strip().splitlines()
    detail = reason[0] if reason else type(error).__name__
    if "truncated" in detail.lower() or isinstance(error, EOFError):
        return f"truncated or corrupt image ({detail})"
    return f"corrupt image ({detail})"


def _check_opened(
    path: Path, image: Image.Image, pillow_format: str, max_pixels: int, min_side: int
) -> None:
    """Checks that need only the header: format, frames, size, mode."""
    if pillow_format not in SUPPORTED_FORMATS:
        supported = ", ".join(format_name(name) for name in SUPPORTED_FORMATS)
        raise file_error(
            UnsupportedInputError,
            path,
            f"{pillow_format or 'unknown'} images are not supported (supported: {supported})",
        )
    width, height = image.size
    if width * height > max_pixels:
        raise _too_large(path, image.size, max_pixels)
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":
        kind = "multi-page" if pillow_format == "TIFF" else "animated"
        raise file_error(
            UnsupportedInputError,
            path,
            f"{kind} images are not supported ({frames} frames); extract one frame first",
        )
    if min(width, height) < min_side:
        raise file_error(
            InputTooSmallError,
            path,
            f"image is {width}x{height}; the shorter side must be at least {min_side} pixels",
        )
    if image.mode not in SUPPORTED_MODES:
        advice = _MODE_ADVICE.get(
            image.mode, f"images in mode {image.mode} are not supported; convert to RGB first"
        )
        raise file_error(UnsupportedInputError, path, advice)


def _collect_info(
    path: Path, image: Image.Image, pillow_format: str, reduced_bit_depth: bool
) -> ImageInfo:
    """Gather the metadata of a freshly loaded image."""
    fields: dict[str, Any] = {
        "format": pillow_format,
        "reduced_bit_depth": reduced_bit_depth,
        "mode": image.mode,
        "size": image.size,
        "source": path,
        "icc_profile": image.info.get("icc_profile") or None,
        "xmp": _as_bytes(image.info.get("xmp")),
        "dpi": _dpi(image.info.get("dpi")),
    }
    if pillow_format == "TIFF":
        fields["exif"] = _tiff_exif(image)
        fields["tiff_compression"] = image.info.get("compression") or "raw"
        fields["tiff_resolution"] = _tiff_resolution(image)
    else:
        fields["exif"] = _normalized_exif(image.info.get("exif"))
    if pillow_format == "JPEG":
        fields["jpeg_subsampling"] = JpegImagePlugin.get_sampling(image)
        fields["jpeg_progressive"] = bool(
            image.info.get("progressive") or image.info.get("progression")
        )
        fields["jpeg_comment"] = _as_bytes(image.info.get("comment"))
        fields["jpeg_segments"] = _jpeg_segments(image)
    elif pillow_format == "PNG":
        fields["transparency"] = image.info.get("transparency")
        fields["png_chunks"] = _png_chunks(path)
    elif pillow_format == "WEBP":
        fields["webp_lossless"] = _webp_is_lossless(path)
    return ImageInfo(**fields)


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value) if isinstance(value, bytes | bytearray) and value else None


def _dpi(value: object) -> tuple[float, float] | None:
    if isinstance(value, tuple) and len(value) == 2:
        with contextlib.suppress(TypeError, ValueError):
            dpi = float(value[0]), float(value[1])
            if all(0 < d < 1e6 for d in dpi):
                return dpi
    return None


def _normalized_exif(exif: object) -> bytes | None:
    """EXIF bytes with the ``Exif\\0\\0`` header that JPEG needs (PNG/WebP strip it)."""
    data = _as_bytes(exif)
    if data is None:
        return None
    if data.startswith((b"II*\x00", b"MM\x00*")):
        data = _EXIF_HEADER + data
    return data if data.startswith(_EXIF_HEADER) else None


def _tiff_exif(image: Image.Image) -> bytes | None:
    """The descriptive part of a TIFF's first IFD (plus EXIF and GPS IFDs) as EXIF bytes."""
    tags = image.getexif()
    exif = Image.Exif()
    for tag in TIFF_DESCRIPTIVE_TAGS:
        if tag in tags:
            exif[tag] = tags[tag]
    for ifd in (EXIF_IFD, GPS_IFD):
        if ifd in tags:
            with contextlib.suppress(Exception):
                if sub_ifd := dict(tags.get_ifd(ifd)):
                    exif[ifd] = sub_ifd
    return exif.tobytes() if len(exif) else None


def _tiff_resolution(image: Image.Image) -> tuple[float, float, int] | None:
    tags = getattr(image, "tag_v2", {})
    x_resolution, y_resolution, unit = (tags.get(tag) for tag in _TIFF_RESOLUTION_TAGS)
    if x_resolution is None or y_resolution is None:
        return None
    with contextlib.suppress(TypeError, ValueError, ZeroDivisionError):
        return float(x_resolution), float(y_resolution), int(unit or 2)
    return None


def _jpeg_segments(image: Image.Image) -> tuple[tuple[str, bytes], ...]:
    segments = []
    for marker, content in getattr(image, "applist", ()):
        prefixes = _JPEG_COPIED_SEGMENTS.get(marker, ())
        if content.startswith(prefixes) and len(content) <= _JPEG_MAX_SEGMENT:
            segments.append((marker, bytes(content)))
    return tuple(segments)


def _png_chunks(path: Path) -> tuple[tuple[bytes, bytes, bool], ...]:
    """Raw text and colour chunks of a PNG, in file order, XMP excluded (kept separately)."""
    chunks = []
    copied = 0
    after_idat = False
    with open_regular(path) as stream:
        for chunk_type, length in png_chunk_headers(stream):
            if chunk_type == b"IDAT":
                after_idat = True
            if chunk_type not in _PNG_COPIED_CHUNKS or copied + length > _PNG_MAX_COPIED_BYTES:
                continue
            data = stream.read(length)
            if len(data) < length:
                break
            if chunk_type == b"iTXt" and data.split(b"\x00", 1)[0] == PNG_XMP_KEYWORD:
                continue
            copied += length
            chunks.append((chunk_type, data, after_idat))
    return tuple(chunks)


def _decodes_to_fewer_bits(image: Image.Image) -> bool:
    """Whether Pillow will decode 16-bit colour samples to 8 bits (it has no 16-bit RGB
    mode). Must be asked before ``load()``, which discards the tile list."""
    for tile in getattr(image, "tile", None) or ():
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode and image.mode in ("RGB", "RGBA", "LA"):
            return True
    return False


def _webp_is_lossless(path: Path) -> bool:
    """Whether a WebP file's image is VP8L (lossless) rather than VP8 (lossy)."""
    with open_regular(path) as stream:
        header = stream.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
            return False
        while True:
            chunk_header = stream.read(8)
            if len(chunk_header) < 8:
                return False
            fourcc, length = struct.unpack("<4sI", chunk_header)
            if fourcc == b"VP8L":
                return True
            if fourcc == b"VP8 ":
                return False
            stream.seek(length + (length & 1), os.SEEK_CUR)
