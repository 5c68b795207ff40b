"""The video test material: clips are what they claim and the same every time; every attack
does what its name says (sizes, durations, frame rates, brightness, crop alignment, codecs).

Attacks run once per module on a small "pan" clip (640x360, 30 fps, 3 s: every frame differs
from its neighbours, so frame timing can be checked by matching frames) with a fast preset.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.video_attacks import (
    ATTACKS,
    brightness_frame,
    centre_crop_box,
    crop_frame,
    plane_views,
    segment,
    segment_attacks,
    segment_starts,
)
from tests.support.video_clips import clip_frames, clip_path, make_clip, sample_video

FPS = 30
SECONDS = 3.0
FRAMES = round(FPS * SECONDS)
SIZE = (640, 360)
PRESET = "veryfast"  # fast encoders; what is checked does not depend on the preset


def probe(path: Path) -> dict[str, Any]:
    """What a file holds: video codec, size, rate, frame count and times, tags, sound."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        times = [frame.time for frame in container.decode(video)]
        info = {
            "format": container.format.name,
            "codec": video.codec_context.name,
            "size": (video.width, video.height),
            "rate": video.average_rate,
            "pix_fmt": video.codec_context.pix_fmt,
            "frames": len(times),
            "times": times,
            "colour": (video.codec_context.color_range, video.codec_context.colorspace),
        }
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(audio))
            info["audio"] = (audio.codec_context.name, audio.rate, audio.channels)
            info["audio_seconds"] = samples / audio.rate
        else:
            info["audio"] = None
    return info


def luma(path: Path) -> np.ndarray:
    """Every frame's luma plane, (frames, height, width) float32 code values (8-bit scale)."""
    with av.open(str(path)) as container:
        planes = []
        for frame in container.decode(video=0):
            scale = 1 << (frame.format.components[0].bits - 8)
            planes.append(plane_views(frame)[0].astype(np.float32) / scale)
    return np.stack(planes)


def sound(path: Path) -> np.ndarray:
    """The decoded sound, (channels, samples) float32."""
    with av.open(str(path)) as container:
        return np.concatenate([frame.to_ndarray() for frame in container.decode(audio=0)], axis=1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a - b) ** 2)))


def mapping_error(out: np.ndarray, source: np.ndarray, mapping: list[int]) -> float:
    """Mean squared error of ``out[i]`` against ``source[mapping[i]]`` over all frames."""
    return float(np.mean([np.mean((out[i] - source[k]) ** 2) for i, k in enumerate(mapping)]))


def assert_best_mapping(out: np.ndarray, source: np.ndarray, expected: list[int]) -> None:
    """``expected`` (output frame -> source frame) fits clearly better than the mappings one
    source frame earlier or later (the fit is summed over all frames, so a few frames where
    the camera happens to stand still do not decide)."""
    best = mapping_error(out, source, expected)
    last = len(source) - 1
    for shift in (-1, 1):
        shifted = [min(max(k + shift, 0), last) for k in expected]
        assert best < 0.8 * mapping_error(out, source, shifted)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


# --- clips ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "width", "height", "fps"),
    [("bbb", 640, 360, 25), ("bbb", 480, 360, 30), ("pan", 640, 360, 30), ("static", 640, 360, 25)],
)
def test_clip_size_rate_length_and_sound(kind: str, width: int, height: int, fps: int) -> None:
    info = probe(clip_path(kind, width=width, height=height, fps=fps, seconds=SECONDS))
    assert info["codec"] == "h264"
    assert info["size"] == (width, height)
    assert info["rate"] == fps
    assert info["pix_fmt"] == "yuv420p"
    assert info["frames"] == round(SECONDS * fps)
    assert info["times"] == pytest.approx([i / fps for i in range(info["frames"])], abs=1e-3)
    assert info["colour"] == (1, 1)  # BT.709, limited range
    assert info["audio"] == ("aac", 48000, 2)
    assert info["audio_seconds"] == pytest.approx(SECONDS, abs=0.05)


@pytest.mark.parametrize(
    ("container", "codec", "pix_fmt", "video", "sound"),
    [
        ("mov", "libx264", "yuv422p", "h264", "aac"),
        ("mkv", "libx264", "yuv444p", "h264", "aac"),
        ("mp4", "libx264", "yuv420p10le", "h264", "aac"),
        ("mkv", "libx265", "yuv420p", "hevc", "aac"),
        ("webm", "libvpx-vp9", "yuv420p", "vp9", "opus"),
    ],
)
def test_clip_containers_codecs_and_pixel_formats(
    container: str, codec: str, pix_fmt: str, video: str, sound: str
) -> None:
    path = clip_path(
        "pan", width=320, height=180, seconds=1.0, codec=codec, pix_fmt=pix_fmt, container=container
    )
    info = probe(path)
    assert path.suffix == f".{container}"
    assert (info["codec"], info["pix_fmt"], info["audio"][0]) == (video, pix_fmt, sound)
    assert info["frames"] == 25


def test_clip_without_sound() -> None:
    assert (
        probe(clip_path("static", width=320, height=180, seconds=1.0, audio=False))["audio"] is None
    )


@pytest.mark.parametrize("kind", ["bbb", "pan", "static"])
def test_clips_are_deterministic(kind: str, tmp_path: Path) -> None:
    def digest(frames: Any) -> str:
        hashed = hashlib.sha256()
        for frame in frames:
            for plane in plane_views(frame):
                hashed.update(plane.tobytes())
        return hashed.hexdigest()

    size = {"width": 320, "height": 180, "seconds": 0.6}
    assert digest(clip_frames(kind, **size)) == digest(clip_frames(kind, **size))
    first, second = (make_clip(tmp_path / f"{n}.mkv", kind, **size) for n in range(2))
    # The encoded sound is bit-exact; libx264 usually is, and otherwise differs by encoder
    # noise (seen: up to 8 code values, 0.15 on average, on a few frames; see video_clips).
    assert sound(first).tobytes() == sound(second).tobytes()
    assert first.read_bytes() == second.read_bytes() or psnr(luma(first), luma(second)) > 45


def test_clips_are_cached() -> None:
    first = clip_path("static", width=320, height=180, seconds=1.0, seed=3)
    stamp = first.stat().st_mtime_ns
    assert clip_path("static", width=320, height=180, seconds=1.0, seed=3) is first
    clip_path.cache_clear()  # a new session: found on disk, not rebuilt
    again = clip_path("static", width=320, height=180, seconds=1.0, seed=3)
    assert again == first
    assert again.stat().st_mtime_ns == stamp
    other = clip_path("static", width=320, height=180, seconds=1.0, seed=4)
    assert other != first


def test_bbb_loops_and_resamples_frame_timing() -> None:
    count, rate, _ = sample_video()
    assert (count, rate) == (132, 25)
    at25 = luma(clip_path("bbb", width=320, height=180, fps=25, seconds=6.0))
    assert len(at25) == 150
    # After the last sample frame comes the first again (a loop), in step.
    assert psnr(at25[count], at25[0]) > 40
    assert psnr(at25[count - 1], at25[0]) < 30
    # At 30 fps, frame i shows the sample frame shown at i / 30 s: floor(i * 25 / 30).
    at30 = luma(clip_path("bbb", width=320, height=180, fps=30, seconds=2.0))
    for i in (1, 7, 13, 29, 44, 59):
        assert psnr(at30[i], at25[i * 25 // 30]) > 38


def test_seed_changes_the_clip() -> None:
    zero = luma(clip_path("bbb", width=320, height=180, seconds=0.4))
    one = luma(clip_path("bbb", width=320, height=180, seconds=0.4, seed=1))
    assert psnr(zero[0], one[0]) < 30


def test_pan_moves_and_static_barely_does() -> None:
    pan = luma(clip_path("pan", width=320, height=180, seconds=2.0))
    static = luma(clip_path("static", width=320, height=180, seconds=2.0))
    assert psnr(pan[0], pan[-1]) < 25
    assert psnr(static[0], static[-1]) > 33
    assert pan.std() > 20  # real texture, not flat colour
    assert static.std() > 20


# --- frame operations -------------------------------------------------------------------------


def test_brightness_scales_excursions_and_clips_to_legal_range() -> None:
    frame = av.VideoFrame(8, 4, "yuv420p10le")
    frame.color_range = 1
    values = [np.full((4, 8), 64 + 700, "<u2"), np.full((2, 4), 512 + 100, "<u2")]
    values.append(np.full((2, 4), 512 - 100, "<u2"))
    for view, value in zip(plane_views(frame), values, strict=True):
        view[...] = value
    brighter = plane_views(brightness_frame(frame, 1.2))
    assert (brighter[0] == 64 + 840).all()
    assert (brighter[1] == 512 + 120).all()
    assert (brighter[2] == 512 - 120).all()
    clipped = plane_views(brightness_frame(frame, 1.5))
    assert (clipped[0] == 940).all()  # 10-bit white
    assert (plane_views(frame)[0] == 764).all()  # the input is untouched


def test_crop_keeps_chroma_aligned() -> None:
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[20:40, 30:60] = (255, 0, 0)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    box = centre_crop_box(96, 64, 0.71)
    assert box == (14, 8, 68, 46)  # a 9-pixel margin rounds to 8: offsets stay even
    cropped = crop_frame(frame, *box).to_ndarray(format="rgb24")
    expected = frame.to_ndarray(format="rgb24")[8:54, 14:82]
    assert np.abs(cropped.astype(int) - expected).max() <= 2
    with pytest.raises(ValueError, match="outside"):
        crop_frame(frame, 40, 0, 60, 64)


def test_segment_starts() -> None:
    assert segment_starts(6.0) == [0.0, 1.462, 2.937]
    assert list(segment_attacks(6.0)) == ["segment-0s-3s", "segment-1.462s-3s", "segment-2.937s-3s"]
    with pytest.raises(ValueError, match="does not fit"):
        segment_starts(2.5)


# --- the attacks --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> Path:
    return clip_path("pan", width=SIZE[0], height=SIZE[1], fps=FPS, seconds=SECONDS)


@pytest.fixture(scope="module")
def source_luma(source: Path) -> np.ndarray:
    return luma(source)


@pytest.fixture(scope="module")
def attacked(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("attacked")
    extra = {"segment": segment(1.0, 1.5)}
    return {
        name: attack(source, folder, preset=PRESET) for name, attack in {**ATTACKS, **extra}.items()
    }


def test_the_acceptance_attacks_in_order() -> None:
    assert list(ATTACKS) == [
        "h264-crf23",
        "h264-crf30",
        "h264-crf40",
        "h265-crf30",
        "vp9",
        "scale-1280x720",
        "scale-854x480",
        "crop-71",
        "brightness+20",
        "brightness-20",
        "trim-1.5s",
        "fps-30to25",
        "combo",
    ]


@pytest.mark.parametrize(
    ("name", "codec", "format_name", "sound"),
    [
        ("h264-crf23", "h264", "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
        ("h265-crf30", "hevc", "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
        ("vp9", "vp9", "matroska,webm", "opus"),
    ],
)
def test_codec_attacks_use_their_codec(
    attacked: dict[str, Path], name: str, codec: str, format_name: str, sound: str
) -> None:
    info = probe(attacked[name])
    assert (info["codec"], info["format"], info["audio"][0]) == (codec, format_name, sound)
    assert (info["size"], info["rate"], info["frames"]) == (SIZE, FPS, FRAMES)
    assert info["colour"] == (1, 1)
    assert info["audio_seconds"] == pytest.approx(SECONDS, abs=0.05)


def test_higher_crf_loses_more(attacked: dict[str, Path], source_luma: np.ndarray) -> None:
    quality = [psnr(luma(attacked[f"h264-crf{crf}"]), source_luma) for crf in (23, 30, 40)]
    assert quality[0] > quality[1] > quality[2] > 25


@pytest.mark.parametrize(
    ("name", "size"), [("scale-1280x720", (1280, 720)), ("scale-854x480", (854, 480))]
)
def test_scaling(
    attacked: dict[str, Path], source_luma: np.ndarray, name: str, size: tuple[int, int]
) -> None:
    info = probe(attacked[name])
    assert (info["size"], info["frames"], info["codec"]) == (size, FRAMES, "h264")
    frame = av.VideoFrame.from_ndarray(luma(attacked[name])[10].astype(np.uint8), format="gray")
    back = frame.reformat(*SIZE, interpolation="AREA").to_ndarray().astype(np.float32)
    assert psnr(back, source_luma[10]) > 30


def test_crop_keeps_the_centre(attacked: dict[str, Path], source_luma: np.ndarray) -> None:
    x, y, w, h = centre_crop_box(*SIZE, 0.71)
    assert (w, h) == (454, 256)
    assert probe(attacked["crop-71"])["size"] == (w, h)
    cropped = luma(attacked["crop-71"])
    assert len(cropped) == FRAMES
    for index in (0, 45, 89):
        centred = correlation(cropped[index], source_luma[index, y : y + h, x : x + w])
        shifted = correlation(
            cropped[index], source_luma[index, y + 6 : y + 6 + h, x + 6 : x + 6 + w]
        )
        assert centred > 0.98
        assert centred > shifted + 0.02


@pytest.mark.parametrize(("name", "gain"), [("brightness+20", 1.2), ("brightness-20", 0.8)])
def test_brightness(
    attacked: dict[str, Path], source_luma: np.ndarray, name: str, gain: float
) -> None:
    out = luma(attacked[name])
    assert out.shape == source_luma.shape
    unclipped = source_luma < 190  # 16 + 1.2 * (190 - 16) is still below white (235)
    ratio = (out[unclipped] - 16).mean() / (source_luma[unclipped] - 16).mean()
    assert ratio == pytest.approx(gain, abs=0.01)


def test_trim_drops_the_first_one_and_a_half_seconds(
    attacked: dict[str, Path], source_luma: np.ndarray
) -> None:
    info = probe(attacked["trim-1.5s"])
    skipped = round(1.5 * FPS)
    assert info["frames"] == FRAMES - skipped
    assert info["times"][0] == 0.0
    assert info["audio_seconds"] == pytest.approx(SECONDS - 1.5, abs=0.05)
    assert_best_mapping(luma(attacked["trim-1.5s"]), source_luma, list(range(skipped, FRAMES)))


def test_segment_is_cut_and_retimed(attacked: dict[str, Path], source_luma: np.ndarray) -> None:
    info = probe(attacked["segment"])
    assert info["frames"] == 45
    assert info["times"][0] == 0.0
    assert info["audio_seconds"] == pytest.approx(1.5, abs=0.05)
    assert_best_mapping(luma(attacked["segment"]), source_luma, list(range(30, 75)))


def test_frame_rate_conversion_by_timing(
    attacked: dict[str, Path], source_luma: np.ndarray
) -> None:
    info = probe(attacked["fps-30to25"])
    assert (info["rate"], info["frames"]) == (25, round(25 * SECONDS))
    assert info["times"] == pytest.approx([j / 25 for j in range(info["frames"])], abs=1e-3)
    assert info["audio_seconds"] == pytest.approx(SECONDS, abs=0.05)
    out = luma(attacked["fps-30to25"])
    # Output frame j (at j / 25 s) shows source frame floor(j * 30 / 25): one in six dropped.
    expected = [j * 30 // 25 for j in range(len(out))]
    assert_best_mapping(out, source_luma, expected)
    nearest = [round(j * 30 / 25) for j in range(len(out))]  # not the nearest frame
    truncated_error = mapping_error(out, source_luma, expected)
    assert truncated_error < 0.8 * mapping_error(out, source_luma, nearest)


def test_combo(attacked: dict[str, Path], source_luma: np.ndarray) -> None:
    info = probe(attacked["combo"])
    assert (info["size"], info["frames"], info["codec"]) == ((1280, 720), FRAMES, "h264")
    out = luma(attacked["combo"])
    frame = av.VideoFrame.from_ndarray(out[20].astype(np.uint8), format="gray")
    back = frame.reformat(*SIZE, interpolation="AREA").to_ndarray().astype(np.float32)
    unclipped = source_luma[20] < 190
    ratio = (back[unclipped] - 16).mean() / (source_luma[20][unclipped] - 16).mean()
    assert ratio == pytest.approx(0.8, abs=0.015)
    assert psnr(back, 16 + 0.8 * (source_luma[20] - 16)) > 28
