"""The visible label on pictures: size, position, contrast, and what it leaves untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from marking.errors import UnsupportedInputError, UsageError
from marking.labels.options import POSITIONS, PRESETS
from marking.labels.visible import (
    MIN_CONTRAST,
    LabelStyle,
    contrast_ratio,
    label_image,
    layout_label,
    minimum_plate_opacity,
    render_label,
    worst_case_contrast,
)
from marking.watermark.image import detect_image, embed_image
from tests.support.sample_photos import load_sample

SIZES = [(256, 256), (1920, 1080), (1080, 1920), (640, 480), (333, 1001)]  # (width, height)


def background(kind: str, width: int, height: int) -> np.ndarray:
    """Dark, light and busy test pictures."""
    rng = np.random.default_rng(width * 7 + height)
    if kind == "dark":
        return np.full((height, width, 3), 8, np.uint8)
    if kind == "light":
        return np.full((height, width, 3), 250, np.uint8)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)  # busy: every colour


def _on_edge(box: tuple[int, int, int, int], position: str, width: int, height: int) -> None:
    left, top, right, bottom = box
    assert 0 <= left < right <= width
    assert 0 <= top < bottom <= height
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    if "left" in position:
        assert centre_x < width / 3
    if "right" in position:
        assert centre_x > 2 * width / 3
    if "top" in position:
        assert centre_y < height / 3
    if "bottom" in position:
        assert centre_y > 2 * height / 3
    if position in ("top", "bottom"):
        assert abs(centre_x - width / 2) <= 1
    if position in ("left", "right"):
        assert abs(centre_y - height / 2) <= 1


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("position", POSITIONS)
def test_layout_height_box_and_position(width: int, height: int, position: str) -> None:
    layout = layout_label(width, height, LabelStyle(position=position))
    assert layout.text_height >= 0.05 * min(width, height)
    _on_edge(layout.box, position, width, height)
    tl, tt, tr, tb = layout.text_box
    bl, bt, br, bb = layout.box
    assert bl <= tl < tr <= br
    assert bt <= tt < tb <= bb


@pytest.mark.parametrize("text", list(PRESETS.values()))
@pytest.mark.parametrize("kind", ["dark", "light", "busy"])
@pytest.mark.parametrize(("width", "height"), [(256, 256), (1080, 1920), (1920, 1080)])
def test_drawn_label_reaches_contrast_on_any_background(
    text: str, kind: str, width: int, height: int
) -> None:
    picture = background(kind, width, height)
    labeled, result = label_image(picture, LabelStyle(text=text))
    assert result.contrast >= MIN_CONTRAST
    left, top, right, bottom = result.layout.box
    plate = labeled[top:bottom, left:right].astype(np.int64)
    # The text's own pixels are pure white; the plate's (where the patch is pure backing
    # colour, not an anti-aliased text edge) are the backing blended over the picture:
    # measure white against the lightest of them.
    is_text = np.all(plate == 255, axis=2)
    assert is_text.mean() > 0.02  # the text really is there
    patch = render_label(result.layout, LabelStyle(text=text))
    backing = plate[np.all(patch[:, :, :3] == 0, axis=2)]
    lightest = backing[np.argmax(backing @ np.array([0.2126, 0.7152, 0.0722]))]
    assert contrast_ratio((255, 255, 255), lightest) >= MIN_CONTRAST
    # Outside the label nothing changed.
    outside = np.ones(picture.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(labeled[outside], picture[outside])


@pytest.mark.parametrize("colors", ["light-on-dark", "dark-on-light"])
def test_plate_opacity_is_raised_to_keep_contrast(colors: str) -> None:
    style = LabelStyle(colors=colors, opacity=0.1)
    needed = minimum_plate_opacity(style)
    assert 0.3 < needed < 0.7
    assert worst_case_contrast(style, needed) >= MIN_CONTRAST
    assert worst_case_contrast(style, needed - 0.05) < MIN_CONTRAST
    layout = layout_label(800, 600, style)
    assert layout.plate_opacity == pytest.approx(needed)


def test_outline_backing_has_full_contrast() -> None:
    picture = background("busy", 640, 480)
    labeled, result = label_image(picture, LabelStyle(backing="outline"))
    assert result.contrast == pytest.approx(21.0)
    assert result.layout.stroke >= 2
    assert not np.array_equal(labeled, picture)


def test_larger_height_and_margin_are_honoured() -> None:
    small = layout_label(1000, 800, LabelStyle())
    large = layout_label(1000, 800, LabelStyle(height_fraction=0.1, margin_fraction=0.05))
    assert large.text_height >= 80 > small.text_height
    assert large.box[3] <= 800 - 40


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": "  "}, "empty"),
        ({"position": "center"}, "position"),
        ({"height_fraction": 0.04}, "5 %"),
        ({"opacity": 1.5}, "opacity"),
        ({"colors": "red"}, "colors"),
        ({"backing": "shadow"}, "backing"),
    ],
)
def test_bad_styles_are_usage_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        LabelStyle(**kwargs)


def test_text_too_long_for_frame_is_refused() -> None:
    with pytest.raises(UsageError, match="does not fit"):
        layout_label(256, 256, LabelStyle(text="AI-generated " * 6))


def test_text_outside_the_font_is_refused() -> None:
    with pytest.raises(UsageError, match="no glyph"):
        layout_label(640, 480, LabelStyle(text="AI生成 ☃"))


def test_bad_font_file_is_refused(tmp_path) -> None:
    bad = tmp_path / "font.ttf"
    bad.write_bytes(b"not a font")
    with pytest.raises(UnsupportedInputError, match="cannot load font"):
        layout_label(640, 480, LabelStyle(font_path=str(bad)))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_pil_modes_are_kept(natural_image: Callable[..., Image.Image], mode: str) -> None:
    picture = natural_image(mode, (400, 300), seed=3)
    labeled, _ = label_image(picture)
    assert labeled.mode == picture.mode
    assert labeled.size == picture.size
    assert labeled.tobytes() != picture.tobytes()


def test_alpha_outside_label_is_kept(natural_image: Callable[..., Image.Image]) -> None:
    picture = natural_image("RGBA", (400, 300), seed=4)
    labeled, result = label_image(picture)
    before = np.asarray(picture.getchannel("A"))
    after = np.asarray(labeled.getchannel("A"))
    left, top, right, bottom = result.layout.box
    mask = np.ones_like(before, bool)
    mask[top:bottom, left:right] = False
    assert np.array_equal(before[mask], after[mask])


def test_array_dtypes_are_kept() -> None:
    rgb = load_sample("photo-astronaut.png")
    for array in (rgb, rgb.astype(np.uint16) * 257, rgb.astype(np.float32) / 255, rgb[..., 0]):
        labeled, _ = label_image(array)
        assert labeled.dtype == array.dtype
        assert labeled.shape == array.shape


def test_label_then_watermark_keeps_both() -> None:
    """The pipeline order: label first, then the watermark covers the final pixels."""
    photo = load_sample("photo-dandelion-detail.jpg")
    labeled, result = label_image(photo)
    marked = embed_image(labeled, key="label-test", payload="00000000deadbeef")
    found = detect_image(marked, key="label-test")
    assert found.detected
    assert found.payload == "00000000deadbeef"
    left, top, right, bottom = result.layout.text_box
    # The label is still there: its text is still far brighter than the dark plate around it.
    region = marked[top:bottom, left:right].astype(np.float64).mean(axis=2)
    assert region.max() > 240
    assert np.percentile(region, 10) < 80


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp-lossless", "tiff"])
def test_label_file_keeps_format_and_metadata(
    image_file: Callable[..., Path], srgb_icc: bytes, xmp_packet: bytes, kind: str
) -> None:
    from marking.files.image import label_file
    from tests.media.test_image_io import assert_metadata, make_source

    source = make_source(image_file, kind, srgb_icc, xmp_packet)
    before = source.read_bytes()
    output = source.with_name("labeled" + source.suffix)
    record = label_file(source, output)
    assert source.read_bytes() == before
    assert_metadata(output, srgb_icc, xmp_packet, exif_ifd=not kind.startswith("tiff"))
    with Image.open(source) as original, Image.open(output) as labeled:
        assert labeled.format == original.format
        assert labeled.mode == original.mode
        assert labeled.size == original.size
    assert record["text_height"] >= 0.05 * min(record["width"], record["height"])
