"""The implicit label in image files: written byte by byte, checked with exiftool and Pillow."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.tags.aigc_label import AigcLabel
from marking.tags.image_tags import (
    JPEG_MAX_XMP,
    read_image_tags,
    read_xmp_bytes,
    tag_image,
    tag_image_bytes,
)
from marking.tags.xmp import ALGORITHMIC_MEDIA, TRAINED_ALGORITHMIC_MEDIA, build_xmp
from tests.conftest import EXIF_ARTIST, XMP_PACKET, make_exif, make_natural_image

EXIFTOOL_CONFIG = Path(__file__).parents[1] / "data" / "exiftool-tc260.config"
SIZE = (96, 64)
PNG_COMMENT = "a PNG text chunk"


@pytest.fixture(scope="session")
def exiftool() -> str:
    """The exiftool program; the tests fail (not skip) without it."""
    found = shutil.which("exiftool")
    if found is None:
        pytest.fail(
            "exiftool is not installed: `make test` installs it "
            "(or: apt-get install libimage-exiftool-perl)"
        )
    return found


def run_exiftool(exiftool: str, path: Path) -> dict[str, Any]:
    """exiftool's view of the label and of the metadata the tagging must keep."""
    command = [
        exiftool,
        "-config",
        str(EXIFTOOL_CONFIG),
        "-j",
        "-G1",
        "-XMP-TC260:all",
        "-XMP-iptcExt:DigitalSourceType",
        "-XMP-dc:Creator",
        "-IFD0:Artist",
        "-ICC_Profile:ProfileDescription",
        "-PNG:Comment",
        "-Warning",
        "-Error",
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(result.stdout)[0]


@dataclass(frozen=True)
class Case:
    """A source image: how to write it, and which metadata it carries."""

    name: str
    mode: str
    save: dict[str, Any] = field(default_factory=dict)
    exif: bool = False
    icc: bool = False
    xmp: bool = False
    png_text: bool = False
    first_chunk: bytes | None = None  # WebP: the bitstream chunk Pillow writes


CASES = [
    Case("baseline.jpg", "RGB", {"quality": 90}),
    Case("progressive.jpg", "RGB", {"progressive": True}, xmp=True),
    Case("exif_icc.jpg", "RGB", {"quality": 90}, exif=True, icc=True, xmp=True),
    Case("rgb.png", "RGB", exif=True, icc=True, xmp=True),
    Case("rgba.png", "RGBA"),
    Case("grey16.png", "I;16"),
    Case("text.png", "RGB", xmp=True, png_text=True),
    Case("lossy.webp", "RGB", {"quality": 80}, first_chunk=b"VP8 "),
    Case("lossless.webp", "RGBA", {"lossless": True}, first_chunk=b"VP8L"),
    Case("extended.webp", "RGB", {"quality": 80}, exif=True, icc=True, xmp=True),
    Case("lzw.tif", "RGB", {"compression": "tiff_lzw"}, exif=True, icc=True, xmp=True),
    Case("raw.tif", "RGB", {"compression": "raw"}),
    Case("bigendian.tif", "I;16B", xmp=True),
    Case("grey16.tif", "I;16", {"compression": "tiff_lzw"}, exif=True),
]


def write_case(case: Case, directory: Path, srgb_icc: bytes) -> Path:
    if case.mode == "I;16B":
        grey = np.asarray(make_natural_image("I;16", SIZE)).astype(">u2")
        image = Image.fromarray(grey)
        assert image.mode == "I;16B"
    else:
        image = make_natural_image(case.mode, SIZE)
    params = dict(case.save)
    suffix = Path(case.name).suffix
    if case.icc:
        params["icc_profile"] = srgb_icc
    if case.exif:
        params["exif"] = make_exif(exif_ifd=suffix != ".tif")
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        if case.png_text:
            info.add_text("Comment", PNG_COMMENT)
            info.add_text("Title", "zipped title", zip=True)
        if case.xmp:
            info.add_itxt("XML:com.adobe.xmp", XMP_PACKET.decode())
        params["pnginfo"] = info
    elif case.xmp and suffix == ".tif":
        if "exif" in params:
            params["exif"][700] = XMP_PACKET
        else:
            params["tiffinfo"] = {700: XMP_PACKET}
    elif case.xmp:
        params["xmp"] = XMP_PACKET
    path = directory / case.name
    image.save(path, **params)
    return path


def pixels(path: Path) -> tuple[str, tuple[int, int], np.ndarray]:
    with Image.open(path) as image:
        image.load()
        return image.mode, image.size, np.asarray(image).copy()


@pytest.fixture
def label() -> AigcLabel:
    return AigcLabel.create("001191110102MAD55U9H0F10002", produce_id="first-id")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_tag_image(
    case: Case, tmp_path: Path, srgb_icc: bytes, exiftool: str, label: AigcLabel
) -> None:
    src = write_case(case, tmp_path, srgb_icc)
    source_bytes = src.read_bytes()
    if case.first_chunk is not None:
        assert source_bytes[12:16] == case.first_chunk
    dst = tmp_path / f"tagged{src.suffix}"

    record = tag_image(src, dst, label)
    assert src.read_bytes() == source_bytes
    assert record["label"] == label.to_dict()
    assert record["previous_label"] is None
    assert not record["replaced_malformed_xmp"]

    # (a) the picture is untouched
    assert pixels(dst)[:2] == pixels(src)[:2]
    np.testing.assert_array_equal(pixels(dst)[2], pixels(src)[2])

    # (b) exiftool reads the label and the IPTC source type; (c) other metadata survives
    seen = run_exiftool(exiftool, dst)
    assert seen["XMP-TC260:AIGC"] == label.to_json()
    assert seen["XMP-iptcExt:DigitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert "ExifTool:Warning" not in seen
    assert "ExifTool:Error" not in seen
    before = run_exiftool(exiftool, src)
    for key in ("IFD0:Artist", "ICC_Profile:ProfileDescription", "XMP-dc:Creator", "PNG:Comment"):
        assert seen.get(key) == before.get(key), key
    assert (seen.get("IFD0:Artist") == EXIF_ARTIST) == case.exif
    assert ("ICC_Profile:ProfileDescription" in seen) == case.icc
    assert (seen.get("XMP-dc:Creator") == "Test Creator") == case.xmp
    assert (seen.get("PNG:Comment") == PNG_COMMENT) == case.png_text

    # (e) our reader agrees
    tags = read_image_tags(dst)
    assert tags.label == label
    assert tags.source_type == TRAINED_ALGORITHMIC_MEDIA
    assert tags.xmp_present

    # (d) re-tagging updates the one label
    second = AigcLabel.create(label.content_producer, produce_id="second-id")
    again = tmp_path / f"again{src.suffix}"
    record = tag_image(dst, again, second, source_type=ALGORITHMIC_MEDIA)
    assert record["previous_label"] == label.to_dict()
    data = again.read_bytes()
    assert data.count(b"TC260:AIGC>") == 2  # one element: start and end tag
    assert data.count(b"<Iptc4xmpExt:DigitalSourceType>") == 1
    assert data.count(b"http://ns.adobe.com/xap/1.0/\x00") <= 1
    assert b"first-id" not in data
    assert data.count(b"second-id") == 2  # ProduceID and PropagateID
    seen = run_exiftool(exiftool, again)
    assert seen["XMP-TC260:AIGC"] == second.to_json()
    assert seen["XMP-iptcExt:DigitalSourceType"] == ALGORITHMIC_MEDIA
    assert seen.get("XMP-dc:Creator") == before.get("XMP-dc:Creator")
    assert read_image_tags(again).label == second
    np.testing.assert_array_equal(pixels(again)[2], pixels(src)[2])


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 12
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    while position < len(data):
        fourcc, length = struct.unpack("<4sI", data[position : position + 8])
        chunks.append((fourcc, data[position + 8 : position + 8 + length]))
        position += 8 + length + (length & 1)
    return chunks


@pytest.mark.parametrize(
    ("mode", "lossless", "alpha"), [("RGB", False, False), ("RGBA", True, True)]
)
def test_simple_webp_becomes_extended(
    tmp_path: Path, label: AigcLabel, mode: str, lossless: bool, alpha: bool
) -> None:
    src = tmp_path / "in.webp"
    make_natural_image(mode, (101, 57)).save(src, lossless=lossless)
    tagged = tag_image_bytes(src.read_bytes(), "WEBP", build_xmp(label))
    chunks = webp_chunks(tagged)
    assert [kind for kind, _ in chunks] == [b"VP8X", b"VP8L" if lossless else b"VP8 ", b"XMP "]
    header = chunks[0][1]
    assert header[0] & 0x04
    assert bool(header[0] & 0x10) == alpha
    width = int.from_bytes(header[4:7], "little") + 1
    height = int.from_bytes(header[7:10], "little") + 1
    assert (width, height) == (101, 57)


def test_png_chunk_placement(tmp_path: Path, label: AigcLabel) -> None:
    src = tmp_path / "in.png"
    make_natural_image("RGB", SIZE).save(src)
    tagged = tag_image_bytes(src.read_bytes(), "PNG", build_xmp(label))
    kinds, position = [], 8
    while position < len(tagged):
        length, kind = struct.unpack(">I4s", tagged[position : position + 8])
        kinds.append(kind)
        position += 12 + length
    assert kinds.index(b"iTXt") < kinds.index(b"IDAT")
    assert read_xmp_bytes(tagged) == build_xmp(label)


def test_jpeg_segment_placement(tmp_path: Path, label: AigcLabel, srgb_icc: bytes) -> None:
    src = tmp_path / "in.jpg"
    make_natural_image("RGB", SIZE).save(src, exif=make_exif(), icc_profile=srgb_icc)
    tagged = tag_image_bytes(src.read_bytes(), "JPEG", build_xmp(label))
    exif_at = tagged.index(b"Exif\x00\x00")
    xmp_at = tagged.index(b"http://ns.adobe.com/xap/1.0/\x00")
    icc_at = tagged.index(b"ICC_PROFILE\x00")
    assert exif_at < xmp_at < icc_at


def test_jpeg_xmp_size_limit(tmp_path: Path, label: AigcLabel) -> None:
    src = tmp_path / "in.jpg"
    make_natural_image("RGB", SIZE).save(src)
    filler = b"<dc:description>" + b"x" * 64_000 + b"</dc:description>"
    big = XMP_PACKET.replace(b"<dc:creator>", filler + b"<dc:creator>")
    assert len(big) < JPEG_MAX_XMP
    (tmp_path / "big.jpg").write_bytes(tag_image_bytes(src.read_bytes(), "JPEG", big))
    # The padding is dropped to fit.
    tag_image(tmp_path / "big.jpg", tmp_path / "fits.jpg", label)
    assert read_image_tags(tmp_path / "fits.jpg").label == label
    # Fits alone, but not with the label added.
    extra = b"x" * (JPEG_MAX_XMP - len(big) - 50)
    bigger = XMP_PACKET.replace(b"<dc:creator>", filler + extra + b"<dc:creator>")
    (tmp_path / "bigger.jpg").write_bytes(tag_image_bytes(src.read_bytes(), "JPEG", bigger))
    with pytest.raises(UnsupportedInputError, match=r"bigger\.jpg: the XMP packet would be"):
        tag_image(tmp_path / "bigger.jpg", tmp_path / "out.jpg", label)
    with pytest.raises(UnsupportedInputError, match="65502-byte limit"):
        tag_image_bytes(src.read_bytes(), "JPEG", b" " * (JPEG_MAX_XMP + 1))


def test_wrapped_json_written_by_hand_is_read(tmp_path: Path, label: AigcLabel) -> None:
    packet = XMP_PACKET.replace(
        b"<dc:creator>",
        b'<TC260:AIGC xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/">'
        + label.to_json(wrapped=True).encode()
        + b"</TC260:AIGC><dc:creator>",
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode(), zip=True)  # compressed iTXt, too
    path = tmp_path / "hand.png"
    make_natural_image("RGB", SIZE).save(path, pnginfo=info)
    tags = read_image_tags(path)
    assert tags.label == label
    assert tags.source_type == TRAINED_ALGORITHMIC_MEDIA


def test_malformed_xmp_is_reported_and_replaced(
    tmp_path: Path, label: AigcLabel, exiftool: str
) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta><broken")
    src = tmp_path / "bad.png"
    make_natural_image("RGB", SIZE).save(src, pnginfo=info)
    tags = read_image_tags(src)
    assert (tags.label, tags.source_type, tags.xmp_present) == (None, None, True)
    record = tag_image(src, tmp_path / "fixed.png", label)
    assert record["replaced_malformed_xmp"]
    assert run_exiftool(exiftool, tmp_path / "fixed.png")["XMP-TC260:AIGC"] == label.to_json()


def test_untagged_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    make_natural_image("RGB", SIZE).save(path)
    tags = read_image_tags(path)
    assert (tags.label, tags.source_type, tags.xmp_present) == (None, None, False)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_truncated_input(tmp_path: Path, label: AigcLabel, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    make_natural_image("RGB", SIZE).save(whole)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut\.\w+: (truncated|corrupt)") as caught:
        tag_image(cut, tmp_path / f"out{suffix}", label)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / f"out{suffix}").exists()


def test_corrupt_png_crc(tmp_path: Path, label: AigcLabel) -> None:
    path = tmp_path / "crc.png"
    make_natural_image("RGB", SIZE).save(path)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside IHDR
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="bad CRC"):
        read_image_tags(path)


def test_bigtiff_unsupported(tmp_path: Path, label: AigcLabel) -> None:
    path = tmp_path / "big.tif"
    make_natural_image("RGB", SIZE).save(path, big_tiff=True)
    assert path.read_bytes()[2:4] == b"+\x00"
    with pytest.raises(UnsupportedInputError, match="BigTIFF"):
        tag_image(path, tmp_path / "out.tif", label)


def test_refusals(tmp_path: Path, label: AigcLabel) -> None:
    src = tmp_path / "in.png"
    make_natural_image("RGB", SIZE).save(src)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        tag_image(src, src, label)
    with pytest.raises(OutputError, match="the input is PNG"):
        tag_image(src, tmp_path / "out.jpg", label)
    with pytest.raises(UsageError, match="ProduceID contains ' '"):
        tag_image(src, tmp_path / "out.png", AigcLabel("1", "a", "b c"))
    gif = tmp_path / "in.gif"
    make_natural_image("RGB", SIZE).save(gif)
    with pytest.raises(UnsupportedInputError, match=r"in\.gif: not a JPEG, PNG, WebP or TIFF"):
        tag_image(gif, tmp_path / "out.gif", label)
    with pytest.raises(InputError, match="no such file"):
        read_image_tags(tmp_path / "missing.png")
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(InputError, match="file is empty"):
        read_image_tags(empty)
    with pytest.raises(InputError, match="the data is PNG, not JPEG"):
        tag_image_bytes(src.read_bytes(), "JPEG", build_xmp(label))


def test_tiff_points_at_new_ifd(tmp_path: Path, label: AigcLabel) -> None:
    src = tmp_path / "in.tif"
    make_natural_image("RGB", SIZE).save(src, tiffinfo={700: XMP_PACKET})
    data = src.read_bytes()
    tagged = tag_image_bytes(data, "TIFF", build_xmp(label))
    assert XMP_PACKET not in tagged  # the old packet is blanked, not left behind
    (offset,) = struct.unpack("<I", tagged[4:8])
    assert offset > len(data)
    with Image.open(tmp_path / "in.tif") as before:
        before_tags = dict(before.tag_v2)
    out = tmp_path / "out.tif"
    out.write_bytes(tagged)
    with Image.open(out) as after:
        after_tags = dict(after.tag_v2)
    assert after_tags.pop(700) == build_xmp(label)
    before_tags.pop(700)
    assert after_tags == before_tags


def test_one_png_walker_for_streams_and_bytes(tmp_path: Path) -> None:
    """The picture reader walks a PNG file's chunks with the same walker the tag writer's
    in-memory split is built on: same chunks, same end, same truncation."""
    import io

    from marking.media.png import png_chunk_headers, png_chunks

    path = tmp_path / "text.png"
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", PNG_COMMENT)
    make_natural_image("RGB", SIZE).save(path, pnginfo=text)
    data = path.read_bytes()
    split = [(kind, len(body)) for kind, body in png_chunks(data)]
    assert list(png_chunk_headers(io.BytesIO(data))) == split
    assert split[-1] == (b"IEND", 0)
    cut = data[: len(data) - 20]  # inside the last IDAT
    walked = list(png_chunk_headers(io.BytesIO(cut)))
    assert walked == split[:-1]
    with pytest.raises(InputError, match="truncated PNG file \\(in a 'IDAT' chunk\\)"):
        png_chunks(cut)
    with pytest.raises(InputError, match="bad signature"):
        list(png_chunk_headers(io.BytesIO(b"GIF89a" + bytes(16))))


def test_read_label_reads_any_file(tmp_path: Path, label: AigcLabel) -> None:
    """One function reads the metadata label of a picture (XMP) or a recording (container)."""
    import soundfile as sf

    from marking.tags.containers import tag_media
    from marking.tags.tagging import FileLabel, read_label

    picture = tmp_path / "in.png"
    make_natural_image("RGB", SIZE).save(picture)
    assert read_label(picture) == FileLabel(None, None)
    tag_image(picture, tmp_path / "tagged.png", label)
    found = read_label(tmp_path / "tagged.png")
    assert found == FileLabel(label, TRAINED_ALGORITHMIC_MEDIA)
    assert read_label(tmp_path / "tagged.png", kind="image") == found

    sound = tmp_path / "in.wav"
    sf.write(sound, np.zeros((800, 1), np.float32), 8000)
    assert read_label(sound) == FileLabel(None, None)
    tag_media(sound, tmp_path / "tagged.wav", label)
    assert read_label(tmp_path / "tagged.wav") == FileLabel(label, None)
    with pytest.raises(InputError, match="no such file"):
        read_label(tmp_path / "missing.png")


@pytest.mark.parametrize(
    "head",
    [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"II*\x00\x08\x00\x00\x00"],
    ids=["jpeg", "png", "tiff"],
)
def test_reading_tags_costs_what_the_walk_reads_not_the_file(tmp_path: Path, head: bytes) -> None:
    """A 1 GB upload whose container breaks at once (a sparse file: no disk used) is refused
    after reading its headers; reading it whole would take 1 GB of memory (the server's
    workers read every upload's tags)."""
    import subprocess
    import sys

    big = tmp_path / "big.bin"
    with big.open("wb") as file:
        file.write(head)
        file.truncate(1 << 30)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking process (a
    # big pytest worker), while VmHWM belongs to the new program's own memory.
    script = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from marking.tags.image_tags import read_image_tags\n"
        "try:\n    read_image_tags(sys.argv[1])\nexcept Exception as error:\n"
        "    print(type(error).__name__, error, file=sys.stderr)\n"
        "status = Path('/proc/self/status').read_text()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(big)], capture_output=True, text=True, check=True
    )
    assert "InputError" in done.stderr
    assert int(done.stdout) < 300, f"peak {done.stdout.strip()} MiB reading a 1 GB file's tags"
