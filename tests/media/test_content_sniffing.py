"""``media_kind`` tells pictures, sound and video apart by their bytes, and says why it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from marking.errors import InputError
from marking.media.sniffing import media_kind


def test_an_unreadable_container_is_named_once_with_the_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64))
    with pytest.raises(InputError) as caught:
        media_kind(broken)
    message = str(caught.value)
    assert message.startswith(f"{broken}: cannot read the container (")
    assert message.count(str(broken)) == 1
    assert "Errno" not in message


#: The start of each picture format and Pillow's name for it: the one sniffer
#: (marking.media.sniffing) must know them all, BigTIFF and MPO's JPEG start included.
PICTURE_HEADS = {
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG"),
    "mpo": (b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00", "JPEG"),
    "jpeg-without-app-marker": (b"\xff\xd8\x00\x00", "JPEG"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "PNG"),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WEBP"),
    "tiff-le": (b"II*\x00\x08\x00\x00\x00", "TIFF"),
    "tiff-be": (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
    "bigtiff-le": (b"II+\x00\x08\x00\x00\x00\x10\x00\x00\x00", "TIFF"),
    "bigtiff-be": (b"MM\x00+\x00\x08\x00\x00\x00\x00\x00\x00", "TIFF"),
}


@pytest.mark.parametrize("name", sorted(PICTURE_HEADS))
def test_every_picture_sniffer_agrees(name: str, tmp_path: Path) -> None:
    """media_kind, the picture reader's damage message and the tag writer all go by one
    sniffer (three disagreed: one had no BigTIFF, one took any SOI for JPEG)."""
    from marking.media.image import read_image
    from marking.media.sniffing import format_of_head, image_format_of_head
    from marking.tags.image_tags import read_xmp_bytes, sniff_format

    head, pillow = PICTURE_HEADS[name]
    damaged = head + bytes(64)  # the right start, garbage after it
    assert image_format_of_head(damaged) == pillow
    assert sniff_format(damaged) == pillow
    assert format_of_head(damaged).kind == "image"
    path = tmp_path / "damaged.bin"
    path.write_bytes(damaged)
    assert media_kind(path) == "image"
    with pytest.raises(InputError) as caught:  # a damaged picture, not "not an image"
        read_image(path)
    assert "corrupt" in str(caught.value)
    assert "not an image" not in str(caught.value)
    problem = ""
    try:  # parsed as that format (damaged, or without a label), not refused as unknown
        read_xmp_bytes(damaged)
    except InputError as error:
        problem = str(error)
    assert "not a JPEG, PNG, WebP or TIFF file" not in problem


@pytest.mark.parametrize(
    "head", [b"GIF89a" + bytes(16), b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC" + bytes(16), b""]
)
def test_no_sniffer_takes_other_media_for_a_picture(head: bytes) -> None:
    from marking.media.sniffing import image_format_of_head
    from marking.tags.image_tags import sniff_format

    assert image_format_of_head(head) is None
    assert sniff_format(head) is None


def test_a_bigtiff_is_a_picture_whose_label_is_refused_by_name(tmp_path: Path) -> None:
    """A BigTIFF reads as a picture everywhere; only the metadata label refuses it, naming it."""
    from marking.errors import UnsupportedInputError
    from marking.media.image import read_image
    from marking.tags.aigc_label import AigcLabel
    from marking.tags.tagging import tag_file
    from tests.conftest import make_natural_image

    path = tmp_path / "big.tif"
    make_natural_image("RGB", (96, 64)).save(path, big_tiff=True)
    assert media_kind(path) == "image"
    _, info = read_image(path, min_side=1)
    assert info.format == "TIFF"
    with pytest.raises(UnsupportedInputError, match="BigTIFF"):
        tag_file(path, tmp_path / "out.tif", AigcLabel.create("producer", produce_id="x"))
