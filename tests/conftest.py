"""Shared fixtures: small natural-looking test images and the metadata to hang on them.

Watermark tests need content with the statistics of photographs (smooth regions,
texture, sharp edges), not flat colour or white noise, so every image here is built from
gradients, smoothed noise at two scales and a few hard-edged shapes, reproducibly from a
seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms
from scipy import ndimage

IMAGE_SIZE = (512, 512)  # width, height

XMP_PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
    b"<dc:creator><rdf:Seq><rdf:li>Test Creator</rdf:li></rdf:Seq></dc:creator>"
    b"<Iptc4xmpExt:DigitalSourceType>"
    b"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    b"</Iptc4xmpExt:DigitalSourceType>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)
EXIF_ARTIST = "Test Artist"
EXIF_DATETIME = "2024:05:06 07:08:09"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_watermark: exercises the real watermark in marking.watermark.image "
        "(fails, rather than skips, while it is not implemented)",
    )


#: The test files that take longest (seconds of one core, measured 2026-12-07 with
#: ``--durations=0``), run first: ``--dist loadfile`` hands whole files to the workers in
#: collection order (Makefile turns off xdist's reordering by test count), so the long ones
#: start first and the workers finish together instead of one running a long file alone.
LONGEST_FIRST = (
    "tests/cli/test_bad_inputs.py",  # 213 s
    "tests/watermark/test_image_false_alarm.py",  # 150 s
    "tests/watermark/test_video_robustness.py",  # 145 s
    "tests/watermark/test_warmup.py",  # 118 s
    "tests/cli/test_batch_cli.py",  # 82 s
    "tests/pipeline/test_verify.py",  # 79 s
    "tests/cli/test_audio_cli.py",  # 76 s
    "tests/watermark/test_image_geometry.py",  # 75 s
    "tests/watermark/test_audio_tempo_pitch.py",  # 70 s
    "tests/watermark/test_audio_robustness.py",  # 58 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def natural_pixels(
    size: tuple[int, int] = IMAGE_SIZE, channels: int = 3, seed: int = 0
) -> np.ndarray:
    """A float image in [0, 1], shape (height, width, channels), that looks like a photo."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    y /= max(height - 1, 1)
    x /= max(width - 1, 1)
    tint = rng.uniform(0.6, 1.0, size=channels)
    image = 0.15 + 0.35 * x[..., None] * tint + 0.2 * y[..., None] * tint[::-1]
    # Texture at two scales: broad shading and fine grain.
    broad = ndimage.gaussian_filter(rng.standard_normal((height, width, channels)), (12, 12, 0))
    fine = ndimage.gaussian_filter(rng.standard_normal((height, width, channels)), (1.2, 1.2, 0))
    image += 0.12 * broad / (broad.std() + 1e-12) + 0.04 * fine / (fine.std() + 1e-12)
    # Hard edges: a disc, a rectangle and a band of stripes.
    disc = (x - 0.3) ** 2 + (y - 0.35) ** 2 < 0.15**2
    image[disc] += rng.uniform(-0.25, 0.25, size=channels)
    rectangle = (x > 0.55) & (x < 0.85) & (y > 0.55) & (y < 0.8)
    image[rectangle] -= rng.uniform(0.1, 0.25, size=channels)
    stripes = (y > 0.82) & (y < 0.95) & (np.sin(x * 60) > 0)
    image[stripes] += 0.15
    return np.clip(image, 0.0, 1.0)


def make_natural_image(
    mode: str = "RGB", size: tuple[int, int] = IMAGE_SIZE, seed: int = 0
) -> Image.Image:
    """A natural-looking PIL image in ``mode`` (L, LA, RGB, RGBA, I;16, I, F)."""
    if mode in ("RGB", "RGBA"):
        pixels = natural_pixels(size, 3, seed)
    else:
        pixels = natural_pixels(size, 1, seed)[..., 0]
    if mode in ("L", "RGB"):
        return Image.fromarray(np.round(pixels * 255).astype(np.uint8), mode)
    if mode in ("LA", "RGBA"):
        width, height = size
        y, x = np.mgrid[0:height, 0:width]
        alpha = np.where((x // 64 + y // 64) % 5 == 0, 0, 255).astype(np.uint8)
        alpha[: height // 8] = 128
        colour = np.round(pixels * 255).astype(np.uint8)
        return Image.fromarray(np.dstack([colour, alpha]), mode)
    # Pillow infers these modes from the dtype (passing the mode is deprecated for them).
    if mode == "I;16":
        return Image.fromarray(np.round(pixels * 65535).astype(np.uint16))
    if mode == "I":
        return Image.fromarray(np.round(pixels * 1_000_000).astype(np.int32))
    if mode == "F":
        return Image.fromarray(pixels.astype(np.float32))
    raise ValueError(f"no natural test image for mode {mode}")


def make_exif(
    *, artist: str = EXIF_ARTIST, date_time: str = EXIF_DATETIME, exif_ifd: bool = True
) -> Image.Exif:
    """EXIF with Artist and DateTime in IFD0 and, if ``exif_ifd``, DateTimeOriginal in the
    EXIF IFD. Pillow writes the EXIF IFD into JPEG, PNG and WebP, and into TIFF only
    uncompressed and from a parsed block, which this returns."""
    exif = Image.Exif()
    exif[0x013B] = artist  # Artist
    exif[0x0132] = date_time  # DateTime
    if exif_ifd:
        exif[0x8769] = {0x9003: date_time}  # EXIF IFD: DateTimeOriginal
    parsed = Image.Exif()
    parsed.load(exif.tobytes())
    return parsed


@pytest.fixture(scope="session")
def srgb_icc() -> bytes:
    """An sRGB ICC profile, as bytes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="session")
def xmp_packet() -> bytes:
    return XMP_PACKET


@pytest.fixture
def natural_image() -> Callable[..., Image.Image]:
    """Factory: ``natural_image(mode="RGB", size=(512, 512), seed=0)``."""
    return make_natural_image


@pytest.fixture
def image_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a natural test image: ``image_file("a.jpg", mode="RGB", **save_kw)``.

    The format follows the suffix; extra keyword arguments go to ``Image.save``.
    """

    def write(
        name: str,
        mode: str = "RGB",
        *,
        size: tuple[int, int] = IMAGE_SIZE,
        seed: int = 0,
        **save_kwargs: Any,
    ) -> Path:
        path = tmp_path / name
        make_natural_image(mode, size, seed).save(path, **save_kwargs)
        return path

    return write
