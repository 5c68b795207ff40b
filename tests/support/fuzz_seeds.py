"""Small valid files and packets that the fuzz tests (and the atheris harnesses in ``fuzz/``)
mutate: one per format each parser reads, built in memory in well under a second.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from marking.tags.aigc_label import AigcLabel
from marking.tags.image_tags import tag_image_bytes
from marking.tags.xmp import build_xmp

LABEL = AigcLabel.create("fuzz-producer", produce_id="seed-0001")
XMP = build_xmp(LABEL, padding=64)

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
MEDIA_SUFFIXES = ("wav", "mp3", "flac", "ogg", "mkv", "mp4")


def _pixels() -> Image.Image:
    ramp = np.add.outer(np.arange(8), np.arange(8)).astype(np.uint8) * 16
    return Image.fromarray(np.stack([ramp, ramp[::-1], ramp.T], axis=-1))


def image_seed(fmt: str, *, tagged: bool = True) -> bytes:
    """An 8x8 image in ``fmt`` (JPEG, PNG, WEBP or TIFF), with our XMP packet if ``tagged``."""
    buffer = io.BytesIO()
    _pixels().save(buffer, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    data = buffer.getvalue()
    return tag_image_bytes(data, fmt, XMP) if tagged else data


def _tone(rate: int = 8000, seconds: float = 0.05) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _wav(label_json: str | None) -> bytes:
    samples = (_tone() * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(samples)) + samples
    if label_json is not None:
        text = label_json.encode()
        chunks += b"AIGC" + struct.pack("<I", len(text)) + text + b"\0" * (len(text) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _soundfile(fmt: str, subtype: str) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, _tone(), 8000, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _av_file(container: str, codec: str) -> bytes:
    import av

    buffer = io.BytesIO()
    options = {"movflags": "+use_metadata_tags"} if container == "mp4" else {}
    with av.open(buffer, "w", format=container, options=options) as output:
        output.metadata["AIGC"] = LABEL.to_json(wrapped=True)
        stream = output.add_stream(codec, rate=8000)
        stream.layout = "mono"
        samples = (_tone() * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = 8000
        frame.pts = 0
        frame.time_base = Fraction(1, 8000)
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def media_seed(suffix: str, workdir: Path) -> bytes:
    """A short labelled audio file of kind ``suffix`` (one of :data:`MEDIA_SUFFIXES`)."""
    text = LABEL.to_json(wrapped=True)
    if suffix == "wav":
        return _wav(text)
    if suffix in ("mkv", "mp4"):
        codec = "pcm_s16le" if suffix == "mkv" else "aac"
        return _av_file("matroska" if suffix == "mkv" else "mp4", codec)
    path = workdir / f"seed.{suffix}"
    if suffix == "mp3":
        from mutagen.id3 import ID3, TXXX

        path.write_bytes(_soundfile("MP3", "MPEG_LAYER_III"))
        tags = ID3()
        tags.add(TXXX(encoding=3, desc="AIGC", text=[text]))
        tags.save(path)
    else:
        from mutagen.flac import FLAC
        from mutagen.oggvorbis import OggVorbis

        fmt, subtype, kind = {
            "flac": ("FLAC", "PCM_16", FLAC),
            "ogg": ("OGG", "VORBIS", OggVorbis),
        }[suffix]
        path.write_bytes(_soundfile(fmt, subtype))
        audio = kind(path)
        if audio.tags is None:
            audio.add_tags()
        audio.tags["AIGC"] = [text]
        audio.save()
    return path.read_bytes()


def c2pa_seed(workdir: Path) -> bytes:
    """A small JPEG signed with a throwaway test CA."""
    from marking.tags.c2pa import ManifestInfo, sign_file
    from marking.tags.test_ca import make_test_ca

    ca = make_test_ca(workdir / "ca")
    src = workdir / "c2pa-src.jpg"
    dst = workdir / "c2pa-signed.jpg"
    src.write_bytes(image_seed("JPEG"))
    info = ManifestInfo(producer="fuzz-producer", system_name="fuzz", system_version="1")
    sign_file(src, dst, info, ca.chain.read_bytes(), ca.key.read_bytes())
    return dst.read_bytes()
