"""The video watermark survives the acceptance attacks of issue 6 and stays invisible.

Three small but real-looking clips from :mod:`tests.support.video_clips` (the *Big Buck Bunny*
excerpt
at its own 25 fps, a slow pan across a photo and a tripod shot of another, at 30 fps; 640x360,
5 s) are marked once per module through :func:`marking.media.video.transcode` (default encoder
settings: libx264 CRF 18 preset medium), one :class:`~marking.watermark.video.VideoMarker` per
clip at default strength. The callback measures, on each frame's luma before the encoder sees it:

- the luma PSNR (issue 6: at least 42 dB on every frame);
- the frame-to-frame change of the watermark: with ``delta_t`` the marked minus the original
  luma of frame t, ``RMS(delta_t - delta_{t-1}) / RMS(delta_t)``. A pattern drawn afresh on
  every frame gives about 1.41 (sqrt 2); a fixed pattern on a still shot gives 0. Here the tile
  is fixed and only its perceptual mask follows the moving picture; where the mask changes,
  the rounding to whole code values changes too (bench/compare_video.py shows the ratio before
  rounding as well: about half the delivered one on moving pictures).

Every attack of :data:`tests.support.video_attacks.ATTACKS` is then applied to each marked clip, and
the frames of the attacked file, every one of them, are averaged by a
:class:`~marking.watermark.video.VideoDetector`; it must report the exact payload with a
false-alarm probability of at most 1e-6. So must any 3 s segment (three offsets per clip).

The attacks are meant for 1080p and 720p sources, so two are adapted to these clips:

- scaling to 1280x720 and to 854x480 (2/3 and 4/9 of 1080p) scales these clips by the same
  ratios (to 426x240 and 284x160), and so does the combination attack; upscaling a 360p clip
  would test nothing;
- 30 to 25 fps drops one frame in six; the 25 fps clip instead goes to 20 fps (one in five).

The codec attacks (H.264 CRF 23/30/40, H.265 CRF 30, VP9, the combination) encode with the
preset the issue implies (FFmpeg's default, medium): a faster preset spends fewer bits at the
same CRF and is a harsher attack than the issue names (at CRF 30 on the pan clip, veryfast
loses the mark where medium keeps it). The other attacks only re-encode at CRF 18, where the
preset hardly matters, so they use veryfast to keep the module fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from marking.files.video import detect_video_file
from marking.kernels.config import single_threaded
from marking.media.video import EncoderSettings, FrameInfo, frames, transcode
from marking.watermark.image import FALSE_ALARM_LIMIT
from marking.watermark.video import VideoDetection, VideoDetector, VideoMarker, VideoRefiner
from tests.support.video_attacks import (
    ATTACKS,
    POSE_ATTACKS,
    VideoAttack,
    frame_rate,
    scale,
    segment_attacks,
)
from tests.support.video_clips import clip_path

KEY = "video-robustness-test-key"
PAYLOAD = "0123456789abcdef"
SIZE = (640, 360)
SECONDS = 5.0
SEGMENT_SECONDS = 3.0
#: name -> (kind, frame rate)
CLIPS = {"bbb-360p25": ("bbb", 25), "pan-360p30": ("pan", 30), "static-360p30": ("static", 30)}
#: Attacks whose result depends on how hard the encoder works: FFmpeg's default preset.
CODEC_ATTACKS = frozenset({"h264-crf23", "h264-crf30", "h264-crf40", "h265-crf30", "vp9", "combo"})
CODEC_PRESET = "medium"
FAST_PRESET = "veryfast"

MIN_PSNR_DB = 42.0
#: Bounds on the frame-to-frame change of the watermark (see the module docstring). Measured
#: with the core of this commit on these clips: mean 0.099 (bbb), 0.114 (pan) and 0.041
#: (static), worst frame 0.19, 0.16 and 0.05; on 6 s clips at 1080p and 720p
#: (bench/compare_video.py) the worst frame is 0.43, at the cut where the bbb excerpt loops (a
#: new picture: the mask changes everywhere, the tile does not). The bounds leave about 1.3x
#: room over the highest mean and room for a cut, and stay far below the 1.41 of a pattern drawn
#: afresh every frame. In code values the mean change is about 0.2 of a level (the watermark
#: itself is about 1.9 RMS), well under the sigma-1 grain of the synthetic clips.
MAX_FLICKER_MEAN = 0.15
MAX_FLICKER_FRAME = 0.6


@dataclass
class MarkedClip:
    """A clip marked by :func:`mark_clip`, with what the callback measured."""

    source: Path
    marked: Path
    fps: int
    psnr: list[float] = field(default_factory=list)
    flicker: list[float] = field(default_factory=list)  # one per frame after the first
    change_rms: list[float] = field(default_factory=list)  # RMS(delta_t - delta_{t-1})


def mark_clip(
    source: Path, target: Path, fps: int, key: str = KEY, payload: str = PAYLOAD
) -> MarkedClip:
    """Mark ``source`` into ``target`` with default settings, measuring every frame."""
    clip = MarkedClip(source, target, fps)
    marker = VideoMarker(payload=payload, key=key)
    previous: list[np.ndarray] = []

    def process(planes: list[np.ndarray], info: FrameInfo) -> None:
        luma = planes[0]
        original = luma.astype(np.float32)
        marker.mark_plane(luma, max_value=info.max_value)
        delta = luma - original
        mse = float(np.mean(delta * delta))
        clip.psnr.append(math.inf if mse == 0 else 10 * math.log10(info.max_value**2 / mse))
        if previous:
            change = float(np.sqrt(np.mean((delta - previous[0]) ** 2)))
            clip.change_rms.append(change)
            clip.flicker.append(change / math.sqrt(mse) if mse else 0.0)
            previous[0] = delta
        else:
            previous.append(delta)

    with single_threaded():
        transcode(source, target, process, EncoderSettings())
    return clip


def detect_file(path: Path, key: str = KEY) -> VideoDetection:
    """Average every frame of ``path`` and search the average once; when it synchronises but
    does not decode, read the frames again, weighted (as ``detect_video_file`` does)."""
    detector = VideoDetector(key=key)
    for planes, info in frames(path):
        detector.push_plane(planes[0], max_value=info.max_value)
    found = detector.result()
    refiner = VideoRefiner.after(found, key)
    if refiner is None:
        return found
    for planes, info in frames(path):
        refiner.push_plane(planes[0], max_value=info.max_value)
    return refiner.result()


def _even(value: float) -> int:
    return 2 * round(value / 2)


def clip_attacks(width: int, height: int, fps: int) -> dict[str, VideoAttack]:
    """:data:`ATTACKS` for a ``width`` x ``height`` clip at ``fps`` (see the module docstring),
    by their acceptance names."""
    out = dict(ATTACKS)
    for name in ("scale-1280x720", "scale-854x480"):
        w, h = ATTACKS[name].size
        out[name] = replace(scale(_even(width * w / 1920), _even(height * h / 1080)), name=name)
    w, h = ATTACKS["combo"].size
    out["combo"] = replace(
        ATTACKS["combo"], size=(_even(width * w / 1920), _even(height * h / 1080))
    )
    if fps == 25:
        out["fps-30to25"] = replace(frame_rate(20, source_fps=25), name="fps-30to25")
    return out


def describe(attack: VideoAttack) -> str:
    """What an attack does, in a few words."""
    parts = [f"{attack.codec} CRF {attack.crf}"]
    if attack.crop is not None:
        parts.append(f"crop {attack.crop:g}")
    if attack.size is not None:
        parts.append(f"scale to {attack.size[0]}x{attack.size[1]}")
    if attack.gain is not None:
        parts.append(f"gain {attack.gain:g}")
    if attack.start or attack.duration is not None:
        parts.append(
            f"from {attack.start:g} s" + (f" for {attack.duration:g} s" if attack.duration else "")
        )
    if attack.fps is not None:
        parts.append(f"to {attack.fps} fps")
    return ", ".join(parts)


class MarkedClips:
    """Each clip marked on first use, and its attacked copies, kept for the module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._clips: dict[str, MarkedClip] = {}
        self._detections: dict[tuple[str, str], tuple[VideoAttack, VideoDetection]] = {}

    def __getitem__(self, name: str) -> MarkedClip:
        if name not in self._clips:
            kind, fps = CLIPS[name]
            source = clip_path(kind, width=SIZE[0], height=SIZE[1], fps=fps, seconds=SECONDS)
            self._clips[name] = mark_clip(source, self.folder / f"{name}.mp4", fps)
        return self._clips[name]

    def attacked(self, name: str, attack: VideoAttack) -> VideoDetection:
        clip = self[name]
        codec_attack = attack.name in CODEC_ATTACKS or attack.pose is not None
        preset = CODEC_PRESET if codec_attack else FAST_PRESET
        path = attack(clip.marked, self.folder, preset=preset, audio=False)
        try:
            return detect_file(path)
        finally:
            path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> MarkedClips:
    return MarkedClips(tmp_path_factory.mktemp("video-robustness"))


def _check(found: VideoDetection, what: str) -> None:
    assert found.detected, (
        f"{what}: not detected (score {found.score:.2f}, false alarm {found.false_alarm:.2e}, "
        f"{found.frames} frames)"
    )
    assert found.payload == PAYLOAD, f"{what}: payload {found.payload}"
    assert 0.0 <= found.false_alarm <= FALSE_ALARM_LIMIT


#: Cases these 360p clips lose (bench/results/video-robustness.md has the issue's 720p and
#: 1080p clips): CRF 40 leaves too little of a 640x360 frame (at 1080p every clip keeps it; the
#: 720p pan needs the second look, see test_pan_720p_survives_crf40, which does not rescue
#: these: bbb's sync stays near chance, pan's locks on a wrong period, and static's frames are
#: all alike, so weighting them gains nothing), and the combination scales 360p down to 240p
#: before CRF 30 (every 720p and 1080p clip keeps it). Strict: a fix turns them into failures
#: to be removed from here.
KNOWN_LIMITS = frozenset(
    {
        ("bbb-360p25", "h264-crf40"),
        ("pan-360p30", "h264-crf40"),
        ("static-360p30", "h264-crf40"),
        ("bbb-360p25", "combo"),
        ("pan-360p30", "combo"),
    }
)


#: bench/compare_video.py's key, and the payload it draws for its 720p25 pan (seed 2026).
BENCH_KEY = "aigc-marking-bench"
BENCH_PAN_720P_PAYLOAD = "1a36b9a4c7dcdb5a"


@pytest.mark.slow
def test_pan_720p_survives_crf40(tmp_path: Path) -> None:
    """The bench's 720p pan at H.264 CRF 40, detected as shipped (reference frames only).

    The intra-coded first frame keeps the mark, the predicted frames keep about a tenth of it:
    the plain average synchronised (score 7.8) with 67 of 282 coded bits wrong and did not
    decode; the second look weighs the frames by what they hold and gets the payload.
    """
    source = clip_path("pan", width=1280, height=720, fps=25, seconds=6.0)
    clip = mark_clip(source, tmp_path / "pan-720p25.mp4", 25, BENCH_KEY, BENCH_PAN_720P_PAYLOAD)
    assert min(clip.psnr) >= MIN_PSNR_DB
    attacked = ATTACKS["h264-crf40"](clip.marked, tmp_path, preset=CODEC_PRESET, audio=False)
    found = detect_video_file(attacked, key=BENCH_KEY, audio=False)
    assert found["detected"], f"score {found['score']:.2f}"
    assert found["payload"] == BENCH_PAN_720P_PAYLOAD
    assert 0.0 <= found["false_alarm"] <= FALSE_ALARM_LIMIT


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("name", list(CLIPS))
def test_payload_survives(
    marked: MarkedClips, name: str, attack: str, request: pytest.FixtureRequest
) -> None:
    if (name, attack) in KNOWN_LIMITS:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="known limit at 360p (see KNOWN_LIMITS)")
        )
    fps = CLIPS[name][1]
    applied = clip_attacks(*SIZE, fps)[attack]
    found = marked.attacked(name, applied)
    _check(found, f"{name} / {attack} ({describe(applied)})")


#: A pose case at the margin: the sync is found every time (false alarm about 1e-21 to 1e-31)
#: but the payload decodes in about two encodes of three. x264 does not encode these posed
#: frames the same way twice, even on one thread (measured 2026-12-08: three encodes of the
#: same frames, two different streams), so the case passes or fails from run to run.
MARGINAL_POSES = frozenset({("pan-360p30", "squeeze-to-4:3+h264-crf28")})


@pytest.mark.parametrize("attack", list(POSE_ATTACKS))
@pytest.mark.parametrize("name", ["bbb-360p25", "pan-360p30"])
def test_payload_survives_a_change_of_pose(
    marked: MarkedClips, name: str, attack: str, request: pytest.FixtureRequest
) -> None:
    """Issue 19: turned 3 degrees, mirrored, squeezed from 16:9 to 4:3 or letterboxed to 4:3,
    then H.264 CRF 28 (bench/video_geometry.py has them at 720p and 1080p). A 360p clip's
    tile is 128 px, not a quarter of its short side: the lattice search looks there too."""
    if (name, attack) in MARGINAL_POSES:
        request.applymarker(
            pytest.mark.xfail(strict=False, reason="at the margin (see MARGINAL_POSES)")
        )
    applied = POSE_ATTACKS[attack]
    _check(marked.attacked(name, applied), f"{name} / {attack}")


SEGMENTS = segment_attacks(SECONDS, SEGMENT_SECONDS, count=3)


@pytest.mark.parametrize("segment", list(SEGMENTS))
@pytest.mark.parametrize("name", list(CLIPS))
def test_any_three_second_segment(marked: MarkedClips, name: str, segment: str) -> None:
    found = marked.attacked(name, SEGMENTS[segment])
    _check(found, f"{name} / {segment}")
    fps = CLIPS[name][1]
    assert abs(found.frames - SEGMENT_SECONDS * fps) <= 1


@pytest.mark.parametrize("name", list(CLIPS))
def test_the_marked_file_itself(marked: MarkedClips, name: str) -> None:
    _check(detect_file(marked[name].marked), name)


@pytest.mark.parametrize("name", list(CLIPS))
def test_luma_psnr_of_every_frame(marked: MarkedClips, name: str) -> None:
    clip = marked[name]
    assert len(clip.psnr) == round(SECONDS * clip.fps)
    worst = min(clip.psnr)
    assert worst >= MIN_PSNR_DB, f"{name}: lowest frame PSNR {worst:.2f} dB"


@pytest.mark.parametrize("name", list(CLIPS))
def test_the_pattern_barely_changes_from_frame_to_frame(marked: MarkedClips, name: str) -> None:
    clip = marked[name]
    mean = float(np.mean(clip.flicker))
    worst = max(clip.flicker)
    assert mean <= MAX_FLICKER_MEAN, f"{name}: mean frame-to-frame change {mean:.3f}"
    assert worst <= MAX_FLICKER_FRAME, f"{name}: largest frame-to-frame change {worst:.3f}"


@pytest.mark.parametrize("name", list(CLIPS))
def test_the_unmarked_clip_is_not_detected(marked: MarkedClips, name: str) -> None:
    found = detect_file(marked[name].source)
    assert not found.detected, f"{name}: unmarked clip detected (score {found.score:.2f})"


def test_frames_with_padded_rows_are_marked(tmp_path: Path) -> None:
    """854x480 (the issue's own 480p size): decoded Y planes then have rows longer than the
    picture (FFmpeg pads each line), so the plane handed over is a non-contiguous view."""
    source = clip_path("bbb", width=854, height=480, fps=25, seconds=2.0)
    clip = mark_clip(source, tmp_path / "bbb-854x480.mp4", 25)
    assert min(clip.psnr) >= MIN_PSNR_DB
    attacked = ATTACKS["h264-crf23"](clip.marked, tmp_path, preset=CODEC_PRESET, audio=False)
    _check(detect_file(attacked), "bbb 854x480 / h264-crf23")
