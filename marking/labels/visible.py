"""The explicit label people see: text such as "AI生成" on an edge or in a corner of a picture.

GB 45438 asks for text containing "AI" or "人工智能" and "生成" or "合成", on an edge or in a
corner, legible, at least 5 % of the picture's short side high. The height is the text's *ink*
as drawn, not the font's metrics: the rows where the glyphs cover at least half a pixel (those
pixels are closer to the text's colour than to the plate's), measured on the rendered glyphs,
with a margin (5 % asked is drawn at 5.2 % and at least one row more) so rounding and video
coding never take it below. Legible here means WCAG contrast:
the text and its immediate background (a plate behind the text, or an outline around it) reach
at least 4.5:1. The plate's opacity is chosen so the guarantee holds over *any* picture behind it
(white text needs a dark plate of at least ~55 % opacity over white), so the same label can be
burned into every frame of a video without measuring, or flickering with, each frame.

:func:`layout_label` decides size and position from the frame size alone; :func:`render_label`
draws the label once as an RGBA patch; :func:`label_image` composites it onto a picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from marking.errors import UnsupportedInputError, UsageError
from marking.labels.options import DEFAULT_TEXT, POSITIONS

#: The font shipped with the package: a subset of a CJK sans-serif bold (see marking/fonts/).
FONT_DIR = Path(__file__).resolve().parents[1] / "fonts"
MIN_HEIGHT_FRACTION = 0.05
#: The ink is sized this much above the asked height (5 % becomes 5.2 %), and one row more.
INK_MARGIN = 1.04
#: A pixel is ink where the glyph covers at least this much of it (of 255): half, so the pixel
#: is closer to the text's colour than to the plate's over any background (the label is
#: composited linearly: see :func:`render_label`).
INK_COVERAGE = 128
MIN_CONTRAST = 4.5
LIGHT = (255, 255, 255)
DARK = (0, 0, 0)


@dataclass(frozen=True)
class LabelStyle:
    """How the label looks; every choice the rules leave open is a setting.

    ``height_fraction`` is the least height of the text's ink over the frame's short side (at
    least 0.05); the ink is drawn with a margin above it (:data:`INK_MARGIN`).
    ``opacity`` is the plate's opacity; it is raised when needed to keep 4.5:1 over any
    background. ``colors`` picks light text on a dark plate, or dark text on a light plate.
    """

    text: str = DEFAULT_TEXT
    position: str = "bottom-right"
    height_fraction: float = MIN_HEIGHT_FRACTION
    margin_fraction: float = 0.02
    opacity: float = 0.6
    colors: str = "light-on-dark"
    backing: str = "plate"
    font_path: str | None = None

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise UsageError("label text is empty")
        if self.position not in POSITIONS:
            raise UsageError(f"position must be one of {', '.join(POSITIONS)}")
        if not MIN_HEIGHT_FRACTION <= self.height_fraction <= 0.5:
            raise UsageError("label height must be 5 % to 50 % of the short side")
        if not 0 <= self.margin_fraction <= 0.25:
            raise UsageError("label margin must be 0 to 25 % of the short side")
        if not 0 <= self.opacity <= 1:
            raise UsageError("label opacity must be between 0 and 1")
        if self.colors not in ("light-on-dark", "dark-on-light"):
            raise UsageError("label colors must be light-on-dark or dark-on-light")
        if self.backing not in ("plate", "outline"):
            raise UsageError("label backing must be plate or outline")


@dataclass(frozen=True)
class LabelLayout:
    """Where the label goes in a frame of a given size (all in pixels)."""

    frame_width: int
    frame_height: int
    font_size: int
    box: tuple[int, int, int, int]  # plate (or outlined text) left, top, right, bottom
    # The text's ink (pixels the glyphs cover at least half), left, top, right, bottom; the
    # faint anti-aliased fringe around it lies outside, still inside ``box``.
    text_box: tuple[int, int, int, int]
    text_origin: tuple[int, int]  # where the text is drawn (anchor "lt") inside the frame
    stroke: int  # outline width, 0 with a plate
    plate_opacity: float  # after raising it for contrast; 0 with an outline

    @property
    def text_height(self) -> int:
        """The inked text height in pixels (what the rules' 5 % is measured on)."""
        return self.text_box[3] - self.text_box[1]


@dataclass(frozen=True)
class LabelResult:
    """What :func:`label_image` drew: the layout and the contrast it guarantees."""

    layout: LabelLayout
    contrast: float  # worst case over any background
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record's label fields; ``text_height`` is the inked height in pixels."""
        return {
            "box": list(self.layout.box),
            "text_box": list(self.layout.text_box),
            "text_height": self.layout.text_height,
            "font_size": self.layout.font_size,
            "plate_opacity": round(self.layout.plate_opacity, 3),
            "contrast": round(self.contrast, 2),
        }


# --- contrast ----------------------------------------------------------------------------


def relative_luminance(rgb: Any) -> np.ndarray:
    """WCAG 2 relative luminance of sRGB colours (last axis R, G, B in 0..255)."""
    channel = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(channel <= 0.04045, channel / 12.92, ((channel + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def contrast_ratio(first: Any, second: Any) -> np.ndarray:
    """WCAG contrast ratio between colours (1 to 21)."""
    a, b = relative_luminance(first), relative_luminance(second)
    return (np.maximum(a, b) + 0.05) / (np.minimum(a, b) + 0.05)


def _colors(style: LabelStyle) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(text colour, backing colour)."""
    return (LIGHT, DARK) if style.colors == "light-on-dark" else (DARK, LIGHT)


def worst_case_contrast(style: LabelStyle, plate_opacity: float) -> float:
    """Lowest text-to-plate contrast over every possible background behind the plate.

    The plate is blended in sRGB: behind a dark plate the worst background is white, behind a
    light one black. The extreme backgrounds bound every other one, channel by channel.
    """
    text, backing = _colors(style)
    if style.backing == "outline":
        return float(contrast_ratio(text, backing))
    worst_background = np.array(text, dtype=np.float64)
    plate = plate_opacity * np.array(backing) + (1 - plate_opacity) * worst_background
    return float(contrast_ratio(text, plate))


def minimum_plate_opacity(style: LabelStyle) -> float:
    """The least plate opacity that keeps 4.5:1 over any background (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if worst_case_contrast(style, middle) >= MIN_CONTRAST:
            high = middle
        else:
            low = middle
    return high


# --- layout and rendering ----------------------------------------------------------------


def default_font_path() -> Path:
    """The shipped label font (one file in marking/fonts/)."""
    fonts = sorted(FONT_DIR.glob("*.otf")) + sorted(FONT_DIR.glob("*.ttf"))
    if not fonts:
        raise UnsupportedInputError(f"no label font found in {FONT_DIR}")
    return fonts[0]


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> Any:
    from PIL import ImageFont

    from marking.media.atomic import open_regular

    try:
        with open_regular(path):  # FreeType opens the path itself: never a FIFO or a device
            pass
        return ImageFont.truetype(path, size)
    except OSError as error:
        reason = error.strerror if error.errno == 0 else error  # open_regular's own refusals
        raise UnsupportedInputError(f"cannot load font {path!r}: {reason}") from None


def _missing_glyphs(path: str, text: str) -> list[str]:
    """Characters of ``text`` that the font draws as the empty / .notdef glyph."""
    font = _font(path, 48)
    notdef = font.getmask("\ufffe").getbbox()
    missing = []
    for char in sorted(set(text) - {" "}):
        mask = font.getmask(char)
        if mask.getbbox() is None or (notdef is not None and _same_glyph(font, char, "\ufffe")):
            missing.append(char)
    return missing


def _same_glyph(font: Any, first: str, second: str) -> bool:
    a, b = font.getmask(first), font.getmask(second)
    return a.size == b.size and bytes(a) == bytes(b)


@lru_cache(maxsize=16)
def glyph_coverage(font_path: str, size: int, text: str) -> tuple[np.ndarray, int, int]:
    """How much the glyphs of ``text`` cover each pixel (uint8, 255 = whole pixel) as Pillow
    draws them at ``size``, and the offset (x, y) of that array from the text's "lt" origin.

    The same coverage sizes the label (:func:`layout_label`) and draws it (:func:`render_label`),
    so the ink measured is the ink drawn. Read-only (cached).
    """
    from PIL import Image, ImageDraw

    font = _font(font_path, size)
    left, top, right, bottom = font.getbbox(text, anchor="lt")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, anchor="lt", fill=255)
    coverage = np.array(mask, dtype=np.uint8)
    coverage.flags.writeable = False
    return coverage, left, top


def ink_extent(coverage: np.ndarray) -> tuple[int, int, int, int, int]:
    """(left, top, right, bottom, inked row count) of the pixels a glyph covers at least half
    (:data:`INK_COVERAGE`); all zero when there are none."""
    inked = coverage >= INK_COVERAGE
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1, int(rows.size)


def ink_targets(short_side: int, height_fraction: float) -> tuple[int, int]:
    """(aimed, least) inked rows: the asked fraction of the short side with :data:`INK_MARGIN`
    and at least one row more, and the bare minimum (used only where the aimed one cannot fit)."""
    least = max(1, math.ceil(height_fraction * short_side - 1e-9))
    return max(least + 1, math.ceil(height_fraction * INK_MARGIN * short_side - 1e-9)), least


def ink_font_size(font_path: str, text: str, target: int, largest: int) -> int | None:
    """The least font size whose drawn ``text`` has ``target`` inked rows (None above
    ``largest``). Ink grows about linearly with the size: estimate once, then step."""

    def inked_rows(size: int) -> int:
        return ink_extent(glyph_coverage(font_path, size, text)[0])[4]

    size = max(1, math.floor(100 * target / max(1, inked_rows(100))))
    while size > 1 and inked_rows(size - 1) >= target:
        size -= 1
    while inked_rows(size) < target:
        size += 1
        if size > largest:
            return None
    return size


def layout_label(frame_width: int, frame_height: int, style: LabelStyle) -> LabelLayout:
    """Size and place the label for a frame, from the frame's size alone.

    The font size is the least whose *drawn* text has the aimed inked rows of
    :func:`ink_targets`; on a frame too small for that, the least rows that still meet the asked
    height; a frame too small for those (with the plate and margin) is refused.
    """
    font_path = str(style.font_path or default_font_path())
    missing = _missing_glyphs(font_path, style.text)
    if missing:
        raise UsageError(
            f"the label font has no glyph for {''.join(missing)!r}; give --font with a font "
            "that covers the text"
        )
    short = min(frame_width, frame_height)
    for target in ink_targets(short, style.height_fraction):
        size = ink_font_size(font_path, style.text, target, 4 * short)
        layout = None if size is None else _placed(frame_width, frame_height, style, size)
        if layout is not None:
            return layout
    raise UsageError(
        f"label {style.text!r} does not fit a {frame_width}x{frame_height} frame at "
        f"{style.height_fraction:.0%} of the short side; use a shorter text"
    )


def _placed(
    frame_width: int, frame_height: int, style: LabelStyle, size: int
) -> LabelLayout | None:
    """The label at font ``size`` placed in the frame, or None if it does not fit there."""
    font_path = str(style.font_path or default_font_path())
    coverage, left, top = glyph_coverage(font_path, size, style.text)
    glyph_height, glyph_width = coverage.shape  # the whole drawn glyphs, faint fringe included
    if style.backing == "plate":
        pad = max(2, math.ceil(0.3 * glyph_height))
        stroke = 0
        plate_opacity = max(style.opacity, minimum_plate_opacity(style))
    else:
        stroke = max(2, math.ceil(0.08 * glyph_height))
        pad = stroke
        plate_opacity = 0.0
    box_width, box_height = glyph_width + 2 * pad, glyph_height + 2 * pad
    margin = max(2, round(style.margin_fraction * min(frame_width, frame_height)))
    if box_width + 2 * margin > frame_width or box_height + 2 * margin > frame_height:
        return None
    x, y = _corner(style.position, frame_width - box_width, frame_height - box_height, margin)
    ink_left, ink_top, ink_right, ink_bottom, _ = ink_extent(coverage)
    return LabelLayout(
        frame_width=frame_width,
        frame_height=frame_height,
        font_size=size,
        box=(x, y, x + box_width, y + box_height),
        text_box=(x + pad + ink_left, y + pad + ink_top, x + pad + ink_right, y + pad + ink_bottom),
        text_origin=(x + pad - left, y + pad - top),
        stroke=stroke,
        plate_opacity=plate_opacity,
    )


def _corner(position: str, free_x: int, free_y: int, margin: int) -> tuple[int, int]:
    """The box's top-left corner for ``position``, given the room left around it."""
    vertical, _, horizontal = position.partition("-")
    if position in ("left", "right"):
        vertical, horizontal = "middle", position
    elif position in ("top", "bottom"):
        horizontal = "center"
    x = {"left": margin, "center": free_x // 2, "right": free_x - margin}[horizontal]
    y = {"top": margin, "middle": free_y // 2, "bottom": free_y - margin}[vertical]
    return x, y


def render_label(layout: LabelLayout, style: LabelStyle) -> np.ndarray:
    """The label as a straight-alpha RGBA patch (uint8) the size of ``layout.box``.

    On a plate the text is composited over the plate from the glyphs' coverage (so a pixel the
    glyph covers half is half text, half plate, whatever lies behind): drawing straight onto
    the translucent plate would darken the text's edges and thin its ink.
    """
    font_path = str(style.font_path or default_font_path())
    text_color, backing = _colors(style)
    left, top, right, bottom = layout.box
    if style.backing == "plate":
        coverage, glyph_left, glyph_top = glyph_coverage(font_path, layout.font_size, style.text)
        at_x = layout.text_origin[0] - left + glyph_left
        at_y = layout.text_origin[1] - top + glyph_top
        covered = np.zeros((bottom - top, right - left), np.float32)
        covered[at_y : at_y + coverage.shape[0], at_x : at_x + coverage.shape[1]] = coverage
        covered /= 255
        return text_over_plate(covered, text_color, backing, layout.plate_opacity)
    from PIL import Image, ImageDraw

    patch = Image.new("RGBA", (right - left, bottom - top), (*backing, 0))
    ImageDraw.Draw(patch).text(
        (layout.text_origin[0] - left, layout.text_origin[1] - top),
        style.text,
        font=_font(font_path, layout.font_size),
        anchor="lt",
        fill=(*text_color, 255),
        stroke_width=layout.stroke,
        stroke_fill=(*backing, 255),
    )
    return np.asarray(patch)


def text_over_plate(
    coverage: np.ndarray, text: tuple[int, int, int], plate: tuple[int, int, int], opacity: float
) -> np.ndarray:
    """Straight-alpha RGBA (uint8) of text (``coverage`` 0..1 per pixel) over a plate of
    ``opacity``: the "over" operator, so blending it onto any picture is linear in coverage."""
    coverage = coverage.astype(np.float32, copy=False)
    plate_share = (1 - coverage) * np.float32(opacity)
    alpha = coverage + plate_share
    rgba = np.empty((*coverage.shape, 4), np.float32)
    safe = np.maximum(alpha, np.float32(1e-6))
    for channel in range(3):  # straight colour: (text x coverage + plate x its share) / alpha
        premultiplied = coverage * np.float32(text[channel]) + plate_share * np.float32(
            plate[channel]
        )
        rgba[..., channel] = np.where(alpha > 0, premultiplied / safe, plate[channel])
    rgba[..., 3] = 255 * alpha
    return np.rint(rgba, out=rgba).astype(np.uint8)


def composite(
    pixels: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int], scale: float
) -> np.ndarray:
    """Blend an RGBA patch into (H, W, C) pixels at ``box`` (in place on a copy of the region).

    ``scale`` maps 8-bit colours to the pixels' range (257 for 16-bit). Grey pixels take the
    patch's luminance; a fourth channel (alpha) becomes opaque under the label.
    """
    left, top, right, bottom = box
    region = pixels[top:bottom, left:right].astype(np.float32)
    alpha = patch[:, :, 3:4].astype(np.float32) / 255.0
    colour = patch[:, :, :3].astype(np.float32) * scale
    channels = region.shape[2]
    if channels in (1, 2):
        grey = colour @ np.array([0.299, 0.587, 0.114], np.float32)
        region[:, :, 0] = region[:, :, 0] * (1 - alpha[:, :, 0]) + grey * alpha[:, :, 0]
    else:
        region[:, :, :3] = region[:, :, :3] * (1 - alpha) + colour * alpha
    if channels in (2, 4):
        top_value = 255.0 * scale
        region[:, :, -1] = region[:, :, -1] * (1 - alpha[:, :, 0]) + top_value * alpha[:, :, 0]
    if np.issubdtype(pixels.dtype, np.integer):
        region = np.rint(region)
    pixels[top:bottom, left:right] = region.astype(pixels.dtype)
    return pixels


def label_image(image: Any, style: LabelStyle | None = None) -> tuple[Any, LabelResult]:
    """Draw the label on a copy of a picture (ndarray or PIL image); returns it and the result.

    Arrays: (H, W), (H, W, 1-4) of uint8, uint16 or float 0..1. PIL: L, LA, RGB, RGBA, I;16.
    The result has the input's type, shape, dtype and mode.
    """
    style = style or LabelStyle()
    if _labels_in_place(image):
        # Only the label's box changes: copy the picture as Pillow holds it and redraw that
        # region, instead of holding the whole picture as arrays too (2 to 3 copies more).
        layout = layout_label(image.width, image.height, style)
        pixels, scale, rebuild = _editable_pixels(image.crop(layout.box))
        box_height, box_width = pixels.shape[:2]
        composite(pixels, render_label(layout, style), (0, 0, box_width, box_height), scale)
        labeled = image.copy()
        labeled.paste(rebuild(pixels), layout.box[:2])
    else:
        pixels, scale, rebuild = _editable_pixels(image)
        height, width = pixels.shape[:2]
        layout = layout_label(width, height, style)
        composite(pixels, render_label(layout, style), layout.box, scale)
        labeled = rebuild(pixels)
    return labeled, LabelResult(layout, worst_case_contrast(style, layout.plate_opacity))


def _labels_in_place(image: Any) -> bool:
    """Whether ``image`` is a PIL image whose labeled region can be pasted back as it is
    (modes whose array form rebuilds to the same mode)."""
    from PIL import Image

    return isinstance(image, Image.Image) and image.mode in ("L", "LA", "RGB", "RGBA", "I;16")


def _editable_pixels(image: Any) -> tuple[np.ndarray, float, Any]:
    """A writable (H, W, C) copy of the pixels, the 8-bit-to-range scale and a rebuild function."""
    if isinstance(image, np.ndarray):
        array = image
        finish = lambda out: out  # noqa: E731
    else:
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise UnsupportedInputError(
                f"expected an array or a PIL image, got {type(image).__name__}"
            )
        mode = image.mode
        if mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B"):
            raise UnsupportedInputError(f"image mode {mode} is not supported for labels")
        array = np.asarray(image)
        if mode.startswith("I;16"):
            array = array.astype(np.uint16, copy=False)
            finish = Image.fromarray
        else:
            finish = lambda out: Image.fromarray(out, mode)  # noqa: E731
    if array.ndim == 2:
        pixels = array[:, :, None].copy()
        rebuild = lambda out: finish(out[:, :, 0])  # noqa: E731
    elif array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
        pixels = array.copy()
        rebuild = finish
    else:
        raise UnsupportedInputError(f"image array shape {array.shape} is not supported")
    if pixels.dtype == np.uint8:
        scale = 1.0
    elif pixels.dtype == np.uint16:
        scale = 257.0
    elif pixels.dtype.kind == "f":
        scale = 1.0 / 255.0 if float(pixels.max(initial=0.0)) <= 1.0 else 1.0
    else:
        raise UnsupportedInputError(f"image dtype {pixels.dtype} is not supported for labels")
    return pixels, scale, rebuild
