"""The visible video label: intervals, colour conversion, chroma subsampling, rotation, files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from marking.errors import InputError, UsageError
from marking.files.video import label_video
from marking.labels.video_label import (
    VideoLabelSettings,
    coded_box,
    matrix_for,
    prepare_label,
    rgb_to_ycbcr,
)
from marking.labels.visible import LabelStyle, composite, layout_label, render_label
from marking.media.video import EncoderSettings, FrameInfo, frames, probe_video
from tests.media.test_video_io import digest, packets, write_clip

FAST = EncoderSettings(preset="ultrafast")
STYLE = LabelStyle()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("label-clips")
    return {
        "mp4": write_clip(folder / "four.mp4", seconds=4.0, audio=True),
        "hevc10": write_clip(
            folder / "ten.mkv", codec="libx265", pix_fmt="yuv420p10le", seconds=2.4
        ),
        "rotated": write_clip(folder / "rotated.mp4", seconds=0.6, rotation=90),
        "odd": write_clip(folder / "odd.webm", size=(321, 241), codec="libvpx-vp9", seconds=0.6),
    }


def box_changes(source: Path, output: Path, box: list[int]) -> list[tuple[float, float]]:
    """(time, mean |luma change|) inside ``box`` for every frame, in 8-bit units."""
    left, top, right, bottom = box
    changes = []
    for (before, info), (after, _) in zip(frames(source), frames(output), strict=True):
        scale = 1 << (info.bit_depth - 8)
        a = before[0][top:bottom, left:right].astype(np.int32)
        b = after[0][top:bottom, left:right].astype(np.int32)
        changes.append((info.time, float(np.abs(a - b).mean()) / scale))
    return changes


def labeled_times(changes: list[tuple[float, float]]) -> list[float]:
    """Frame times whose box changed a lot (label), checking the rest changed very little."""
    for _, change in changes:
        assert change > 15 or change < 3, changes
    return [round(t, 6) for t, change in changes if change > 15]


def frame_times(start: float, stop: float, fps: int = 25) -> list[float]:
    return [
        round(i / fps, 6)
        for i in range(math.ceil(start * fps - 1e-9), math.ceil(stop * fps - 1e-9))
    ]


# --- settings and intervals ------------------------------------------------------------------


def test_settings_require_two_seconds_at_the_start() -> None:
    with pytest.raises(UsageError, match="at least 2 s"):
        VideoLabelSettings(start_s=1.5)
    with pytest.raises(UsageError, match="finite"):
        VideoLabelSettings(start_s=math.inf)
    with pytest.raises(UsageError, match="end label time must be a positive"):
        VideoLabelSettings(also_end_s=0)
    with pytest.raises(UsageError, match="middle label time must be a positive"):
        VideoLabelSettings(also_middle_s=-1)
    assert VideoLabelSettings(whole=True, start_s=0).intervals(10) == [(0.0, math.inf)]


def test_intervals_merge_and_sort() -> None:
    assert VideoLabelSettings().intervals(10) == [(0.0, 2.0)]
    settings = VideoLabelSettings(start_s=3, also_end_s=2, also_middle_s=1)
    assert settings.intervals(10) == [(0.0, 3.0), (4.5, 5.5), (8.0, math.inf)]
    # A short video: the end and middle spans overlap the start one.
    assert settings.intervals(3) == [(0.0, math.inf)]


# --- conversion and blending (no video files) -----------------------------------------------


def make_info(width: int, height: int, pix_fmt: str = "yuv444p", **extra: Any) -> FrameInfo:
    depth = 10 if "10" in pix_fmt else 8
    chroma = {"yuv444p": (1, 1), "yuv422p": (2, 1)}.get(pix_fmt.removesuffix("10le"), (2, 2))
    if pix_fmt.startswith("yuvj"):
        chroma = (2, 2)
    fields: dict[str, Any] = {
        "index": 0,
        "pts": 0,
        "time": 0.0,
        "time_base": 1,
        "width": width,
        "height": height,
        "pix_fmt": pix_fmt,
        "bit_depth": depth,
        "chroma_subsampling": chroma,
        "color_range": 1,
        "colorspace": 2,
        "color_trc": 2,
        "rotation": 0,
    }
    fields.update(extra)
    return FrameInfo(**fields)


def flat_planes(info: FrameInfo, rgb: tuple[int, int, int], full: bool = False) -> list[np.ndarray]:
    _, kr, kb = matrix_for(info.colorspace, info.width, info.height)
    ycc = rgb_to_ycbcr(np.array(rgb) / 255, kr, kb, info.bit_depth, full)
    dtype = np.uint8 if info.bit_depth == 8 else np.uint16
    sx, sy = info.chroma_subsampling
    chroma_shape = (-(-info.height // sy), -(-info.width // sx))
    return [
        np.full((info.height, info.width), round(ycc[0]), dtype),
        np.full(chroma_shape, round(ycc[1]), dtype),
        np.full(chroma_shape, round(ycc[2]), dtype),
    ]


def test_matrix_choice() -> None:
    assert matrix_for(2, 640, 360)[0] == "bt601"
    assert matrix_for(2, 1280, 720)[0] == "bt709"
    assert matrix_for(2, 720, 1280)[0] == "bt709"  # portrait HD
    assert matrix_for(5, 1920, 1080)[0] == "bt601"  # tagged wins
    assert matrix_for(9, 640, 360)[0] == "bt2020"


def test_limited_and_full_range_levels() -> None:
    white, black = np.array([1.0, 1.0, 1.0]), np.zeros(3)
    assert rgb_to_ycbcr(white, 0.2126, 0.0722, 8, False) == pytest.approx([235, 128, 128])
    assert rgb_to_ycbcr(black, 0.2126, 0.0722, 8, False) == pytest.approx([16, 128, 128])
    assert rgb_to_ycbcr(white, 0.2126, 0.0722, 10, False) == pytest.approx([940, 512, 512])
    assert rgb_to_ycbcr(white, 0.299, 0.114, 8, True) == pytest.approx([255, 128, 128])
    assert rgb_to_ycbcr(black, 0.299, 0.114, 10, True) == pytest.approx([0, 512, 512])


@pytest.mark.parametrize(
    ("size", "background"), [((320, 240), (90, 160, 40)), ((1280, 720), (250, 250, 250))]
)
def test_blend_matches_the_image_label(size: tuple[int, int], background: tuple[int, ...]) -> None:
    """4:4:4 video labeled in Y'CbCr equals the picture labeled in RGB, then converted."""
    width, height = size
    info = make_info(width, height)
    planes = flat_planes(info, background)
    label = prepare_label(info, STYLE)
    label.apply(planes)
    layout = layout_label(width, height, STYLE)
    rgb = np.zeros((height, width, 3), np.float64) + np.array(background)
    composite(rgb, render_label(layout, STYLE), layout.box, 1.0)
    _, kr, kb = matrix_for(2, width, height)
    expected = rgb_to_ycbcr(rgb / 255, kr, kb, 8, False)
    left, top, right, bottom = layout.box
    for channel in range(3):
        got = planes[channel][top:bottom, left:right].astype(np.float64)
        want = expected[top:bottom, left:right, channel]
        assert np.abs(got - want).max() <= 1.0
    assert label.matrix == ("bt709" if height >= 720 else "bt601")


def test_chroma_alpha_is_averaged_per_sample() -> None:
    """4:2:0 chroma equals the 4:4:4 result averaged over each 2x2 block (edges included)."""
    width, height = 321, 241
    full = make_info(width, height, "yuv444p")
    sub = make_info(width, height, "yuv420p")
    background = (30, 200, 120)
    planes_444, planes_420 = flat_planes(full, background), flat_planes(sub, background)
    prepare_label(full, STYLE).apply(planes_444)
    label = prepare_label(sub, STYLE)
    label.apply(planes_420)
    assert np.array_equal(planes_444[0], planes_420[0])
    for channel in (1, 2):
        wide = planes_444[channel].astype(np.float64)
        padded = np.pad(wide, ((0, 1), (0, 1)), mode="edge")  # odd size: edge samples repeat
        means = padded.reshape(121, 2, 161, 2).mean(axis=(1, 3))
        assert np.abs(planes_420[channel] - means).max() <= 1.0
    patch = label.planes[1]
    assert patch.keep.shape == planes_420[1][patch.rows, patch.cols].shape


def test_ten_bit_and_full_range_scaling() -> None:
    info10 = make_info(320, 240, "yuv420p10le")
    planes = flat_planes(info10, (0, 0, 0))
    prepare_label(info10, STYLE).apply(planes)
    assert planes[0].dtype == np.uint16
    assert 900 <= planes[0].max() <= 940  # white text at limited-range 10-bit white
    assert planes[0].min() == 64
    full = make_info(320, 240, "yuvj420p", color_range=2)
    planes = flat_planes(full, (0, 0, 0), full=True)
    label = prepare_label(full, STYLE)
    label.apply(planes)
    assert label.full_range
    assert planes[0].max() >= 250
    assert planes[0].min() == 0


def test_hdr_white_is_not_peak_brightness() -> None:
    pq = make_info(320, 240, "yuv420p10le", colorspace=9, color_trc=16)
    planes = flat_planes(pq, (0, 0, 0))
    label = prepare_label(pq, STYLE)
    label.apply(planes)
    assert label.matrix == "bt2020"
    assert 540 <= planes[0].max() <= 600  # about 203 cd/m², far below code 940


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_coded_box_matches_numpy_rotation(rotation: int) -> None:
    width, height = 40, 30
    turns = rotation // 90
    shown_w, shown_h = (height, width) if turns % 2 else (width, height)
    rng = np.random.default_rng(rotation)
    for _ in range(20):
        left, right = sorted(rng.choice(shown_w + 1, 2, replace=False))
        top, bottom = sorted(rng.choice(shown_h + 1, 2, replace=False))
        canvas = np.zeros((height, width), bool)
        np.rot90(canvas, turns)[top:bottom, left:right] = True  # a view: marks the coded frame
        rows, cols = np.flatnonzero(canvas.any(1)), np.flatnonzero(canvas.any(0))
        expected = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
        assert coded_box((left, top, right, bottom), width, height, rotation) == expected


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_frames_show_an_upright_label(rotation: int) -> None:
    width, height = 320, 240
    info = make_info(width, height, rotation=rotation)
    planes = flat_planes(info, (100, 100, 100))
    prepare_label(info, STYLE).apply(planes)
    shown = np.rot90(planes[0], rotation // 90)
    upright_info = make_info(shown.shape[1], shown.shape[0])
    upright = flat_planes(upright_info, (100, 100, 100))
    prepare_label(upright_info, STYLE).apply(upright)
    assert np.array_equal(shown, upright[0])


# --- files -----------------------------------------------------------------------------------


def test_start_label_on_the_first_two_seconds(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["mp4"]
    before = digest(source)
    out = tmp_path / "labeled.mp4"
    record = label_video(source, out, VideoLabelSettings(), FAST)
    assert digest(source) == before
    assert record["frames"] == 100
    assert record["frames_labeled"] == 50
    assert record["intervals"] == [[0.0, 2.0]]
    assert record["text_height"] >= 0.05 * 240
    assert record["matrix"] == "bt601"
    assert record["color_range"] == "tv"
    assert labeled_times(box_changes(source, out, record["box"])) == frame_times(0, 2)
    # Same format, audio copied untouched.
    src, dst = probe_video(source), probe_video(out)
    for name in ("container", "width", "height", "pix_fmt", "frame_rate", "time_base"):
        assert getattr(dst, name) == getattr(src, name), name
    assert packets(out, "audio") == packets(source, "audio")
    assert record["copied_streams"][0]["type"] == "audio"


def test_whole_end_and_middle_options(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["mp4"]
    out = tmp_path / "whole.mp4"
    record = label_video(source, out, VideoLabelSettings(whole=True), FAST)
    assert record["frames_labeled"] == record["frames"] == 100
    assert record["intervals"] == [[0.0, 4.0]]
    assert labeled_times(box_changes(source, out, record["box"])) == frame_times(0, 4)
    out = tmp_path / "end_middle.mp4"
    settings = VideoLabelSettings(also_end_s=0.5, also_middle_s=1.0)
    record = label_video(source, out, settings, FAST)
    assert record["intervals"] == [[0.0, 2.5], [3.5, 4.0]]
    expected = frame_times(0, 2.5) + frame_times(3.5, 4)
    assert labeled_times(box_changes(source, out, record["box"])) == expected
    assert record["frames_labeled"] == len(expected)


def test_ten_bit_video_labeled_and_kept_ten_bit(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ten.mkv"
    record = label_video(clips["hevc10"], out, VideoLabelSettings(), FAST)
    assert record["pix_fmt"] == "yuv420p10le"
    info = probe_video(out)
    assert (info.pix_fmt, info.bit_depth) == ("yuv420p10le", 10)
    assert labeled_times(box_changes(clips["hevc10"], out, record["box"])) == frame_times(0, 2)
    left, top, right, bottom = record["box"]
    for planes, frame in frames(out):
        if frame.index == 10:
            region = planes[0][top:bottom, left:right]
            assert region.dtype == np.uint16
            assert 850 <= int(region.max()) <= 1023  # 10-bit white text


def test_rotated_video_label_upright_on_screen(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rotated.mp4"
    record = label_video(clips["rotated"], out, VideoLabelSettings(), FAST)
    assert record["rotation"] == 90
    # Laid out on the 240x320 displayed picture: bottom-right there.
    shown_w, shown_h = 240, 320
    _, _, right, bottom = record["box"]
    assert right > shown_w * 0.75
    assert bottom > shown_h * 0.85
    assert record["coded_box"] == list(coded_box(tuple(record["box"]), 320, 240, 90))
    assert probe_video(out).rotation == 90
    assert len(labeled_times(box_changes(clips["rotated"], out, record["coded_box"]))) == 15


def test_odd_sized_video_labeled(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "odd.webm"
    record = label_video(clips["odd"], out, VideoLabelSettings(), EncoderSettings())
    info = probe_video(out)
    assert (info.width, info.height, info.codec) == (321, 241, "vp9")
    assert record["frames_labeled"] == record["frames"] == 15


def test_label_failures_leave_no_output(clips: dict[str, Path], tmp_path: Path) -> None:
    tiny = write_clip(tmp_path / "tiny.mp4", size=(32, 24), seconds=0.2)
    out = tmp_path / "out.mp4"
    with pytest.raises(UsageError, match="does not fit"):
        label_video(tiny, out, VideoLabelSettings(style=LabelStyle(text="AI生成 " * 6)), FAST)
    assert not out.exists()
    missing = tmp_path / "missing.mp4"
    with pytest.raises(InputError, match="no such file"):
        label_video(missing, out, VideoLabelSettings(), FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.mp4"]
