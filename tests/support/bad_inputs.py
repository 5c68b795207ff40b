"""A corpus of bad inputs for every supported format, built on the spot (issue 9).

:func:`build_corpus` writes small valid files (JPEG, PNG, WebP, TIFF; WAV, FLAC, MP3, OGG;
MP4, MOV, MKV, WebM) under a directory and derives from each the ways a file goes wrong:
empty, truncated at 5, 30, 70 and 95 % of its bytes, the real header followed by random bytes,
valid content under another kind's suffix, decompression bombs (headers that declare
60000x60000 pixels, absurd sample rates or data sizes), zero-length streams, malformed RIFF
chunk sizes and a corrupted MP4 box size. Each case records what it is, so a test can decide
what the command line must answer.

Everything is deterministic (fixed seeds), and the whole corpus takes a few seconds to build.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Fractions of the bytes kept by the truncated variants.
TRUNCATIONS = (0.05, 0.30, 0.70, 0.95)
#: What the bomb variants declare.
BOMB_SIDE = 60_000

IMAGE_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF"}
AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm")
#: Which suffix a valid file of each format is renamed to for the wrong-extension cases.
WRONG_SUFFIX = {
    "jpg": "png",
    "png": "wav",
    "webp": "mp4",
    "tif": "jpg",
    "wav": "flac",
    "flac": "png",
    "mp3": "wav",
    "ogg": "mkv",
    "mp4": "jpg",
    "mov": "mp4",
    "mkv": "webm",
    "webm": "ogg",
}


@dataclass(frozen=True)
class Case:
    """One file of the corpus: ``kind`` says what is wrong with it.

    Kinds: ``valid``, ``empty``, ``truncated``, ``garbage`` (real header, random rest),
    ``wrong_suffix`` (valid content), ``bomb``, ``zero_length``, ``bad_chunk``, ``bad_box``.
    """

    name: str
    path: Path
    source: str  # the format it derives from: jpg, png, ..., webm
    kind: str
    modality: str  # image, audio, video


def modality_of(fmt: str) -> str:
    if fmt in IMAGE_FORMATS:
        return "image"
    if fmt in AUDIO_FORMATS:
        return "audio"
    return "video"


# --- valid files ---------------------------------------------------------------------------


def _pixels(size: int = 256, seed: int = 0) -> np.ndarray:
    from tests.conftest import natural_pixels

    return (natural_pixels((size, size), 3, seed) * 255).round().astype(np.uint8)


def _sound(seconds: float = 2.0, rate: int = 22050, seed: int = 0) -> np.ndarray:
    """Music-like stereo: a few tones with an envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    tones = sum(
        np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * a
        for f, a in ((220, 0.3), (330, 0.2), (440, 0.15), (1250, 0.05))
    )
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t)
    mono = tones * envelope + 0.02 * rng.standard_normal(t.size)
    return np.stack([mono, np.roll(mono, 37)], axis=1).astype(np.float32) * 0.8


def write_valid(directory: Path) -> dict[str, Path]:
    """One small valid file per format, named ``valid.<ext>``."""
    import soundfile as sf
    from PIL import Image

    from tests.support.video_clips import make_clip

    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    picture = Image.fromarray(_pixels())
    for ext, fmt in IMAGE_FORMATS.items():
        path = directory / f"valid.{ext}"
        picture.save(path, fmt, **({"quality": 92} if fmt in ("JPEG", "WEBP") else {}))
        files[ext] = path
    sound = _sound()
    for ext, fmt in AUDIO_FORMATS.items():
        path = directory / f"valid.{ext}"
        if fmt == "MP3" and "MP3" not in sf.available_formats():
            continue
        subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "MP3": "MPEG_LAYER_III", "OGG": "VORBIS"}
        sf.write(path, sound, 22050, format=fmt, subtype=subtype[fmt])
        files[ext] = path
    for ext in VIDEO_FORMATS:
        path = directory / f"valid.{ext}"
        codec = "libvpx-vp9" if ext == "webm" else "libx264"
        make_clip(path, "static", width=256, height=256, fps=10, seconds=1.0, codec=codec, crf=23)
        files[ext] = path
    return files


# --- header surgery ------------------------------------------------------------------------


def png_bomb(data: bytes, side: int = BOMB_SIDE) -> bytes:
    """The PNG with its IHDR declaring ``side`` x ``side`` (CRC recomputed)."""
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", side, side)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return data[:16] + bytes(ihdr) + crc + data[33:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


#: PNG colour types by channel count (grey, grey + alpha, RGB, RGBA); 3 is a palette.
_PNG_CHANNELS = {0: 1, 3: 1, 4: 2, 2: 3, 6: 4}


def flat_png(
    width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0, value: int = 128
) -> bytes:
    """A PNG of one grey level, of any size, built in constant memory: a 192-megapixel
    picture is a few hundred kilobytes and takes about a second (the hostile thin and huge
    shapes of issue 15)."""
    row = b"\x00" + bytes([value]) * (width * _PNG_CHANNELS[colour_type] * bit_depth // 8)
    rows_per_block = max(1, (1 << 22) // len(row))
    deflate = zlib.compressobj(9)
    parts = [
        deflate.compress(row * min(rows_per_block, height - start))
        for start in range(0, height, rows_per_block)
    ]
    parts.append(deflate.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    palette = png_chunk(b"PLTE", bytes(range(256)) * 3) if colour_type == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + palette
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def png_with_chunk(data: bytes, chunk: bytes, *, before: bytes = b"IDAT") -> bytes:
    """The PNG with ``chunk`` inserted just before its first ``before`` chunk."""
    at = data.index(before) - 4
    return data[:at] + chunk + data[at:]


def jpeg_bomb(data: bytes, side: int = BOMB_SIDE) -> bytes:
    """The JPEG with its SOF segment declaring ``side`` x ``side``."""
    out = bytearray(data)
    pos = 2
    while pos + 4 <= len(out):
        assert out[pos] == 0xFF
        marker = out[pos + 1]
        length = struct.unpack(">H", out[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            out[pos + 5 : pos + 9] = struct.pack(">HH", side, side)
            return bytes(out)
        pos += 2 + length
    raise ValueError("no SOF segment")


def tiff_bomb(data: bytes, side: int = BOMB_SIDE) -> bytes:
    """The TIFF with ImageWidth and ImageLength set to ``side`` in its first IFD."""
    order = "<" if data[:2] == b"II" else ">"
    out = bytearray(data)
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, typ = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):
            if typ == 3:  # SHORT
                out[entry + 8 : entry + 12] = struct.pack(order + "HH", side, 0)
            else:  # LONG
                out[entry + 8 : entry + 12] = struct.pack(order + "I", side)
    return bytes(out)


def webp_bomb(data: bytes, side: int = BOMB_SIDE) -> bytes:
    """A WebP whose VP8X header declares a ``side`` x ``side`` canvas, around the real
    bitstream (the VP8 frame header itself holds at most 16383 a side)."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    body = data[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    vp8x += (side - 1).to_bytes(3, "little") + (side - 1).to_bytes(3, "little")
    chunks = vp8x + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _riff_chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, id, size) of the top-level chunks of a RIFF file."""
    chunks = []
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append((pos, cid, size))
        pos += 8 + size + (size & 1)
    return chunks


def _wav_chunk(data: bytes, cid: bytes) -> int:
    for pos, found, _ in _riff_chunks(data):
        if found == cid:
            return pos
    raise ValueError(f"no {cid!r} chunk")


def wav_with_rate(data: bytes, rate: int) -> bytes:
    """The WAV with its fmt chunk declaring ``rate`` Hz (and the matching byte rate)."""
    out = bytearray(data)
    fmt = _wav_chunk(data, b"fmt ") + 8
    (block_align,) = struct.unpack("<H", data[fmt + 12 : fmt + 14])
    out[fmt + 4 : fmt + 8] = struct.pack("<I", rate)
    out[fmt + 8 : fmt + 12] = struct.pack("<I", (rate * block_align) & 0xFFFFFFFF)
    return bytes(out)


def wav_with_data_size(data: bytes, size: int) -> bytes:
    out = bytearray(data)
    pos = _wav_chunk(data, b"data")
    out[pos + 4 : pos + 8] = struct.pack("<I", size)
    return bytes(out)


def wav_without_samples(data: bytes) -> bytes:
    pos = _wav_chunk(data, b"data")
    head = bytearray(data[: pos + 8])
    head[pos + 4 : pos + 8] = bytes(4)
    head[4:8] = struct.pack("<I", len(head) - 8)
    return bytes(head)


def riff_with_size(data: bytes, size: int) -> bytes:
    """The RIFF file with its outer size field set to ``size``."""
    return data[:4] + struct.pack("<I", size) + data[8:]


def wav_with_fmt_size(data: bytes, size: int) -> bytes:
    out = bytearray(data)
    pos = _wav_chunk(data, b"fmt ")
    out[pos + 4 : pos + 8] = struct.pack("<I", size)
    return bytes(out)


def _mp4_boxes(data: bytes) -> list[tuple[int, bytes, int]]:
    boxes = []
    pos = 0
    while pos + 8 <= len(data):
        size, box = struct.unpack(">I4s", data[pos : pos + 8])
        boxes.append((pos, box, size))
        if size < 8:
            break
        pos += size
    return boxes


def mp4_with_box_size(data: bytes, box: bytes, size: int) -> bytes:
    """The MP4/MOV with the top-level ``box``'s size field set to ``size``."""
    for pos, found, _ in _mp4_boxes(data):
        if found == box:
            return data[:pos] + struct.pack(">I", size) + data[pos + 4 :]
    raise ValueError(f"no {box!r} box")


def mp4_without_frames(path: Path) -> Path:
    """An MP4 with a declared video stream and not a single frame."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 256
        stream.pix_fmt = "yuv420p"
        container.start_encoding()  # writes the header, which muxing would do at the first frame
        for packet in stream.encode(None):
            container.mux(packet)
    return path


# --- the corpus ----------------------------------------------------------------------------


def build_corpus(directory: Path, seed: int = 9) -> list[Case]:
    """Write the corpus under ``directory`` (valid originals under ``directory/valid``)."""
    rng = np.random.default_rng(seed)
    valid = write_valid(directory / "valid")
    cases: list[Case] = []

    def add(name: str, source: str, kind: str, content: bytes, suffix: str | None = None) -> None:
        path = directory / f"{name}.{suffix or source}"
        path.write_bytes(content)
        cases.append(Case(name, path, source, kind, modality_of(source)))

    for fmt, original in valid.items():
        data = original.read_bytes()
        cases.append(Case(f"{fmt}-valid", original, fmt, "valid", modality_of(fmt)))
        add(f"{fmt}-empty", fmt, "empty", b"")
        for fraction in TRUNCATIONS:
            add(
                f"{fmt}-trunc{round(fraction * 100):02d}",
                fmt,
                "truncated",
                data[: round(len(data) * fraction)],
            )
        header = 64 if fmt in VIDEO_FORMATS else 32
        noise = rng.integers(0, 256, len(data) - header, dtype=np.uint8).tobytes()
        add(f"{fmt}-garbage", fmt, "garbage", data[:header] + noise)
        add(f"{fmt}-as-{WRONG_SUFFIX[fmt]}", fmt, "wrong_suffix", data, WRONG_SUFFIX[fmt])

    def derive(fmt: str, name: str, kind: str, content: bytes) -> None:
        if fmt in valid:
            add(f"{fmt}-{name}", fmt, kind, content)

    read = {fmt: path.read_bytes() for fmt, path in valid.items()}
    derive("png", "bomb", "bomb", png_bomb(read["png"]))
    derive("jpg", "bomb", "bomb", jpeg_bomb(read["jpg"]))
    derive("tif", "bomb", "bomb", tiff_bomb(read["tif"]))
    derive("webp", "bomb", "bomb", webp_bomb(read["webp"]))
    derive("webp", "riff-size-huge", "bad_chunk", riff_with_size(read["webp"], 0xFFFFFFF0))
    derive("webp", "riff-size-small", "bad_chunk", riff_with_size(read["webp"], 4))
    wav = read["wav"]
    derive("wav", "rate-1hz", "bomb", wav_with_rate(wav, 1))
    derive("wav", "rate-4ghz", "bomb", wav_with_rate(wav, 4_000_000_000))
    derive("wav", "data-size-huge", "bomb", wav_with_data_size(wav, 0xFFFFFFF0))
    derive("wav", "no-samples", "zero_length", wav_without_samples(wav))
    derive("wav", "riff-size-huge", "bad_chunk", riff_with_size(wav, 0xFFFFFFF0))
    derive("wav", "riff-size-small", "bad_chunk", riff_with_size(wav, 4))
    derive("wav", "fmt-size-huge", "bad_chunk", wav_with_fmt_size(wav, 0x7FFFFFF0))
    derive("wav", "fmt-size-small", "bad_chunk", wav_with_fmt_size(wav, 2))
    derive("wav", "data-size-odd", "bad_chunk", wav_with_data_size(wav, len(wav) - 43))
    for fmt in ("mp4", "mov"):
        boxes = {box for _, box, _ in _mp4_boxes(read[fmt])}
        for box in (b"moov", b"mdat"):
            if box in boxes:
                name = box.decode()
                derive(
                    fmt,
                    f"{name}-size-huge",
                    "bad_box",
                    mp4_with_box_size(read[fmt], box, 0x7FFFFFF0),
                )
                derive(fmt, f"{name}-size-tiny", "bad_box", mp4_with_box_size(read[fmt], box, 9))
    empty_mp4 = mp4_without_frames(directory / "valid" / "noframes.mp4")
    add("mp4-no-frames", "mp4", "zero_length", empty_mp4.read_bytes())
    return cases


# --- damaged C2PA manifests ----------------------------------------------------------------

#: Formats the toolkit signs (``tag``/``mark`` with a C2PA certificate) besides JPEG, and the
#: suffix each is written under. MKV, WebM and Ogg have no C2PA embedding in c2pa-rs.
C2PA_FORMATS = ("png", "webp", "tif", "wav", "flac", "mp3", "mp4", "mov", "m4a")
#: Where, as a fraction of the manifest store's bytes, the flipped variants XOR 8 bytes.
C2PA_FLIPS = (0.1, 0.3, 0.5, 0.7, 0.9)
_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
_TIFF_C2PA_TAG = 0xCD41


@dataclass(frozen=True)
class Container:
    """Where a file's C2PA manifest store sits: its declared-size field and its payload.

    ``size_at``/``size_format`` locate the size field (``struct`` format; ``"synchsafe"``
    for an ID3v2.4 frame); ``size_bias`` is what the field counts beyond the payload (the
    header of an MP4 box); ``start``/``end`` bound the payload (the JUMBF superbox).
    """

    size_at: int
    size_format: str
    size_bias: int
    start: int
    end: int


def _tiff_c2pa(data: bytes) -> Container:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, _typ, length, offset = struct.unpack(order + "HHII", data[entry : entry + 12])
        if tag == _TIFF_C2PA_TAG:
            return Container(entry + 4, order + "I", 0, offset, offset + length)
    raise ValueError("no C2PA tag in IFD0")


def _synchsafe(field: bytes) -> int:
    """An ID3v2.4 size: seven bits a byte."""
    value = 0
    for byte in field:
        value = value << 7 | (byte & 0x7F)
    return value


def _id3_c2pa(data: bytes) -> Container:
    """The GEOB frame holding the manifest store (c2pa-rs writes ID3v2.4, also before FLAC)."""
    assert data[:4] == b"ID3\x04", data[:4]
    end = 10 + _synchsafe(data[6:10])
    pos = 10
    while pos + 10 <= end and data[pos : pos + 4] != b"\0\0\0\0":
        size = _synchsafe(data[pos + 4 : pos + 8])
        body = pos + 10
        if data[pos : pos + 4] == b"GEOB" and b"c2pa" in data[body : body + 64]:
            jumbf = data.index(b"jumb", body) - 4
            return Container(pos + 4, "synchsafe", jumbf - body, jumbf, body + size)
        pos = body + size
    raise ValueError("no C2PA GEOB frame")


def c2pa_container(data: bytes, fmt: str) -> Container:
    """Locate the manifest store C2PA signing put into a ``fmt`` file."""
    if fmt == "png":
        pos = 8
        while pos + 8 <= len(data):
            (size,) = struct.unpack(">I", data[pos : pos + 4])
            if data[pos + 4 : pos + 8] == b"caBX":
                return Container(pos, ">I", 0, pos + 8, pos + 8 + size)
            pos += 12 + size
        raise ValueError("no caBX chunk")
    if fmt in ("webp", "wav"):
        for pos, cid, size in _riff_chunks(data):
            if cid == b"C2PA":
                return Container(pos + 4, "<I", 0, pos + 8, pos + 8 + size)
        raise ValueError("no C2PA chunk")
    if fmt == "tif":
        return _tiff_c2pa(data)
    if fmt in ("mp3", "flac"):
        return _id3_c2pa(data)
    for pos, box, size in _mp4_boxes(data):
        if box == b"uuid" and data[pos + 8 : pos + 24] == _C2PA_UUID:
            jumbf = data.index(b"jumb", pos) - 4  # after the uuid, version, flags and purpose
            return Container(pos, ">I", jumbf - pos, jumbf, pos + size)
    raise ValueError("no C2PA uuid box")


def _set_size(data: bytes, where: Container, size: int) -> bytes:
    """``data`` with the container's declared size field saying ``size`` payload bytes."""
    value = size + where.size_bias
    if where.size_format == "synchsafe":
        value = min(value, (1 << 28) - 1)
        field = bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))
    else:
        field = struct.pack(where.size_format, min(value, 0xFFFFFFFF))
    return data[: where.size_at] + field + data[where.size_at + len(field) :]


def _padding(store: bytes) -> tuple[int, int] | None:
    """The longest run of zero bytes (at least 256) in a manifest store: the space c2pa
    reserves in the signature's unprotected header (COSE ``pad``), which no signature or
    hash covers, so changing it leaves the manifest intact."""
    best = None
    for match in re.finditer(rb"\x00{256,}", store):
        if best is None or match.end() - match.start() > best[1] - best[0]:
            best = (match.start(), match.end())
    return best


#: The JUMBF type UUIDs ("c2as", "c2cl", "c2cs" and the ISO suffix) of a manifest's
#: assertion store, claim and signature.
_SUPERBOX_TYPES = tuple(
    kind + b"\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71"
    for kind in (b"c2as", b"c2cl", b"c2cs")
)


def _unsigned_spans(store: bytes) -> list[tuple[int, int]]:
    """Bytes of a manifest store no signature or hash covers: the signature's padding, and
    the description boxes (type, toggles, label such as "c2pa.claim.v2") of the assertion
    store, the claim and the signature. c2pa finds those three by their type, and signs the
    claim's CBOR, not the boxes around it; a flip there leaves the manifest intact."""
    spans = []
    padding = _padding(store)
    if padding is not None:
        spans.append(padding)
    for kind in _SUPERBOX_TYPES:
        at = store.find(b"jumd" + kind)
        if at >= 0:
            label_end = store.find(b"\x00", at + 4 + len(kind) + 1)
            spans.append((at, label_end + 1))
    return spans


def damaged_c2pa(data: bytes, fmt: str) -> dict[str, bytes]:
    """Ways to damage the manifest store of a signed ``fmt`` file, by name.

    ``flipNN``: 8 bytes XORed at NN % of the store (moved past the bytes no signature
    covers when they would touch them: see :func:`_unsigned_spans`); ``padding``: 8 bytes
    XORed inside the signature's padding (the one change the manifest must survive);
    ``cut``: the file ends halfway through the store; ``shrunk``: the container declares
    half the store (the rest reads as whatever follows); ``overlong``: the container
    declares more bytes than the file holds.
    """
    where = c2pa_container(data, fmt)
    store = data[where.start : where.end]
    padding = _padding(store)
    unsigned = _unsigned_spans(store)
    out = {}

    def flipped(at: int) -> bytes:
        damaged = bytearray(data)
        damaged[at : at + 8] = bytes(b ^ 0x5A for b in damaged[at : at + 8])
        return bytes(damaged)

    for fraction in C2PA_FLIPS:
        at = int(len(store) * fraction)
        for start, end in unsigned:
            if start - 8 < at < end:
                at = end  # the signature follows the padding, the claim its label
        out[f"flip{round(fraction * 100):02d}"] = flipped(where.start + at)
    if padding is not None:
        out["padding"] = flipped(where.start + (padding[0] + padding[1]) // 2)
    half = len(store) // 2
    out["cut"] = data[: where.start + half]
    out["shrunk"] = _set_size(data, where, half)
    out["overlong"] = _set_size(data, where, len(data) * 2)
    return out


def write_m4a(path: Path, seconds: float = 2.0) -> Path:
    """AAC in an M4A (the toolkit tags and signs it, but cannot watermark it)."""
    import av

    rate = 22050
    with av.open(str(path), "w", format="ipod") as output:
        stream = output.add_stream("aac", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(_sound(seconds, rate).T), format="fltp", layout="stereo"
        )
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            output.mux(packet)
    return path


# --- truncated faststart MP4 ---------------------------------------------------------------

#: Where the faststart cuts fall: a fraction of the media data (``mdat``) or of the index
#: (``moov``, which a faststart file puts first).
FASTSTART_CUTS = {"mdat10": 0.10, "mdat50": 0.50, "mdat90": 0.90, "moov30": 0.30, "moov80": 0.80}


def faststart_copy(src: Path, dst: Path) -> Path:
    """``src`` (an MP4) remuxed packet for packet with its index (``moov``) first, container
    tags kept: the layout of files made for progressive download."""
    import av

    skip = {"major_brand", "minor_version", "compatible_brands", "encoder"}
    with (
        av.open(str(src)) as source,
        av.open(
            str(dst), "w", format="mp4", options={"movflags": "faststart+use_metadata_tags"}
        ) as output,
    ):
        output.metadata.update({k: v for k, v in source.metadata.items() if k not in skip})
        streams = {s.index: output.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:  # the demuxer's flush markers
                continue
            packet.stream = streams[packet.stream.index]
            output.mux(packet)
    boxes = [box for _, box, _ in _mp4_boxes(dst.read_bytes())]
    assert boxes.index(b"moov") < boxes.index(b"mdat"), boxes
    return dst


def faststart_cuts(data: bytes) -> dict[str, bytes]:
    """The faststart MP4 ``data`` cut at each of :data:`FASTSTART_CUTS`."""
    boxes = {box: (pos, size) for pos, box, size in _mp4_boxes(data)}
    out = {}
    for name, fraction in FASTSTART_CUTS.items():
        pos, size = boxes[name[:4].encode()]
        header = 8 if name.startswith("mdat") else 0
        out[name] = data[: pos + header + int((size - header) * fraction)]
    return out


def complete_video_frames(data: bytes, path: Path) -> int:
    """How many video packets of the whole file ``data`` lie entirely in ``path`` (a prefix
    of it): an oracle for what a reader of the cut file can decode."""
    import av

    whole = path.with_name(path.name + ".whole.mp4")
    whole.write_bytes(data)
    try:
        with av.open(str(whole)) as container:
            size = path.stat().st_size
            return sum(
                1
                for packet in container.demux(container.streams.video[0])
                if packet.size and packet.pos + packet.size <= size
            )
    finally:
        whole.unlink()


def noise_inside(data: bytes, size: int = 4096, seed: int = 15) -> bytes:
    """``data`` with ``size`` random bytes inserted halfway (issue 15: damage mid-file)."""
    middle = len(data) // 2
    noise = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    return data[:middle] + noise + data[middle:]


#: MPEG audio frame header fields: bit rates (kbit/s) of layer III by version, sample rates.
_MPEG_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {0b11: (44100, 48000, 32000), 0b10: (22050, 24000, 16000), 0b00: (11025, 12000, 8000)}


def mp3_frame_length(header: bytes) -> int:
    """Bytes of the MPEG layer III frame whose 4-byte header is ``header``."""
    version = header[1] >> 3 & 0b11
    bitrate = _MPEG_BITRATES[1 if version == 0b11 else 2][header[2] >> 4] * 1000
    rate = _MPEG_RATES[version][header[2] >> 2 & 0b11]
    padding = header[2] >> 1 & 1
    return (144 if version == 0b11 else 72) * bitrate // rate + padding


def mp3_without_length_tag(data: bytes) -> bytes:
    """An MP3 (no ID3 tag) without its first frame, the one holding the Xing/Info tag."""
    assert b"Xing" in data[:200] or b"Info" in data[:200]
    return data[mp3_frame_length(data[:4]) :]


def with_id3_tag(path: Path, title: str = "A title") -> Path:
    """Give the MP3 at ``path`` an ID3v2 tag (libsndfile writes none)."""
    from mutagen.id3 import ID3, TIT2

    tags = ID3()
    tags.add(TIT2(encoding=3, text=[title]))
    tags.save(path)
    return path
