"""The explicit label people see: text such as "AI生成" on an edge or in a corner of a picture.

GB 45438 asks for text containing "AI" or "人工智能" and "生成" or "合成", on an edge or in a
corner, legible, at least 5 % of the picture's short side high. Legible here means WCAG contrast:
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
MIN_CONTRAST = 4.5
LIGHT = (255, 255, 255)
DARK = (0, 0, 0)


@dataclass(frozen=True)
class LabelStyle:
    """How the label looks; every choice the rules leave open is a setting.

    ``height_fraction`` is the height of the text's ink over the frame's short side (at least
    0.05). ``opacity`` is the plate's opacity; it is raised when needed to keep 4.5:1 over any
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
    text_box: tuple[int, int, int, int]  # the text's ink, left, top, right, bottom
    text_origin: tuple[int, int]  # where the text is drawn (anchor "lt") inside the frame
    stroke: int  # outline width, 0 with a plate
    plate_opacity: float  # after raising it for contrast; 0 with an outline

    @property
    def text_height(self) -> int:
        return self.text_box[3] - self.text_box[1]


@dataclass(frozen=True)
class LabelResult:
    """What :func:`label_image` drew: the layout and the contrast it guarantees."""

    layout: LabelLayout
    contrast: float  # worst case over any background
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
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


def layout_label(frame_width: int, frame_height: int, style: LabelStyle) -> LabelLayout:
    """Size and place the label for a frame, from the frame's size alone."""
    font_path = str(style.font_path or default_font_path())
    missing = _missing_glyphs(font_path, style.text)
    if missing:
        raise UsageError(
            f"the label font has no glyph for {''.join(missing)!r}; give --font with a font "
            "that covers the text"
        )
    short = min(frame_width, frame_height)
    target = max(1, math.ceil(style.height_fraction * short))
    # Ink height grows linearly with the font size: scale once, then step up until it fits.
    probe = _font(font_path, 100)
    left, top, right, bottom = probe.getbbox(style.text, anchor="lt")
    size = max(1, math.floor(100 * target / max(1, bottom - top)))
    while True:
        left, top, right, bottom = _font(font_path, size).getbbox(style.text, anchor="lt")
        if bottom - top >= target:
            break
        size += 1
    ink_width, ink_height = right - left, bottom - top
    if style.backing == "plate":
        pad = max(2, math.ceil(0.3 * ink_height))
        stroke = 0
        plate_opacity = max(style.opacity, minimum_plate_opacity(style))
    else:
        stroke = max(2, math.ceil(0.08 * ink_height))
        pad = stroke
        plate_opacity = 0.0
    box_width, box_height = ink_width + 2 * pad, ink_height + 2 * pad
    margin = max(2, round(style.margin_fraction * short))
    if box_width + 2 * margin > frame_width or box_height + 2 * margin > frame_height:
        raise UsageError(
            f"label {style.text!r} does not fit a {frame_width}x{frame_height} frame at "
            f"{style.height_fraction:.0%} of the short side; use a shorter text"
        )
    vertical, _, horizontal = style.position.partition("-")
    if style.position in ("left", "right"):
        vertical, horizontal = "middle", style.position
    elif style.position in ("top", "bottom"):
        horizontal = "center"
    x = {
        "left": margin,
        "center": (frame_width - box_width) // 2,
        "right": frame_width - margin - box_width,
    }[horizontal]
    y = {
        "top": margin,
        "middle": (frame_height - box_height) // 2,
        "bottom": frame_height - margin - box_height,
    }[vertical]
    text_box = (x + pad, y + pad, x + pad + ink_width, y + pad + ink_height)
    return LabelLayout(
        frame_width=frame_width,
        frame_height=frame_height,
        font_size=size,
        box=(x, y, x + box_width, y + box_height),
        text_box=text_box,
        text_origin=(x + pad - left, y + pad - top),
        stroke=stroke,
        plate_opacity=plate_opacity,
    )


def render_label(layout: LabelLayout, style: LabelStyle) -> np.ndarray:
    """The label as a straight-alpha RGBA patch (uint8) the size of ``layout.box``."""
    from PIL import Image, ImageDraw

    text_color, backing = _colors(style)
    left, top, right, bottom = layout.box
    patch = Image.new("RGBA", (right - left, bottom - top), (*backing, 0))
    draw = ImageDraw.Draw(patch)
    if style.backing == "plate":
        draw.rectangle(
            (0, 0, patch.width, patch.height), fill=(*backing, round(255 * layout.plate_opacity))
        )
    font = _font(str(style.font_path or default_font_path()), layout.font_size)
    origin = (layout.text_origin[0] - left, layout.text_origin[1] - top)
    draw.text(
        origin,
        style.text,
        font=font,
        anchor="lt",
        fill=(*text_color, 255),
        stroke_width=layout.stroke,
        stroke_fill=(*backing, 255),
    )
    return np.asarray(patch)


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
