"""The explicit label burned into video frames: "AI生成" on the start screen for at least 2 s.

GB 45438 asks for the label text on the start screen for at least 2 s at normal speed, and
optionally throughout, at the end or in the middle, at least 5 % of the short side high. The
label is laid out once per resolution with :func:`~marking.labels.visible.layout_label` (on the
*displayed* picture, so a rotated phone video gets an upright label), rendered once to an RGBA
patch and converted once to the video's own Y'CbCr (matrix, range and bit depth of the
stream), with its alpha averaged down to the chroma planes. Each frame in a labeled interval
then gets the patch blended into its decoded planes in place; the other frames pass through
untouched (re-encoded, not edited).

The label is never resampled: the coded box is the displayed one turned by whole quarter
turns, and only the chroma box widens to whole chroma samples. The luma blend is linear in the
glyphs' coverage (the patch is text over plate, and Y'CbCr is affine in R'G'B'), so the inked
rows the layout measured are the inked luma rows of the frame, give or take the rounding the
layout's margin covers; the record's ``text_height`` is that inked height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marking.errors import UsageError
from marking.labels.visible import (
    LabelLayout,
    LabelStyle,
    layout_label,
    render_label,
    worst_case_contrast,
)
from marking.media.video import (
    COLOR_RANGES,
    FrameInfo,
)

#: The rules' minimum time on the start screen.
MIN_START_SECONDS = 2.0
#: Luma weights (Kr, Kb) of the Y'CbCr matrices, by FFmpeg colorspace value.
_MATRICES = {
    1: ("bt709", 0.2126, 0.0722),
    4: ("fcc", 0.30, 0.11),
    5: ("bt601", 0.299, 0.114),
    6: ("bt601", 0.299, 0.114),
    7: ("smpte240m", 0.212, 0.087),
    9: ("bt2020", 0.2627, 0.0593),
    10: ("bt2020", 0.2627, 0.0593),
}
_BT709 = _MATRICES[1]
_BT601 = _MATRICES[5]
#: Signal level of the label's white on HDR transfers, so it is not drawn at peak brightness:
#: 203 cd/m² reference white in PQ (BT.2408) and 75 % in HLG.
_HDR_WHITE = {16: 0.5807, 18: 0.75}


@dataclass(frozen=True)
class VideoLabelSettings:
    """When the label is shown. Seconds count from the first frame.

    ``start_s``: label ``[0, start_s)`` (at least 2 s, as the rules require). ``whole``: label
    every frame. ``also_end_s``: label the last N s too. ``also_middle_s``: label N s centred on
    the middle too.
    """

    style: LabelStyle = field(default_factory=LabelStyle)
    start_s: float = MIN_START_SECONDS
    whole: bool = False
    also_end_s: float | None = None
    also_middle_s: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s):
            raise UsageError("the start label time must be a finite number of seconds")
        if not self.whole and self.start_s < MIN_START_SECONDS:
            raise UsageError(
                f"the start label must last at least {MIN_START_SECONDS:g} s (got "
                f"{self.start_s:g} s); the rules require it"
            )
        for name, value in (("end", self.also_end_s), ("middle", self.also_middle_s)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise UsageError(f"the {name} label time must be a positive number of seconds")

    def intervals(self, duration: float) -> list[tuple[float, float]]:
        """The labeled time intervals ``[start, end)`` of a video lasting ``duration`` s.

        Merged and sorted; the last one may end at infinity (labels run to the last frame).
        """
        if self.whole:
            return [(0.0, math.inf)]
        spans = [(0.0, self.start_s)]
        if self.also_end_s is not None:
            spans.append((max(0.0, duration - self.also_end_s), math.inf))
        if self.also_middle_s is not None:
            middle = duration / 2
            half = self.also_middle_s / 2
            spans.append((max(0.0, middle - half), middle + half))
        merged: list[tuple[float, float]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


# --- colour conversion -------------------------------------------------------------------


def matrix_for(colorspace: int, width: int, height: int) -> tuple[str, float, float]:
    """(name, Kr, Kb) of the stream's Y'CbCr matrix; untagged: BT.709 from 720 p, else BT.601."""
    if colorspace in _MATRICES:
        return _MATRICES[colorspace]
    return _BT709 if min(width, height) >= 720 else _BT601


def is_full_range(info: FrameInfo) -> bool:
    """Whether samples use the full range (0-255) rather than the limited one (16-235)."""
    return info.color_range == 2 or info.pix_fmt.startswith("yuvj")


def rgb_to_ycbcr(
    rgb: np.ndarray, kr: float, kb: float, bit_depth: int, full_range: bool
) -> np.ndarray:
    """Float Y, Cb, Cr sample values (last axis) of non-linear R'G'B' in [0, 1]."""
    y = rgb @ np.array([kr, 1 - kr - kb, kb])
    pb = (rgb[..., 2] - y) / (2 * (1 - kb))
    pr = (rgb[..., 0] - y) / (2 * (1 - kr))
    if full_range:
        top = (1 << bit_depth) - 1
        centre = 1 << (bit_depth - 1)
        return np.stack([y * top, centre + pb * top, centre + pr * top], axis=-1)
    scale = 1 << (bit_depth - 8)
    return np.stack(
        [(16 + 219 * y) * scale, (128 + 224 * pb) * scale, (128 + 224 * pr) * scale], -1
    )


def _block_mean(values: np.ndarray, valid: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Mean of ``values`` over ``valid`` pixels in blocks of ``factors`` (x, y) luma pixels."""
    sx, sy = factors
    height, width = values.shape
    padded_h, padded_w = -(-height // sy) * sy, -(-width // sx) * sx
    pad = ((0, padded_h - height), (0, padded_w - width))
    total = np.pad(values * valid, pad).reshape(padded_h // sy, sy, padded_w // sx, sx)
    count = np.pad(valid.astype(np.float64), pad).reshape(total.shape)
    return total.sum(axis=(1, 3)) / np.maximum(count.sum(axis=(1, 3)), 1)


@dataclass(frozen=True)
class PlanePatch:
    """The label for one plane: ``plane[rows, cols] = plane * keep + add`` (then rounded)."""

    rows: slice
    cols: slice
    keep: np.ndarray  # float32, 1 - alpha
    add: np.ndarray  # float32, alpha x label value
    top: int  # largest sample value

    def blend(self, plane: np.ndarray) -> None:
        region = plane[self.rows, self.cols]
        mixed = region * self.keep
        mixed += self.add
        np.rint(mixed, out=mixed)
        np.clip(mixed, 0, self.top, out=mixed)
        region[...] = mixed


@dataclass(frozen=True)
class FrameLabel:
    """The label prepared for one frame format: a patch per plane plus where it sits."""

    layout: LabelLayout  # on the displayed picture
    coded_box: tuple[int, int, int, int]  # left, top, right, bottom in the coded frame
    planes: tuple[PlanePatch, ...]
    matrix: str
    full_range: bool

    def apply(self, planes: list[np.ndarray]) -> None:
        for plane, patch in zip(planes, self.planes, strict=False):
            patch.blend(plane)


def coded_box(
    box: tuple[int, int, int, int], width: int, height: int, rotation: int
) -> tuple[int, int, int, int]:
    """Map a box on the displayed picture onto the coded frame (``width`` x ``height``).

    ``rotation`` is counter-clockwise (the display is ``np.rot90(coded, rotation // 90)``).
    """
    left, top, right, bottom = box
    turns = (rotation // 90) % 4
    if turns == 0:
        return box
    if turns == 1:
        return width - bottom, left, width - top, right
    if turns == 2:
        return width - right, height - bottom, width - left, height - top
    return top, height - right, bottom, height - left


def prepare_label(info: FrameInfo, style: LabelStyle) -> FrameLabel:
    """Lay out, render and convert the label for frames like ``info`` (done once per format)."""
    turns = (info.rotation // 90) % 4
    shown_w, shown_h = (info.height, info.width) if turns % 2 else (info.width, info.height)
    layout = layout_label(shown_w, shown_h, style)
    patch = np.rot90(render_label(layout, style), -turns)  # into the coded orientation
    box = coded_box(layout.box, info.width, info.height, info.rotation)
    name, kr, kb = matrix_for(info.colorspace, info.width, info.height)
    full = is_full_range(info)
    rgb = patch[..., :3].astype(np.float64) / 255 * _HDR_WHITE.get(info.color_trc, 1.0)
    alpha = patch[..., 3].astype(np.float64) / 255
    ycc = rgb_to_ycbcr(rgb, kr, kb, info.bit_depth, full)
    top = info.max_value
    left, upper, right, lower = box
    plane_patches = [
        PlanePatch(
            slice(upper, lower),
            slice(left, right),
            (1 - alpha).astype(np.float32),
            (alpha * ycc[..., 0]).astype(np.float32),
            top,
        )
    ]
    sx, sy = info.chroma_subsampling
    # Chroma: widen the box to whole chroma samples, then average alpha and alpha x value
    # over the luma pixels each chroma sample covers (pixels outside the label count as 0).
    c_left, c_top = left // sx, upper // sy
    c_right, c_bottom = -(-right // sx), -(-lower // sy)
    luma_w = min(c_right * sx, info.width) - c_left * sx
    luma_h = min(c_bottom * sy, info.height) - c_top * sy
    off_x, off_y = left - c_left * sx, upper - c_top * sy

    def widen(values: np.ndarray) -> np.ndarray:
        out = np.zeros((luma_h, luma_w))
        out[off_y : off_y + values.shape[0], off_x : off_x + values.shape[1]] = values
        return out

    valid = np.ones((luma_h, luma_w), dtype=bool)
    chroma_alpha = _block_mean(widen(alpha), valid, (sx, sy))
    for channel in (1, 2):
        chroma_add = _block_mean(widen(alpha * ycc[..., channel]), valid, (sx, sy))
        plane_patches.append(
            PlanePatch(
                slice(c_top, c_bottom),
                slice(c_left, c_right),
                (1 - chroma_alpha).astype(np.float32),
                chroma_add.astype(np.float32),
                top,
            )
        )
    # An alpha plane (yuva formats) becomes opaque under the label, as in still images.
    luma = plane_patches[0]
    plane_patches.append(
        PlanePatch(luma.rows, luma.cols, luma.keep, (alpha * top).astype(np.float32), top)
    )
    return FrameLabel(layout, box, tuple(plane_patches), name, full)


# --- files -------------------------------------------------------------------------------


class FrameLabeler:
    """The label as a :func:`~marking.media.video.transcode` callback: frames in the labeled
    intervals get it blended into their planes, the rest pass untouched.

    Shared by :func:`label_video` and the video watermark, which labels and marks each frame in
    one pass. ``duration`` (seconds) places the end and middle intervals.
    """

    def __init__(self, settings: VideoLabelSettings, duration: float) -> None:
        self.settings = settings
        self.duration = duration
        self.intervals = settings.intervals(duration)
        self.prepared: dict[tuple[Any, ...], FrameLabel] = {}
        self.labeled = 0

    def __call__(self, planes: list[np.ndarray], frame: FrameInfo) -> bool:
        """Label ``planes`` in place if ``frame`` falls in an interval; True if it did."""
        if not any(start <= frame.time < end for start, end in self.intervals):
            return False
        key = (
            frame.width,
            frame.height,
            frame.pix_fmt,
            frame.color_range,
            frame.colorspace,
            frame.color_trc,
            frame.rotation,
        )
        label = self.prepared.get(key)
        if label is None:
            label = self.prepared[key] = prepare_label(frame, self.settings.style)
        label.apply(planes)  # grey video has one plane: only the luma patch is used
        self.labeled += 1
        return True

    def record(self, duration: float, rotation: int) -> dict[str, Any]:
        """What was labeled and how, for a JSON record (``duration``: the video's, in s)."""
        settings = self.settings
        record: dict[str, Any] = {
            "frames_labeled": self.labeled,
            "intervals": [[round(a, 6), round(min(b, duration), 6)] for a, b in self.intervals],
            "duration_s": duration,
            "text": settings.style.text,
        }
        first = next(iter(self.prepared.values()), None)
        if first is not None:
            layout = first.layout
            record.update(
                box=list(layout.box),
                coded_box=list(first.coded_box),
                text_height=layout.text_height,
                font_size=layout.font_size,
                plate_opacity=round(layout.plate_opacity, 3),
                contrast=round(worst_case_contrast(settings.style, layout.plate_opacity), 2),
                matrix=first.matrix,
                color_range=COLOR_RANGES[2 if first.full_range else 1],
                rotation=rotation,
            )
        return record


__all__ = [
    "MIN_START_SECONDS",
    "FrameLabel",
    "FrameLabeler",
    "PlanePatch",
    "VideoLabelSettings",
    "coded_box",
    "matrix_for",
    "prepare_label",
    "rgb_to_ycbcr",
]
