"""PNG files chunk by chunk: the one walker the picture reader and the tag writer share.

A PNG is a signature and a run of chunks (length, type, data, CRC). :func:`png_chunk_headers`
walks a file's chunks without reading their data (the picture reader copies the text chunks
it needs); :func:`png_chunks` splits a PNG held in memory on that walk and checks every CRC;
:func:`png_salvaged` rebuilds a damaged file without the ancillary chunks a reader would
skip, so a picture with bit rot in its metadata still reads.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from marking.errors import InputError
from marking.media.sniffing import PNG_SIGNATURE

#: Keyword of the ``iTXt`` chunk that holds an XMP packet.
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"


def png_chunk_headers(stream: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """Walk a PNG's chunks from the start of ``stream``: (type, declared length) each, the
    stream at the chunk's data when it is yielded (read it or not: the walk goes on after its
    CRC). Stops after ``IEND`` or where the stream ends; :class:`InputError` without the PNG
    signature. Reads only the 8-byte headers, so a file of any size walks in constant memory.
    """
    if stream.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
        raise InputError("corrupt PNG file (bad signature)")
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        data_start = stream.tell()
        yield kind, length
        if kind == b"IEND":
            return
        stream.seek(data_start + length + 4)  # past the data and the CRC


def png_chunks(data: bytes, *, rewriting: bool = True) -> list[tuple[bytes, bytes]]:
    """The chunks as (type, data), CRCs checked; :class:`InputError` if damaged.

    When only reading the label (``rewriting=False``), an ancillary chunk other than the XMP
    one whose CRC fails is left out, as libpng does: bit rot in a C2PA ``caBX`` chunk must
    not hide the label beside it. A rewrite refuses it, since it would copy the damage.
    """
    # A mapped file is its own stream: wrapping it in BytesIO would copy all of it.
    stream = data if hasattr(data, "seek") else io.BytesIO(data)
    stream.seek(0)  # type: ignore[union-attr]
    chunks: list[tuple[bytes, bytes]] = []
    ended = False
    for kind, length in png_chunk_headers(stream):
        start = stream.tell() - 8
        if start + 12 > len(data):
            break  # not even room for a CRC: no IEND chunk
        if start + 12 + length > len(data):
            raise InputError(f"truncated PNG file (in a {kind.decode('latin-1')!r} chunk)")
        body = stream.read(length)
        (crc,) = struct.unpack(">I", stream.read(4))
        if zlib.crc32(kind + body) != crc:
            ancillary = bool(kind[0] & 0x20)
            if rewriting or not ancillary or is_png_xmp(kind, body):
                raise InputError(
                    f"corrupt PNG file (bad CRC in a {kind.decode('latin-1')!r} chunk)"
                )
            continue
        chunks.append((kind, body))
        ended = kind == b"IEND"
    if not ended:
        raise InputError("truncated PNG file (no IEND chunk)")
    if chunks[0][0] != b"IHDR" or not any(kind == b"IDAT" for kind, _ in chunks):
        raise InputError("corrupt PNG file (no IHDR or IDAT chunk)")
    return chunks


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def is_png_xmp(kind: bytes, body: bytes) -> bool:
    return kind == b"iTXt" and body.startswith(PNG_XMP_KEYWORD + b"\x00")


def png_without_damaged_ancillary_chunks(data: bytes) -> bytes | None:
    """``data`` rebuilt without the ancillary chunks whose CRC fails (bit rot in a C2PA
    ``caBX`` chunk, say), as libpng would read it; ``None`` when no chunk was left out or the
    damage is elsewhere (a critical chunk, the XMP label, truncation)."""
    salvaged = png_salvaged(data, text_limits=None)
    return salvaged[0] if salvaged is not None else None


#: Chunks whose text (or ICC profile) is deflated: (keyword, compression flag, method) come
#: first, then the data.
_COMPRESSED_CHUNKS = (b"zTXt", b"iTXt", b"iCCP")
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def png_salvaged(
    data: bytes, *, text_limits: tuple[int, int] | None
) -> tuple[bytes, tuple[str, ...]] | None:
    """``data`` rebuilt without the ancillary chunks a reader skips, and what each was
    ("PNG 'zTXt' chunk inflating past 1 MiB").

    Always left out: chunks whose CRC fails (as libpng does). With ``text_limits`` (the
    largest inflated chunk and the largest total of text, Pillow's ``MAX_TEXT_CHUNK`` and
    ``MAX_TEXT_MEMORY``), also text and ICC chunks Pillow refuses rather than skips: ones that
    inflate past the first limit, name an unknown compression method, or pass the second. A
    reader then gets the picture (and the rest of its metadata) instead of an error; a writer
    must not use this, since the copy would lose those chunks. ``None`` when nothing was left
    out or the damage is elsewhere (a critical chunk, the XMP label, truncation).
    """
    try:
        chunks = png_chunks(data, rewriting=False)
    except InputError:
        return None
    notes: list[str] = []
    kept: list[tuple[bytes, bytes]] = []
    text_total = 0
    for kind, body in chunks:
        problem = None
        if text_limits is not None and kind in (*_COMPRESSED_CHUNKS, *_TEXT_CHUNKS):
            size, problem = _chunk_text_size(kind, body, text_limits[0])
            text_total += size if kind in _TEXT_CHUNKS else 0
            if problem is None and text_total > text_limits[1]:
                problem = f"past the first {text_limits[1] >> 20} MiB of text"
        if problem is None:
            kept.append((kind, body))
        else:
            notes.append(f"PNG {kind.decode('latin-1')!r} chunk {problem}")
    rebuilt = PNG_SIGNATURE + b"".join(png_chunk(*chunk) for chunk in kept)
    if rebuilt == data:
        return None
    if len(PNG_SIGNATURE) + sum(12 + len(body) for _, body in chunks) < len(data):
        notes.insert(0, "damaged ancillary PNG chunk (bad CRC) or bytes after the end")
    return rebuilt, tuple(notes)


def _chunk_text_size(kind: bytes, body: bytes, limit: int) -> tuple[int, str | None]:
    """The inflated size of a text or ICC chunk (up to ``limit`` + 1), and why a decoder
    refuses it (``None`` if it does not). Malformed chunks count as empty: Pillow skips them."""
    _, _, rest = body.partition(b"\x00")
    if kind == b"tEXt":
        return len(rest), None
    if kind == b"iTXt":
        if len(rest) < 2 or not rest[0]:
            return len(rest), None
        if rest[1] != 0:
            return 0, None
        parts = rest[2:].split(b"\x00", 2)
        if len(parts) < 3:
            return 0, None
        compressed = parts[2]
    else:  # zTXt, iCCP: compression method, then the deflated data
        if rest[:1] not in (b"", b"\x00"):
            return 0, f"with unknown compression method {rest[0]}"
        compressed = rest[1:]
    try:
        inflated = len(zlib.decompressobj().decompress(compressed, limit + 1))
    except zlib.error:
        return 0, None
    if inflated > limit:
        return inflated, f"inflating past {limit >> 20} MiB"
    return inflated, None
