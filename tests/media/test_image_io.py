"""Reading, validating and writing image files (marking.media.image, .image_write, .atomic).

Metadata and mode tests pass images straight through ``write_image`` and need no
watermark; tests marked ``needs_watermark`` call the real one and fail until it exists.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin
from PIL.PngImagePlugin import PngInfo

from marking.errors import (
    InputError,
    InputTooLargeError,
    InputTooSmallError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.files.image import detect_file, embed_file
from marking.media.atomic import atomic_write, check_output_path
from marking.media.image import DEFAULT_MAX_PIXELS, ImageInfo, read_image
from marking.media.image_write import output_format, write_image
from marking.watermark import image as image_watermark
from marking.watermark.image import MIN_SIDE
from tests.conftest import EXIF_ARTIST, EXIF_DATETIME, make_exif, make_natural_image

ImageFileFactory = Callable[..., Path]

ARTIST_TAG, DATETIME_TAG, EXIF_IFD, DATETIME_ORIGINAL_TAG = 0x013B, 0x0132, 0x8769, 0x9003


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reopen(path: Path) -> Image.Image:
    """Read a written file back with plain Pillow (decoded, file closed)."""
    with Image.open(path) as image:
        image.load()
        _ = image.getexif(), getattr(image, "text", None)  # read while the file is open
    return image


def png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk in a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length, chunk_type = struct.unpack(">I4s", data[offset : offset + 8])
        chunks.append((chunk_type, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def write_png_rgb16(path: Path, width: int, height: int) -> None:
    """A 16-bit-per-channel RGB PNG, which Pillow can read (as 8-bit) but not write."""

    def chunk(chunk_type: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(chunk_type + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", crc)

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 65536, size=(height, width, 3), dtype=np.uint16).astype(">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares ``width`` x ``height`` but which holds no pixels."""

    def chunk(chunk_type: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(chunk_type + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


# --- metadata round trips ---------------------------------------------------------------

SOURCE_OPTIONS = {
    "jpeg": ("src.jpg", {"quality": 92}),
    "png": ("src.png", {}),
    "webp-lossless": ("src.webp", {"lossless": True}),
    "webp-lossy": ("src.webp", {"quality": 90}),
    "tiff": ("src.tif", {"compression": "tiff_lzw"}),
    "tiff-raw": ("src.tif", {"compression": "raw"}),
}


def make_source(
    image_file: ImageFileFactory, kind: str, icc: bytes, xmp: bytes, mode: str = "RGB"
) -> Path:
    """A natural image in format ``kind`` with an ICC profile, EXIF and XMP."""
    name, options = SOURCE_OPTIONS[kind]
    if kind.startswith("tiff"):
        # TIFF holds XMP as tag 700 among its tags; compressed TIFF cannot hold the EXIF IFD.
        exif = make_exif(exif_ifd=kind == "tiff-raw")
        exif[700] = xmp
        metadata = {"exif": exif}
    elif kind == "png":
        # Pillow's PNG writer has no xmp option: XMP goes in an iTXt chunk.
        text = PngInfo()
        text.add_itxt("XML:com.adobe.xmp", xmp.decode())
        metadata = {"exif": make_exif(), "pnginfo": text}
    else:
        metadata = {"exif": make_exif(), "xmp": xmp}
    return image_file(name, mode, icc_profile=icc, dpi=(300, 300), **metadata, **options)


def assert_metadata(path: Path, icc: bytes, xmp: bytes, *, exif_ifd: bool = True) -> None:
    image = reopen(path)
    assert image.info.get("icc_profile") == icc
    exif = image.getexif()
    assert exif.get(ARTIST_TAG) == EXIF_ARTIST
    assert exif.get(DATETIME_TAG) == EXIF_DATETIME
    if exif_ifd:
        assert exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL_TAG) == EXIF_DATETIME
    assert image.info.get("xmp") == xmp


@pytest.mark.parametrize("kind", list(SOURCE_OPTIONS))
def test_same_format_copy_keeps_icc_exif_xmp(
    image_file: ImageFileFactory, tmp_path: Path, srgb_icc: bytes, xmp_packet: bytes, kind: str
) -> None:
    source = make_source(image_file, kind, srgb_icc, xmp_packet)
    image, info = read_image(source)
    assert info.icc_profile == srgb_icc
    assert info.xmp == xmp_packet
    assert info.exif is not None

    target = tmp_path / f"out{source.suffix}"
    written = write_image(image.copy(), target, info)

    assert written == info.format
    assert reopen(target).format == info.format
    # Pillow's libtiff writer (compressed TIFF) drops the EXIF sub-IFD; IFD0 tags survive.
    assert_metadata(target, srgb_icc, xmp_packet, exif_ifd=kind != "tiff")


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-lossless", "tiff-raw"])
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tiff"])
def test_format_conversion_keeps_icc_exif_xmp(
    image_file: ImageFileFactory,
    tmp_path: Path,
    srgb_icc: bytes,
    xmp_packet: bytes,
    kind: str,
    suffix: str,
) -> None:
    source = make_source(image_file, kind, srgb_icc, xmp_packet)
    image, info = read_image(source)
    target = tmp_path / f"converted{suffix}"

    written = write_image(image.copy(), target, info)

    assert written == output_format(target, info.format)
    converted_to_compressed_tiff = suffix == ".tiff" and kind != "tiff-raw"
    assert_metadata(target, srgb_icc, xmp_packet, exif_ifd=not converted_to_compressed_tiff)


def test_png_text_chunks_are_kept_with_their_kind(
    image_file: ImageFileFactory, tmp_path: Path, xmp_packet: bytes
) -> None:
    text = PngInfo()
    text.add_text("Title", "plain text")
    text.add_text("Comment", "compressed text " * 20, zip=True)
    text.add_itxt("Description", "international text: ünïcödé", lang="de", tkey="Beschreibung")
    text.add_itxt("XML:com.adobe.xmp", xmp_packet.decode())
    source = image_file("text.png", pnginfo=text)
    image, info = read_image(source)
    target = tmp_path / "out.png"

    write_image(image.copy(), target, info)

    copy = reopen(target)
    assert copy.text["Title"] == "plain text"
    assert copy.text["Comment"] == "compressed text " * 20
    assert copy.text["Description"] == "international text: ünïcödé"
    assert copy.text["Description"].lang == "de"
    assert copy.info["xmp"] == xmp_packet
    kinds = [chunk_type for chunk_type, _ in png_chunks(target)]
    assert kinds.count(b"tEXt") == 1
    assert kinds.count(b"zTXt") == 1
    xmp_chunks = [d for t, d in png_chunks(target) if d.startswith(b"XML:com.adobe.xmp\x00")]
    assert len(xmp_chunks) == 1  # the XMP packet is written once, not copied and added


def test_png_colour_chunks_transparency_and_dpi_are_kept(
    natural_image: Callable[..., Image.Image], tmp_path: Path
) -> None:
    source = tmp_path / "gamma.png"
    extra = PngInfo()
    extra.add(b"gAMA", struct.pack(">I", 45455))
    natural_image("RGB").save(source, pnginfo=extra, transparency=(1, 2, 3), dpi=(150, 150))
    image, info = read_image(source)
    assert info.transparency == (1, 2, 3)
    assert info.has_alpha
    target = tmp_path / "out.png"

    write_image(image.copy(), target, info)

    copy = reopen(target)
    assert copy.info["transparency"] == (1, 2, 3)
    assert copy.info["gamma"] == pytest.approx(0.45455)
    assert copy.info["dpi"] == pytest.approx((150, 150), abs=0.05)  # pHYs is in dots/metre


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_jpeg_stays_jpeg_with_source_subsampling(
    image_file: ImageFileFactory, tmp_path: Path, subsampling: int
) -> None:
    source = image_file("src.jpg", subsampling=subsampling, quality=90)
    image, info = read_image(source)
    assert info.jpeg_subsampling == subsampling
    for target in (tmp_path / "out.jpeg", tmp_path / "out.jpg"):
        write_image(image.copy(), target, info, quality=85)
        copy = reopen(target)
        assert copy.format == "JPEG"
        assert JpegImagePlugin.get_sampling(copy) == subsampling


def test_jpeg_comment_dpi_and_progressive_are_kept(
    image_file: ImageFileFactory, tmp_path: Path
) -> None:
    source = image_file("src.jpg", comment=b"made by a generator", dpi=(240, 240), progressive=True)
    image, info = read_image(source)
    target = tmp_path / "out.jpg"

    write_image(image.copy(), target, info)

    copy = reopen(target)
    assert copy.info["comment"] == b"made by a generator"
    assert copy.info["dpi"] == (240, 240)
    assert copy.info.get("progressive")


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_keeps_lossless_flag(
    image_file: ImageFileFactory, tmp_path: Path, lossless: bool
) -> None:
    source = image_file("src.webp", "RGBA", lossless=lossless, quality=90)
    image, info = read_image(source)
    assert info.webp_lossless is lossless
    target = tmp_path / "out.webp"

    write_image(image.copy(), target, info)

    assert read_image(target)[1].webp_lossless is lossless
    copy = reopen(target)
    assert copy.mode == "RGBA"
    if lossless:
        assert np.array_equal(np.asarray(copy), np.asarray(image))


@pytest.mark.parametrize(
    ("source_name", "options", "expected"),
    [
        ("src.tif", {"compression": "tiff_lzw"}, "tiff_lzw"),
        ("src.tif", {"compression": "raw"}, "raw"),
        ("src.tif", {"compression": "packbits"}, "packbits"),
        ("src.png", {}, "tiff_adobe_deflate"),
    ],
)
def test_tiff_compression_and_resolution_are_kept(
    image_file: ImageFileFactory,
    tmp_path: Path,
    source_name: str,
    options: dict[str, str],
    expected: str,
) -> None:
    source = image_file(source_name, dpi=(300, 300), **options)
    image, info = read_image(source)
    target = tmp_path / "out.tif"

    write_image(image.copy(), target, info)

    copy = reopen(target)
    assert copy.info["compression"] == expected
    assert copy.info["dpi"] == pytest.approx((300, 300), abs=0.01)


@pytest.mark.parametrize(
    ("mode", "name"),
    [
        ("L", "gray.png"),
        ("LA", "gray-alpha.png"),
        ("RGB", "colour.png"),
        ("RGBA", "colour-alpha.png"),
        ("I;16", "deep.png"),
        ("L", "gray.tif"),
        ("RGBA", "colour-alpha.tif"),
        ("I;16", "deep.tif"),
        ("I", "int32.tif"),
        ("F", "float.tif"),
        ("L", "gray.jpg"),
    ],
)
def test_mode_size_and_pixels_are_kept(
    image_file: ImageFileFactory, tmp_path: Path, mode: str, name: str
) -> None:
    size = (MIN_SIDE + 64, MIN_SIDE)  # not square, so width and height cannot swap
    source = image_file(name, mode, size=size)
    image, info = read_image(source)
    assert (info.mode, info.size) == (mode, size)
    target = tmp_path / f"out{source.suffix}"

    write_image(image.copy(), target, info)

    copy = reopen(target)
    assert copy.mode == mode
    assert copy.size == size
    if not name.endswith(".jpg"):
        assert np.array_equal(np.asarray(copy), np.asarray(image))


@pytest.mark.parametrize(
    ("mode", "suffix"), [("RGBA", ".jpg"), ("LA", ".jpg"), ("I;16", ".jpg"), ("I;16", ".webp")]
)
def test_output_format_that_would_lose_data_is_refused(
    image_file: ImageFileFactory, tmp_path: Path, mode: str, suffix: str
) -> None:
    image, info = read_image(image_file("src.png", mode))
    target = tmp_path / f"out{suffix}"
    with pytest.raises(OutputError, match="without losing data"):
        write_image(image.copy(), target, info)
    assert list(tmp_path.iterdir()) == [tmp_path / "src.png"]


def test_output_suffix_decides_format(tmp_path: Path) -> None:
    assert output_format(tmp_path / "a.JPG", "PNG") == "JPEG"
    assert output_format(tmp_path / "a.tiff", "WEBP") == "TIFF"
    # A file named against its content passes its suffix (or its lack of one) on.
    assert output_format(tmp_path / "a", "WEBP", source=tmp_path / "src") == "WEBP"
    assert output_format(tmp_path / "a.marked", "PNG", source=tmp_path / "b.MARKED") == "PNG"
    with pytest.raises(OutputError, match=r"\.gif"):
        output_format(tmp_path / "a.gif", "PNG")


@pytest.mark.parametrize("name", ["a.xyz", "a", "a.marked", "a.wav", "a.mp4"])
def test_output_suffix_of_no_picture_format_is_refused(tmp_path: Path, name: str) -> None:
    """Before, ``a.xyz`` and ``a`` were written in the source's format without a word."""
    with pytest.raises(UsageError, match=r"\.jpg|means") as error:
        output_format(tmp_path / name, "PNG", source=tmp_path / "src.png")
    assert "\n" not in str(error.value)


# --- bad inputs ---------------------------------------------------------------------------


def assert_one_line_naming(error: pytest.ExceptionInfo[Exception], path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.png"
    with pytest.raises(InputError, match="no such file") as error:
        read_image(path)
    assert type(error.value) is InputError
    assert_one_line_naming(error, path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(InputError, match="empty") as error:
        read_image(path)
    assert_one_line_naming(error, path)


@pytest.mark.parametrize("name", ["cut.jpg", "cut.png", "cut.tif"])
def test_truncated_file(image_file: ImageFileFactory, name: str) -> None:
    path = image_file(name)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=r"truncated|corrupt") as error:
        read_image(path)
    assert not isinstance(error.value, UnsupportedInputError)
    assert_one_line_naming(error, path)


def test_truncated_file_fails_even_if_pillow_was_told_to_accept_it(
    image_file: ImageFileFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = image_file("cut.jpg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(InputError, match="truncated"):
        read_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(UnsupportedInputError, match="not an image") as error:
        read_image(path)
    assert_one_line_naming(error, path)


@pytest.mark.parametrize(
    ("name", "save_options", "match"),
    [
        ("still.gif", {}, "GIF images are not supported"),
        ("still.bmp", {}, "BMP images are not supported"),
    ],
)
def test_unsupported_format(
    image_file: ImageFileFactory, name: str, save_options: dict[str, object], match: str
) -> None:
    with pytest.raises(UnsupportedInputError, match=match):
        read_image(image_file(name, **save_options))


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("animated.gif", "GIF images are not supported"),
        ("animated.webp", "animated images are not supported .3 frames"),
        ("animated.png", "animated images are not supported .3 frames"),
        ("pages.tif", "multi-page images are not supported .3 frames"),
    ],
)
def test_multi_frame_images_are_unsupported(tmp_path: Path, name: str, match: str) -> None:
    frames = [make_natural_image("RGB", (256, 256), seed) for seed in range(3)]
    path = tmp_path / name
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedInputError, match=match):
        read_image(path)


@pytest.mark.parametrize(
    ("mode", "name", "match"),
    [
        ("P", "palette.png", "palette"),
        ("1", "bilevel.png", "1-bit"),
        ("CMYK", "print.jpg", "CMYK"),
        ("CMYK", "print.tif", "CMYK"),
        ("YCbCr", "ycc.tif", "YCbCr"),
    ],
)
def test_unsupported_modes_suggest_conversion(
    natural_image: Callable[..., Image.Image], tmp_path: Path, mode: str, name: str, match: str
) -> None:
    path = tmp_path / name
    natural_image("RGB").convert(mode).save(path)
    with pytest.raises(UnsupportedInputError, match=match) as error:
        read_image(path)
    assert "convert" in str(error.value)


def test_too_small(image_file: ImageFileFactory) -> None:
    path = image_file("tiny.png", size=(MIN_SIDE - 1, 600))
    with pytest.raises(InputTooSmallError, match=str(MIN_SIDE)):
        read_image(path)
    read_image(image_file("narrow.png", size=(MIN_SIDE, 600)))  # exactly the minimum is fine


def test_minimum_side_is_configurable(image_file: ImageFileFactory) -> None:
    size = (MIN_SIDE + 10, MIN_SIDE - 10)
    path = image_file("small.png", size=size)
    with pytest.raises(InputTooSmallError):
        read_image(path)
    _, info = read_image(path, min_side=MIN_SIDE - 10)
    assert info.size == size


@pytest.mark.parametrize(("strength", "quality"), [(0.0, 95), (4.5, 95), (1.0, 0), (1.0, 101)])
def test_embed_file_rejects_out_of_range_settings(
    image_file: ImageFileFactory, tmp_path: Path, strength: float, quality: int
) -> None:
    with pytest.raises(UsageError):
        embed_file(image_file("src.png"), tmp_path / "out.png", strength=strength, quality=quality)
    assert not (tmp_path / "out.png").exists()


def test_too_large_by_configured_limit(image_file: ImageFileFactory) -> None:
    path = image_file("big.png", size=(512, 512))
    with pytest.raises(InputTooLargeError, match="MP"):
        read_image(path, max_pixels=512 * 512 - 1)
    read_image(path, max_pixels=512 * 512)


@pytest.mark.parametrize("side", [15_000, 30_000])
def test_declared_size_over_default_limit_is_refused_before_decoding(
    tmp_path: Path, side: int
) -> None:
    path = tmp_path / "bomb.png"
    write_png_header_only(path, side, side)
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputTooLargeError, match="MP"):
        read_image(path)
    assert limit == Image.MAX_IMAGE_PIXELS  # Pillow's global is restored


@pytest.mark.slow
def test_100_megapixel_image_opens(tmp_path: Path) -> None:
    assert DEFAULT_MAX_PIXELS >= 100_000_000
    path = tmp_path / "large.png"
    Image.new("L", (10_000, 10_000), 128).save(path, compress_level=1)
    image, info = read_image(path)
    assert info.size == (10_000, 10_000)
    assert image.getpixel((9_999, 9_999)) == 128


def test_16_bit_colour_png_is_read_but_not_marked(tmp_path: Path) -> None:
    source = tmp_path / "deep-colour.png"
    write_png_rgb16(source, MIN_SIDE, MIN_SIDE)
    _, info = read_image(source)
    assert info.reduced_bit_depth
    with pytest.raises(UnsupportedInputError, match="16-bit colour"):
        embed_file(source, tmp_path / "out.png", payload=bytes(8))
    assert not (tmp_path / "out.png").exists()


# --- atomic output ----------------------------------------------------------------------


def test_failed_save_leaves_no_file(
    image_file: ImageFileFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, info = read_image(image_file("src.png"))

    def failing_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"partial data")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OutputError, match="disk full"):
        write_image(image.copy(), tmp_path / "out.png", info)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.png"]


def test_interrupted_save_keeps_existing_target(
    image_file: ImageFileFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, info = read_image(image_file("src.png"))
    target = tmp_path / "out.png"
    target.write_bytes(b"previous result")

    def interrupted_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"partial data")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        write_image(image.copy(), target, info)
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "src.png"]


def test_atomic_write_replaces_target_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with atomic_write(target) as stream:
        stream.write(b"new")
        assert target.read_bytes() == b"old"  # not visible until the block ends
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640

    fresh = tmp_path / "fresh.bin"
    with atomic_write(fresh) as stream:
        stream.write(b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.bin", "result.bin"]


def test_output_directory_problems(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "out.png")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_path(tmp_path / "file" / "out.png")
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path)


def test_output_onto_input_is_refused(image_file: ImageFileFactory, tmp_path: Path) -> None:
    source = image_file("src.png")
    digest = sha256(source)
    image, info = read_image(source)
    link = tmp_path / "link.png"
    link.symlink_to(source)
    same_file_spellings = [source, tmp_path / "." / "src.png", link]
    for target in same_file_spellings:
        with pytest.raises(OutputError, match="refusing to overwrite the input"):
            write_image(image.copy(), target, info)
        with pytest.raises(OutputError, match="refusing to overwrite the input"):
            embed_file(source, target, payload=bytes(8))
    assert sha256(source) == digest


def test_image_info_describes_the_file(image_file: ImageFileFactory) -> None:
    width, height = MIN_SIDE + 64, MIN_SIDE
    _, info = read_image(image_file("src.png", "RGBA", size=(width, height)))
    assert isinstance(info, ImageInfo)
    assert (info.format, info.mode, info.width, info.height) == ("PNG", "RGBA", width, height)
    assert info.has_alpha


# --- with the real watermark ------------------------------------------------------------


@pytest.mark.needs_watermark
@pytest.mark.parametrize(
    ("name", "mode"),
    [("src.jpg", "RGB"), ("src.png", "RGBA"), ("src.webp", "RGB"), ("src.tif", "I;16")],
)
def test_embed_file_round_trip_leaves_input_untouched(
    image_file: ImageFileFactory,
    tmp_path: Path,
    srgb_icc: bytes,
    xmp_packet: bytes,
    name: str,
    mode: str,
) -> None:
    metadata: dict[str, object] = {"icc_profile": srgb_icc}
    if not name.endswith(".tif"):
        metadata |= {"exif": make_exif(), "xmp": xmp_packet}
    source = image_file(name, mode, **metadata)
    digest = sha256(source)
    target = tmp_path / f"marked{source.suffix}"

    record = embed_file(source, target, key="test key", payload="0123456789abcdef")

    assert sha256(source) == digest
    assert record == {
        "input": str(source),
        "output": str(target),
        "payload": "0123456789abcdef",
        "psnr": pytest.approx(record["psnr"]),
        "width": 512,
        "height": 512,
        "format": read_image(source)[1].format,
    }
    assert isinstance(record["psnr"], float)
    assert record["psnr"] > 30
    copy = reopen(target)
    assert copy.mode == mode
    assert copy.info.get("icc_profile") == srgb_icc
    detection = detect_file(target, key="test key")
    assert detection.detected
    assert detection.payload == "0123456789abcdef"


@pytest.mark.needs_watermark
def test_embed_file_draws_a_random_payload(image_file: ImageFileFactory, tmp_path: Path) -> None:
    source = image_file("src.png")
    first = embed_file(source, tmp_path / "a.png")
    second = embed_file(source, tmp_path / "b.png")
    assert len(bytes.fromhex(first["payload"])) == 8
    assert first["payload"] != second["payload"]
    assert detect_file(tmp_path / "a.png").payload == first["payload"]


@pytest.mark.needs_watermark
def test_unmarked_image_is_not_detected(image_file: ImageFileFactory) -> None:
    assert not detect_file(image_file("plain.png")).detected


def test_multi_picture_jpeg_is_read_as_its_primary_image(
    natural_image: Callable[..., Image.Image], tmp_path: Path
) -> None:
    source = tmp_path / "camera.jpg"
    primary, secondary = natural_image("RGB", seed=1), natural_image("RGB", (256, 256), seed=2)
    primary.save(source, format="MPO", save_all=True, append_images=[secondary])
    with Image.open(source) as opened:
        assert opened.format == "MPO"
    image, info = read_image(source)
    assert (info.format, info.size) == ("JPEG", (512, 512))
    target = tmp_path / "out.jpg"

    write_image(image.copy(), target, info)

    copy = reopen(target)
    assert (copy.format, getattr(copy, "n_frames", 1)) == ("JPEG", 1)


@pytest.mark.needs_watermark
def test_detect_file_accepts_pictures_too_small_to_mark(
    image_file: ImageFileFactory, tmp_path: Path
) -> None:
    side = (MIN_SIDE + getattr(image_watermark, "MIN_DETECT_SIDE", MIN_SIDE)) // 2
    small = image_file("small.png", size=(side, side))
    with pytest.raises(InputTooSmallError):
        embed_file(small, tmp_path / "out.png")
    assert not detect_file(small).detected


def _png_with_chunk_after_ihdr(
    pixels: Image.Image, kind: bytes, body: bytes, crc_xor: int
) -> bytes:
    import io

    buffer = io.BytesIO()
    pixels.save(buffer, "PNG")
    data = buffer.getvalue()
    ihdr_end = 8 + 8 + 13 + 4
    crc = zlib.crc32(kind + body) ^ crc_xor
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def test_a_png_with_a_damaged_ancillary_chunk_is_read_as_libpng_reads_it(tmp_path: Path) -> None:
    """Bit rot in an ancillary chunk (a C2PA ``caBX``) made Pillow refuse the whole picture;
    the chunk is left out and the pixels read, marked and detected. Damage in a critical
    chunk is still an error."""
    picture = make_natural_image("RGB", (320, 256), seed=8)
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(_png_with_chunk_after_ihdr(picture, b"caBX", b"jumb" * 50, 1))
    image, _ = read_image(damaged)
    assert np.array_equal(np.asarray(image), np.asarray(picture))
    marked = tmp_path / "marked.png"
    embed_file(damaged, marked, key="png-repair", payload="0123456789abcdef")
    assert b"caBX" not in marked.read_bytes()
    assert detect_file(marked, key="png-repair").payload == "0123456789abcdef"

    critical = tmp_path / "critical.png"
    data = bytearray(_png_with_chunk_after_ihdr(picture, b"caBX", b"jumb" * 50, 0))
    data[8 + 8 + 13] ^= 0xFF  # the IHDR chunk's CRC
    critical.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt"):
        read_image(critical)
