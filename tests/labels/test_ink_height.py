"""The label's *inked* text height, measured on the drawn pixels: at least 5 % of the short side.

GB 45438 asks for text at least 5 % of the picture's short side high. A font's metrics are not
the ink people see: anti-aliased edge rows are faint. Here a row counts as inked when one of its
pixels is at least halfway from the plate's value to the text's (the glyph covers at least half
of that pixel); the label is drawn on a plain background so the plate is one value and the
count is exact. Pictures go through :func:`label_image`, video frames through the real video
path (:func:`label_video`, decoded back with PyAV) and through the frame labeler's planes for
the formats a small clip does not cover (10 bit, full range, HDR white, rotation).
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from marking.errors import UsageError
from marking.files.video import label_video
from marking.labels.options import PRESETS
from marking.labels.video_label import VideoLabelSettings, prepare_label
from marking.labels.visible import (
    LabelStyle,
    composite,
    ink_targets,
    label_image,
    layout_label,
    minimum_plate_opacity,
    text_over_plate,
)
from marking.media.video import EncoderSettings, frames
from tests.labels.test_video_label import flat_planes, make_info

#: (width, height): landscape, portrait, square, HD both ways, small.
PICTURE_SIZES = [(800, 600), (600, 800), (1000, 800), (1920, 1080), (540, 960), (300, 300)]
MINIMUM = 0.05  # the rules' floor
AIMED = 0.052  # the margin the layout aims for


def inked_rows(region: np.ndarray, plate: float, text: float) -> int:
    """Rows of ``region`` (2-D) holding a pixel at least halfway from ``plate`` to ``text``."""
    half = (float(plate) + float(text)) / 2
    inked = region >= half if text > plate else region <= half
    return int(np.count_nonzero(inked.any(axis=1)))


def measure(region: np.ndarray, light_text: bool) -> int:
    """Inked rows of a label's box on a plain background: the box's corner is plate, the
    extreme value inside it is fully inked text."""
    region = region.astype(np.float64)
    text = region.max() if light_text else region.min()
    return inked_rows(region, region[0, 0], text)


def picture_ink(width: int, height: int, style: LabelStyle, grey: int) -> tuple[int, object]:
    """Inked rows of the label drawn on a plain ``grey`` picture, and the label's result."""
    picture = np.full((height, width, 3), grey, np.uint8)
    labeled, result = label_image(picture, style)
    left, top, right, bottom = result.layout.box
    luma = labeled[top:bottom, left:right].astype(np.float64) @ [0.299, 0.587, 0.114]
    return measure(luma, style.colors == "light-on-dark"), result


@pytest.mark.parametrize("text", list(PRESETS.values()))
@pytest.mark.parametrize(("width", "height"), PICTURE_SIZES)
def test_picture_ink_is_at_least_five_percent(width: int, height: int, text: str) -> None:
    short = min(width, height)
    rows, result = picture_ink(width, height, LabelStyle(text=text), 128)
    assert rows >= AIMED * short, (rows, short)
    # The record reports that ink: its height is the rows the glyphs really cover.
    assert result.to_dict()["text_height"] == result.layout.text_height >= rows
    assert result.layout.text_height <= rows + 1  # no gap inside these texts


@pytest.mark.parametrize("colors", ["light-on-dark", "dark-on-light"])
@pytest.mark.parametrize("grey", [0, 128, 255])
@pytest.mark.parametrize(("width", "height"), [(1000, 800), (540, 960), (300, 300)])
def test_ink_holds_for_both_colour_schemes_on_any_plain_background(
    width: int, height: int, grey: int, colors: str
) -> None:
    rows, result = picture_ink(width, height, LabelStyle(colors=colors), grey)
    assert rows >= AIMED * min(width, height)
    assert result.contrast >= 4.5


@pytest.mark.parametrize("fraction", [0.05, 0.08, 0.1])
def test_asked_height_is_inked_height(fraction: float) -> None:
    width, height = 1200, 900
    rows, _ = picture_ink(width, height, LabelStyle(height_fraction=fraction), 128)
    assert rows >= fraction * height * 1.04 - 1e-9
    assert rows <= fraction * height * 1.04 + 0.02 * height  # sized to it, not far over


def test_outline_text_ink() -> None:
    """With an outline the text's own ink (not the outline) reaches the height."""
    width, height = 1000, 800
    style = LabelStyle(backing="outline", colors="dark-on-light")
    picture = np.full((height, width), 255, np.uint8)  # the outline's colour: it disappears
    labeled, result = label_image(picture, style)
    left, top, right, bottom = result.layout.box
    rows = measure(labeled[top:bottom, left:right], light_text=False)
    assert rows >= AIMED * height


def fits(side: int, style: LabelStyle) -> bool:
    try:
        layout_label(side, side, style)
    except UsageError:
        return False
    return True


@pytest.mark.parametrize("text", list(PRESETS.values()))
def test_tiny_frames_are_labeled_at_five_percent_or_refused(text: str) -> None:
    """Frames too small for the margin take the bare 5 % of ink; frames too small for that
    (with the plate and margin) are refused with one line, as before; none get less ink."""
    style, outcomes = LabelStyle(text=text), []
    for side in range(8, 72, 3):
        if not fits(side, style):
            with pytest.raises(UsageError, match="does not fit"):
                label_image(np.zeros((side, side, 3), np.uint8), style)
            outcomes.append("refused")
            continue
        rows, result = picture_ink(side, side, style, 128)
        assert rows >= MINIMUM * side, (side, rows)
        aimed, _ = ink_targets(side, MINIMUM)
        outcomes.append("aimed" if result.layout.text_height >= aimed else "least")
    assert outcomes[0] == "refused"  # 8 px: no label fits
    assert outcomes[-1] == "aimed"


def test_frames_labeled_before_are_still_labeled() -> None:
    """Where the aimed ink does not fit but 5 % does, the label is drawn at 5 %."""
    layout = layout_label(16, 16, LabelStyle(text=PRESETS["ai-generated-zh-full"]))
    aimed, least = ink_targets(16, MINIMUM)
    assert least <= layout.text_height < aimed


# --- video frames ----------------------------------------------------------------------------


def write_plain_clip(path: Path, width: int, height: int, count: int = 3) -> Path:
    """A few plain grey frames (yuv420p, lossless), so the plate's value is one number."""
    with av.open(str(path), "w") as container:
        options = {"preset": "ultrafast", "qp": "0"}
        stream = container.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), "rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("crf", [0, 18])
@pytest.mark.parametrize(("width", "height"), [(960, 540), (540, 960), (320, 240), (300, 300)])
def test_video_frame_ink_through_the_video_path(
    tmp_path: Path, width: int, height: int, crf: int
) -> None:
    """Label a plain clip, decode the output and count inked luma rows in every frame.

    CRF 0 is lossless (the exact blend); CRF 18 (the default) shows the margin survives coding.
    """
    source = write_plain_clip(tmp_path / "plain.mp4", width, height)
    output = tmp_path / "labeled.mp4"
    encoder = EncoderSettings(crf=crf, preset="ultrafast")
    record = label_video(source, output, VideoLabelSettings(whole=True), encoder)
    left, top, right, bottom = record["box"]
    short = min(width, height)
    counts = [
        measure(planes[0][top:bottom, left:right], light_text=True) for planes, _ in frames(output)
    ]
    assert len(counts) == 3
    floor = AIMED if crf == 0 else MINIMUM
    assert min(counts) >= floor * short, (counts, short)
    assert record["text_height"] >= min(counts)


@pytest.mark.parametrize(
    ("pix_fmt", "extra"),
    [
        ("yuv420p", {}),
        ("yuv422p", {"rotation": 90}),
        ("yuv420p10le", {}),
        ("yuvj420p", {"color_range": 2}),
        ("yuv420p10le", {"colorspace": 9, "color_trc": 16}),  # PQ: white well below peak
    ],
)
@pytest.mark.parametrize(("width", "height"), [(960, 540), (1280, 720), (333, 241)])
def test_frame_labeler_ink_in_every_format(
    width: int, height: int, pix_fmt: str, extra: dict
) -> None:
    info = make_info(width, height, pix_fmt, **extra)
    full = extra.get("color_range") == 2
    planes = flat_planes(info, (90, 90, 90), full=full)
    label = prepare_label(info, LabelStyle())
    label.apply(planes)
    turns = (info.rotation // 90) % 4
    shown = np.rot90(planes[0], turns)  # the displayed picture
    left, top, right, bottom = label.layout.box
    rows = measure(shown[top:bottom, left:right], light_text=True)
    assert rows >= AIMED * min(width, height)
    assert math.isclose(min(shown.shape), min(width, height))


@pytest.mark.parametrize("colors", ["light-on-dark", "dark-on-light"])
@pytest.mark.parametrize("grey", [0, 90, 255])
def test_text_over_plate_is_linear_in_coverage(colors: str, grey: int) -> None:
    """A pixel the glyph covers by c shows c of the text's colour over the plated picture,
    whatever the picture: so 'half covered' reads as halfway, on any background."""
    style = LabelStyle(colors=colors)
    text, plate = (255, 0) if colors == "light-on-dark" else (0, 255)
    opacity = minimum_plate_opacity(style)
    coverage = np.linspace(0, 1, 11)[None, :]
    patch = text_over_plate(coverage, (text,) * 3, (plate,) * 3, opacity)
    picture = np.full((1, 11, 3), grey, np.float64)
    composite(picture, patch, (0, 0, 11, 1), 1.0)
    behind = opacity * plate + (1 - opacity) * grey
    expected = behind + coverage[0] * (text - behind)
    assert np.abs(picture[0, :, 0] - expected).max() <= 1.0
