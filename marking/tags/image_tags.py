"""The implicit label in image metadata: an XMP packet written byte by byte, pixels untouched.

Each format keeps its XMP in one place (TC260 practice guides): JPEG in an APP1 segment,
PNG in an ``iTXt`` chunk ``XML:com.adobe.xmp``, WebP in an ``XMP `` chunk of the extended
(VP8X) format, TIFF in tag 700 of IFD0. :func:`tag_image` replaces that one packet (or adds
it) and copies every other byte of the file, so the coded picture and the rest of the
metadata stay exactly as they were; :func:`read_image_tags` reads the label back.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marking.errors import (
    InputError,
    InputTooLargeError,
    OutputError,
    UnsupportedInputError,
    UsageError,
)
from marking.media.atomic import (
    StrPath,
    atomic_write,
    check_output_path,
    display_path,
    mapped,
    read_whole,
)
from marking.media.png import (
    PNG_SIGNATURE,
    PNG_XMP_KEYWORD,
    is_png_xmp,
    png_chunk,
    png_chunks,
)
from marking.media.sniffing import IMAGE_SUFFIX_FORMATS, image_format_of_head, suffix_mismatch
from marking.tags.aigc_label import AigcLabel
from marking.tags.xmp import (
    TRAINED_ALGORITHMIC_MEDIA,
    read_xmp_fields,
    source_type_uri,
    update_xmp,
)

FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")

#: Largest XMP packet a JPEG APP1 segment holds (Adobe XMP specification, part 3).
JPEG_MAX_XMP = 65502
_JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXIF_HEADER = b"Exif\x00"
_SOI, _SOS, _EOI = 0xD8, 0xDA, 0xD9
_APP0, _APP1 = 0xE0, 0xE1
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length field

#: Largest inflated XMP packet read from a compressed PNG ``iTXt`` chunk.
_PNG_MAX_XMP = 64 << 20

_WEBP_XMP_FLAG = 0x04
_WEBP_ALPHA_FLAG = 0x10

_TIFF_XMP_TAG = 700
_TIFF_MAX_ENTRIES = 0xFFFF  # an IFD's entry count is a SHORT
_TIFF_BYTE = 1
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TIFF_DATA_TAGS = ((273, 279), (324, 325))  # StripOffsets/ByteCounts, TileOffsets/ByteCounts


@dataclass(frozen=True)
class ImageTags:
    """What an image's XMP says: the GB 45438 label, the IPTC digital source type, and
    whether the file has an XMP packet at all."""

    label: AigcLabel | None
    source_type: str | None
    xmp_present: bool


#: 0.1's name of the one picture sniffer, :func:`marking.media.sniffing.image_format_of_head`.
sniff_format = image_format_of_head


def _format_of(data: bytes) -> str:
    """The picture format of ``data`` (Pillow's name); a one-line error for anything else."""
    if not data:
        raise InputError("file is empty")
    fmt = image_format_of_head(data[:64])
    if fmt is None:
        raise UnsupportedInputError(
            "not a JPEG, PNG, WebP or TIFF file (metadata labels support only these)"
        )
    return fmt


# --- JPEG -------------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The marker segments before the scan, as (marker, payload), and where the scan starts
    (the offset of the SOS marker). Raises :class:`InputError` on a damaged header."""
    if not data.startswith(b"\xff\xd8"):
        raise InputError("corrupt JPEG file (no start-of-image marker)")
    segments: list[tuple[int, bytes]] = []
    position = 2
    while True:
        if position >= len(data) or data[position] != 0xFF:
            raise InputError("truncated or corrupt JPEG file (bad marker before the image data)")
        while position < len(data) and data[position] == 0xFF:
            position += 1  # fill bytes
        if position >= len(data):
            raise InputError("truncated JPEG file")
        marker = data[position]
        position += 1
        if marker == _SOS:
            start = position - 2
            if data.rfind(b"\xff\xd9", start) < 0:
                raise InputError("truncated JPEG file (no end-of-image marker)")
            return segments, start
        if marker in _JPEG_STANDALONE:
            segments.append((marker, b""))
            continue
        if marker in (_SOI, _EOI, 0x00):
            raise InputError("corrupt JPEG file (unexpected marker before the image data)")
        if position + 2 > len(data):
            raise InputError("truncated JPEG file")
        (length,) = struct.unpack(">H", data[position : position + 2])
        if length < 2 or position + length > len(data):
            raise InputError("truncated or corrupt JPEG file (bad segment length)")
        segments.append((marker, data[position + 2 : position + length]))
        position += length


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    if marker in _JPEG_STANDALONE:
        return bytes((0xFF, marker))
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _is_jpeg_xmp(marker: int, payload: bytes) -> bool:
    return marker == _APP1 and payload.startswith(_JPEG_XMP_HEADER)


def _jpeg_read_xmp(data: bytes) -> bytes | None:
    segments, _ = _jpeg_segments(data)
    for marker, payload in segments:
        if _is_jpeg_xmp(marker, payload):
            return payload[len(_JPEG_XMP_HEADER) :]
    return None


def _jpeg_write_xmp(data: bytes, packet: bytes) -> bytes:
    if len(packet) > JPEG_MAX_XMP:
        raise UnsupportedInputError(
            f"the XMP packet would be {len(packet)} bytes, over the {JPEG_MAX_XMP}-byte "
            "limit of a JPEG APP1 segment (the file's existing XMP is too large)"
        )
    segments, scan = _jpeg_segments(data)
    new_segment = (_APP1, _JPEG_XMP_HEADER + packet)
    kept = [segment for segment in segments if not _is_jpeg_xmp(*segment)]
    first_xmp = next((i for i, seg in enumerate(segments) if _is_jpeg_xmp(*seg)), None)
    if first_xmp is not None:
        index = sum(1 for seg in segments[:first_xmp] if not _is_jpeg_xmp(*seg))
    else:
        index = 0
        while index < len(kept) and (
            kept[index][0] == _APP0
            or (kept[index][0] == _APP1 and kept[index][1].startswith(_JPEG_EXIF_HEADER))
        ):
            index += 1
    kept.insert(index, new_segment)
    return b"\xff\xd8" + b"".join(_jpeg_segment(*seg) for seg in kept) + data[scan:]


# --- PNG --------------------------------------------------------------------------------------


def _png_itxt_text(body: bytes) -> bytes | None:
    """The text of an ``iTXt`` chunk (inflated if compressed); ``None`` if malformed."""
    try:
        _, rest = body.split(b"\x00", 1)
        compressed, method = rest[0], rest[1]
        _, _, text = rest[2:].split(b"\x00", 2)
        if compressed:
            if method != 0:
                return None
            # Bounded: a few bytes of deflate can claim gigabytes (a decompression bomb).
            inflater = zlib.decompressobj()
            packet = inflater.decompress(text, _PNG_MAX_XMP + 1)
            if len(packet) > _PNG_MAX_XMP:
                raise InputTooLargeError(
                    f"the compressed XMP packet inflates to over {_PNG_MAX_XMP} bytes"
                )
            return packet
    except (ValueError, IndexError, zlib.error):
        return None
    return text


def _png_read_xmp(data: bytes) -> bytes | None:
    for kind, body in png_chunks(data, rewriting=False):
        if is_png_xmp(kind, body):
            return _png_itxt_text(body)
    return None


def _png_write_xmp(data: bytes, packet: bytes) -> bytes:
    chunks = png_chunks(data)
    # keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword.
    new_chunk = (b"iTXt", PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)
    first_xmp = next((i for i, chunk in enumerate(chunks) if is_png_xmp(*chunk)), None)
    kept = [chunk for chunk in chunks if not is_png_xmp(*chunk)]
    if first_xmp is not None:
        index = sum(1 for chunk in chunks[:first_xmp] if not is_png_xmp(*chunk))
    else:
        index = next(i for i, (kind, _) in enumerate(kept) if kind == b"IDAT")
    kept.insert(index, new_chunk)
    return PNG_SIGNATURE + b"".join(png_chunk(*chunk) for chunk in kept)


# --- WebP -------------------------------------------------------------------------------------


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The RIFF chunks as (fourcc, payload); :class:`InputError` if damaged."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InputError("corrupt WebP file (bad RIFF header)")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    if riff_size < 4 or end > len(data):
        raise InputError("truncated WebP file (shorter than its RIFF header says)")
    chunks: list[tuple[bytes, bytes]] = []
    position = 12
    while position < end:
        if position + 8 > end:
            raise InputError("truncated or corrupt WebP file (partial chunk header)")
        fourcc, length = struct.unpack("<4sI", data[position : position + 8])
        if position + 8 + length > end:
            raise InputError(f"truncated WebP file (in a {fourcc.decode('latin-1')!r} chunk)")
        chunks.append((fourcc, data[position + 8 : position + 8 + length]))
        position += 8 + length + (length & 1)
    if not chunks or chunks[0][0] not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise InputError("corrupt WebP file (no VP8, VP8L or VP8X chunk first)")
    return chunks


def _webp_chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _webp_simple_header(fourcc: bytes, body: bytes) -> tuple[int, int, bool]:
    """Width, height and whether alpha is used, from a VP8 or VP8L bitstream header."""
    if fourcc == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
            raise InputError("corrupt WebP file (bad VP8 frame header)")
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if len(body) < 5 or body[0] != 0x2F:
        raise InputError("corrupt WebP file (bad VP8L header)")
    (bits,) = struct.unpack("<I", body[1:5])
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)


def _webp_read_xmp(data: bytes) -> bytes | None:
    for fourcc, body in _webp_chunks(data):
        if fourcc == b"XMP ":
            return body
    return None


def _webp_write_xmp(data: bytes, packet: bytes) -> bytes:
    chunks = _webp_chunks(data)
    first_kind, first_body = chunks[0]
    if first_kind != b"VP8X":
        width, height, alpha = _webp_simple_header(first_kind, first_body)
        if not width or not height:  # a VP8 frame can declare 0; VP8X stores size - 1
            raise InputError("corrupt WebP file (zero image width or height)")
        flags = _WEBP_ALPHA_FLAG if alpha else 0
        canvas = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
        chunks.insert(0, (b"VP8X", bytes((flags, 0, 0, 0)) + canvas))
    elif len(first_body) < 10:
        raise InputError("corrupt WebP file (short VP8X chunk)")
    header = bytearray(chunks[0][1])
    header[0] |= _WEBP_XMP_FLAG
    chunks[0] = (b"VP8X", bytes(header))
    first_xmp = next((i for i, (kind, _) in enumerate(chunks) if kind == b"XMP "), None)
    kept = [chunk for chunk in chunks if chunk[0] != b"XMP "]
    if first_xmp is not None:
        index = sum(1 for kind, _ in chunks[:first_xmp] if kind != b"XMP ")
    else:
        # After the image data and EXIF; before any unknown chunks.
        known = (b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF")
        index = 1 + max(i for i, (kind, _) in enumerate(kept) if kind in known)
    kept.insert(index, (b"XMP ", packet))
    body = b"WEBP" + b"".join(_webp_chunk(*chunk) for chunk in kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- TIFF -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TiffIfd:
    """IFD0 of a classic TIFF: its raw 12-byte entries and where things are."""

    order: str  # "<" or ">"
    offset: int
    entries: list[bytes]
    next_offset: int


def _tiff_ifd0(data: bytes) -> _TiffIfd:
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        raise UnsupportedInputError("BigTIFF files are not supported for metadata labels")
    if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise InputError("corrupt TIFF file (bad header)")
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset < 8 or offset + 2 > len(data):
        raise InputError("truncated or corrupt TIFF file (IFD0 outside the file)")
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    end = offset + 2 + 12 * count
    if count == 0 or end + 4 > len(data):
        raise InputError("truncated or corrupt TIFF file (IFD0 outside the file)")
    entries = [data[offset + 2 + 12 * i : offset + 14 + 12 * i] for i in range(count)]
    (next_offset,) = struct.unpack(order + "I", data[end : end + 4])
    return _TiffIfd(order, offset, entries, next_offset)


def _tiff_entry_values(data: bytes, order: str, entry: bytes) -> tuple[int, int, list[int]]:
    """An entry's (data offset or -1 if inline, byte length, values as ints for SHORT/LONG)."""
    _, kind, count = struct.unpack(order + "HHI", entry[:8])
    size = _TIFF_TYPE_SIZES.get(kind, 1) * count
    if size <= 4:
        where, raw = -1, entry[8 : 8 + size]
    else:
        (where,) = struct.unpack(order + "I", entry[8:12])
        if where + size > len(data):
            raise InputError("truncated or corrupt TIFF file (a tag's value is outside the file)")
        raw = data[where : where + size]
    values: list[int] = []
    if kind in (3, 4):
        code = "H" if kind == 3 else "I"
        values = list(struct.unpack(f"{order}{count}{code}", raw))
    return where, size, values


def _tiff_check(data: bytes, ifd: _TiffIfd) -> None:
    """Refuse a TIFF whose image data (strips or tiles) runs past the end of the file."""
    by_tag = {struct.unpack(ifd.order + "H", entry[:2])[0]: entry for entry in ifd.entries}
    for offsets_tag, counts_tag in _TIFF_DATA_TAGS:
        if offsets_tag in by_tag and counts_tag in by_tag:
            _, _, offsets = _tiff_entry_values(data, ifd.order, by_tag[offsets_tag])
            _, _, counts = _tiff_entry_values(data, ifd.order, by_tag[counts_tag])
            if any(o + c > len(data) for o, c in zip(offsets, counts, strict=False)):
                raise InputError("truncated TIFF file (image data runs past the end)")
            return
    raise InputError("corrupt TIFF file (no strip or tile offsets in IFD0)")


def _tiff_xmp_entry(ifd: _TiffIfd) -> bytes | None:
    for entry in ifd.entries:
        if struct.unpack(ifd.order + "H", entry[:2])[0] == _TIFF_XMP_TAG:
            return entry
    return None


def _tiff_read_xmp(data: bytes) -> bytes | None:
    ifd = _tiff_ifd0(data)
    entry = _tiff_xmp_entry(ifd)
    if entry is None:
        return None
    where, size, _ = _tiff_entry_values(data, ifd.order, entry)
    return entry[8 : 8 + size] if where < 0 else data[where : where + size]


def _tiff_overlaps_structure(
    data: bytes, ifd: _TiffIfd, xmp_entry: bytes, start: int, size: int
) -> bool:
    """Whether ``data[start:start + size]`` (the old packet) shares a byte with the header,
    IFD0, another tag's value or the image data; blanking it would then damage the file."""
    used = [(0, 8), (ifd.offset, ifd.offset + 2 + 12 * len(ifd.entries) + 4)]
    by_tag = {}
    for entry in ifd.entries:
        if entry is xmp_entry:
            continue
        where, length, _ = _tiff_entry_values(data, ifd.order, entry)
        if where >= 0:
            used.append((where, where + length))
        by_tag[struct.unpack(ifd.order + "H", entry[:2])[0]] = entry
    for offsets_tag, counts_tag in _TIFF_DATA_TAGS:
        if offsets_tag in by_tag and counts_tag in by_tag:
            _, _, offsets = _tiff_entry_values(data, ifd.order, by_tag[offsets_tag])
            _, _, counts = _tiff_entry_values(data, ifd.order, by_tag[counts_tag])
            used.extend((o, o + c) for o, c in zip(offsets, counts, strict=False))
    return any(begin < start + size and start < end for begin, end in used)


def _tiff_write_xmp(data: bytes, packet: bytes) -> bytes:
    """Append the packet and a copy of IFD0 with tag 700 pointing at it; point the header at
    the new IFD0. The old packet's bytes are blanked, so no stale label stays in the file."""
    ifd = _tiff_ifd0(data)
    _tiff_check(data, ifd)
    order = ifd.order
    output = bytearray(data)
    old_entry = _tiff_xmp_entry(ifd)
    if old_entry is not None:
        where, size, _ = _tiff_entry_values(data, order, old_entry)
        if where >= 0 and not _tiff_overlaps_structure(data, ifd, old_entry, where, size):
            output[where : where + size] = bytes(size)
    if len(output) & 1:
        output += b"\x00"
    packet_offset = len(output)
    output += packet
    if len(output) & 1:
        output += b"\x00"
    ifd_offset = len(output)
    new_entry = struct.pack(order + "HHII", _TIFF_XMP_TAG, _TIFF_BYTE, len(packet), packet_offset)
    if len(packet) <= 4:  # TIFF keeps values of up to 4 bytes in the entry itself
        new_entry = new_entry[:8] + packet.ljust(4, b"\x00")
    entries = [entry for entry in ifd.entries if entry is not old_entry]
    entries.append(new_entry)
    if len(entries) > _TIFF_MAX_ENTRIES:
        raise InputError(
            f"corrupt TIFF file (IFD0 has {len(ifd.entries)} entries, no room for the XMP tag)"
        )
    entries.sort(key=lambda entry: struct.unpack(order + "H", entry[:2])[0])
    output += struct.pack(order + "H", len(entries)) + b"".join(entries)
    output += struct.pack(order + "I", ifd.next_offset)
    if len(output) >= 2**32:
        raise UnsupportedInputError("the labeled TIFF would exceed 4 GB (classic TIFF limit)")
    output[4:8] = struct.pack(order + "I", ifd_offset)
    return bytes(output)


# --- API --------------------------------------------------------------------------------------

_READERS = {
    "JPEG": _jpeg_read_xmp,
    "PNG": _png_read_xmp,
    "WEBP": _webp_read_xmp,
    "TIFF": _tiff_read_xmp,
}
_WRITERS = {
    "JPEG": _jpeg_write_xmp,
    "PNG": _png_write_xmp,
    "WEBP": _webp_write_xmp,
    "TIFF": _tiff_write_xmp,
}


def read_xmp_bytes(data: bytes) -> bytes | None:
    """The XMP packet of an image held in ``data``, or ``None`` if it has none.

    Raises :class:`InputError` (one line, no path) if the container is damaged, and
    :class:`UnsupportedInputError` for formats other than JPEG, PNG, WebP and TIFF.
    """
    return _READERS[_format_of(data)](data)


def tag_image_bytes(data: bytes, fmt: str | None, packet: bytes) -> bytes:
    """``data`` with its XMP packet replaced by ``packet`` (or ``packet`` added); every other
    byte is kept. ``fmt`` (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ``"TIFF"``) must match the
    data; ``None`` takes the format from the data."""
    found = _format_of(data)
    if fmt is not None and fmt.upper() != found:
        raise InputError(f"the data is {found}, not {fmt}")
    return _WRITERS[found](data, packet)


@contextlib.contextmanager
def _as_input_errors(path: Path) -> Iterator[None]:
    """Turn a failure to open or read ``path`` into a one-line :class:`InputError`."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{display_path(path)}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{display_path(path)}: is a directory, not an image file") from None
    except OSError as error:
        raise InputError(f"{display_path(path)}: {error.strerror or error}") from None


def _read(path: Path) -> bytes:
    with _as_input_errors(path):
        return read_whole(path)


def _with_path(error: InputError, path: StrPath) -> InputError:
    """The same kind of error, its message prefixed with the file name."""
    return type(error)(f"{display_path(path)}: {error}")


def tag_image(
    src: StrPath,
    dst: StrPath,
    label: AigcLabel,
    *,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
) -> dict[str, Any]:
    """Write a copy of ``src`` to ``dst`` whose XMP holds ``label`` (``TC260:AIGC``) and
    ``source_type`` (``Iptc4xmpExt:DigitalSourceType``), exactly once each.

    Pixels are not decoded or re-encoded and the rest of the metadata is kept. ``src`` is
    never modified and ``dst`` may not be ``src``. Returns a record: ``input``, ``output``,
    ``format``, ``label`` (the seven fields), ``source_type``, ``previous_label`` (the fields
    found in ``src``, or ``None``) and ``replaced_malformed_xmp``.
    """
    label.validate()
    source_type = source_type_uri(source_type)
    check_output_path(dst, forbid=[src])
    data = _read(Path(src))
    try:
        fmt = _format_of(data)
        target = IMAGE_SUFFIX_FORMATS.get(Path(dst).suffix.lower())
        expected = tuple(suffix for suffix, name in IMAGE_SUFFIX_FORMATS.items() if name == fmt)
        mismatch = suffix_mismatch(
            display_path(dst), f"a {fmt} picture", source=src, expected=expected
        )
        if target is None and mismatch is not None:  # a sound's or a video's name, or no format's
            raise UsageError(mismatch)
        if target is not None and target != fmt:
            raise OutputError(
                f"{display_path(dst)}: the input is {fmt}; metadata labels keep the format, "
                f"so the output cannot be {target}"
            )
        old_packet = _READERS[fmt](data)
        previous, _ = read_xmp_fields(old_packet)
        update = update_xmp(old_packet, label, source_type)
        packet = update.packet
        if fmt == "JPEG" and len(packet) > JPEG_MAX_XMP:
            packet = update_xmp(old_packet, label, source_type, padding=0).packet
        tagged = _WRITERS[fmt](data, packet)
    except InputError as error:
        raise _with_path(error, src) from None
    with atomic_write(dst, forbid=[src]) as stream:
        stream.write(tagged)
    return {
        "input": os.fspath(src),
        "output": os.fspath(dst),
        "format": fmt,
        "label": label.to_dict(),
        "source_type": source_type,
        "previous_label": previous.to_dict() if previous is not None else None,
        "replaced_malformed_xmp": update.replaced_malformed,
    }


def read_image_tags(path: StrPath) -> ImageTags:
    """The label and digital source type in an image's XMP (``None`` where absent or
    unreadable). Raises :class:`InputError` if the file is missing or its container damaged."""
    # Mapped, not read: the tags lie in the container's headers, and a picture of any size
    # costs only the pages its walk touches.
    with _as_input_errors(Path(path)), mapped(path) as data:
        try:
            packet = read_xmp_bytes(data)
        except InputError as error:
            raise _with_path(error, path) from None
    label, source_type = read_xmp_fields(packet)
    return ImageTags(label, source_type, packet is not None)
