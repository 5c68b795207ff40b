"""Measure the video watermark on 1080p30 and 720p25 clips, next to per-frame dwtDctSvd.

One run gives:

- **imperceptibility**: six 6 s clips from ``tests.support.video_clips`` (the *Big Buck Bunny*
  excerpt,
  a slow pan over a photo and a tripod shot, at 1920x1080 30 fps and 1280x720 25 fps) are
  marked through :func:`marking.media.video.transcode` with the default encoder settings (libx264
  CRF 18, preset medium), one :class:`~marking.watermark.video.VideoMarker` per clip at default
  strength. On each frame's luma, before the encoder: the PSNR, and the frame-to-frame change
  of the watermark, ``RMS(delta_t - delta_{t-1}) / RMS(delta_t)`` with ``delta_t`` = marked
  minus original luma of frame t (0 for a pattern that never changes, about 1.41 for one drawn
  afresh every frame). It is given twice: for the delivered 8-bit change, and for the pattern
  before rounding to whole code values (a second marker working on the same frame at 16 bits),
  which separates the pattern's own motion from rounding noise.
- **robustness**: every attack of ``tests.support.video_attacks.ATTACKS`` on each marked clip, then
  detection; the exact payload must come back. Also three 3 s segments per clip.
- **the peer**: invisible-watermark's dwtDctSvd applied to every frame (decoded YUV to BGR,
  the peer's own encoder, back to YUV, then the same encoder settings), the per-frame image
  watermark of the reference notes. It has no detection statistic, so it is judged by its
  decoded bits on sampled frames of each attacked file (per-frame bit accuracy, frames with all
  64 bits right, and a majority vote over the sampled frames).
- **false alarms**: detection with the bench key and random keys on the six unmarked clips,
  and with a wrong key on every marked clip.
- **speed** (1080p30 H.264 clip, 6 s): a plain PyAV decode and re-encode through
  ``transcode`` with the same settings, against marking (frame API in ``transcode``, and
  ``marking.files.video.embed_video_file`` when present); detection in multiples of
  real time.

Presets of the attacks: the codec attacks (H.264 CRF 23/30/40, H.265 CRF 30, VP9, the
combination) use FFmpeg's default, medium, since a faster preset spends fewer bits at the same
CRF and would be a harsher attack than the issue names; the others, which only re-encode at
CRF 18, use veryfast to keep the run short. The embedding itself always uses the defaults.

Results: ``video-robustness.md``/``.png`` and ``video-speed.md``/``.png`` in ``--outdir``
(default ``bench/results/``).

Run: ``.venv/bin/python bench/compare_video.py [--outdir DIR] [--repeats N] [--skip-speed |
--skip-robustness] [--skip-peer] [--tmpdir DIR]``.
"""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import harness
import numpy as np
from compare_image import captured_decodes, payload_bits, rgb_psnr
from harness import KEY
from results_writer import (
    BITS_CHANCE,
    BITS_FROM_DECODER,
    BITS_FROM_PAYLOAD,
    BITS_PEER,
    Machine,
    grid,
    machine_lines,
    ordered,
    yes,
)

from marking.kernels.config import single_threaded
from marking.media.video import EncoderSettings, FrameInfo, frames, transcode
from marking.watermark.video import VideoDetector, VideoMarker

WRONG_KEY = "not-the-bench-key"
PAYLOAD_SEED = 2026
SECONDS = 6.0
SEGMENT_SECONDS = 3.0
PEER = "dwtDctSvd"
#: Frames of each attacked file the peer decodes (spread evenly; its decoder is slow).
PEER_FRAMES = 8
#: Random keys tried on every unmarked clip, besides the bench key.
RANDOM_KEYS = 4
CODEC_ATTACKS = frozenset({"h264-crf23", "h264-crf30", "h264-crf40", "h265-crf30", "vp9", "combo"})
CODEC_PRESET = "medium"
FAST_PRESET = "veryfast"
#: Issue 6 targets.
MIN_PSNR_DB = 42.0
SPEED_TARGET = 1.25
DETECT_TARGET = 3.0


@dataclass(frozen=True)
class ClipSpec:
    label: str
    kind: str
    width: int
    height: int
    fps: int
    seconds: float = SECONDS

    def path(self, seconds: float | None = None) -> Path:
        from tests.support.video_clips import clip_path

        return clip_path(
            self.kind,
            width=self.width,
            height=self.height,
            fps=self.fps,
            seconds=self.seconds if seconds is None else seconds,
        )


#: How our marked files are encoded (``--profile``, ``--match-size``): a name of
#: :data:`marking.media.encoding.PROFILES`, and whether the marked file is size-matched.
ENCODING = {"profile": "default", "match_size": False}


def encoder_settings() -> Any:
    from marking.media.encoding import PROFILES

    return PROFILES[ENCODING["profile"]]


def encoding_suffix() -> str:
    """The results' file-name suffix of this run's encoding ("" for the default)."""
    parts = [] if ENCODING["profile"] == "default" else [str(ENCODING["profile"])]
    if ENCODING["match_size"]:
        parts.append("match-size")
    return "".join(f"-{part}" for part in parts)


CLIPS = [
    ClipSpec(f"{kind} {name}", kind, width, height, fps)
    for width, height, fps, name in ((1920, 1080, 30, "1080p30"), (1280, 720, 25, "720p25"))
    for kind in ("bbb", "pan", "static")
]
#: The peer runs on this clip only (its encoder takes about 0.6 s per 1080p frame), over its
#: first ``--peer-seconds`` (the same frames as the first seconds of the 6 s clip).
PEER_CLIP = CLIPS[0]
SPEED_CLIP = CLIPS[0]


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityRecord:
    """One marked clip: distortion before the encoder, and the pattern's steadiness."""

    system: str
    clip: str
    frames: int
    seconds: float
    psnr_min: float  # luma, 8-bit peak
    psnr_mean: float
    rgb_psnr_min: float | None  # the peer's, in the BGR frames it marks
    rgb_psnr_mean: float | None
    flicker_mean: float  # RMS(delta_t - delta_{t-1}) / RMS(delta_t), delivered 8-bit values
    flicker_p95: float
    flicker_max: float
    change_rms: float  # mean RMS(delta_t - delta_{t-1}), code values
    pattern_flicker_mean: float | None  # the same ratio before rounding (ours)
    pattern_flicker_max: float | None
    plane: str  # where the ratio is measured: "Y" (ours) or "U" (the peer marks U)
    embed_seconds: float


@dataclass(frozen=True)
class AttackRecord:
    """Detection (ours) or decoding (peer) on one attacked marked clip."""

    system: str
    clip: str
    attack: str
    applied: str
    exact: bool  # ours: detected with the embedded payload; peer: majority vote exact
    bit_accuracy: float  # ours: reported payload / best decode attempt; peer: mean per frame
    bits_source: str
    detected: bool | None = None  # ours only
    score: float = math.nan
    false_alarm: float = math.nan
    frames_used: int = 0
    frames_exact: int = 0  # peer: sampled frames with all 64 bits right
    attack_seconds: float = 0.0
    detect_seconds: float = 0.0


@dataclass(frozen=True)
class FalseAlarmRecord:
    clip: str
    marked: bool  # True: a marked clip read with a wrong key
    key: str
    detected: bool
    score: float
    false_alarm: float


@dataclass(frozen=True)
class TimingRecord:
    operation: str
    video_seconds: float
    wall: tuple[float, ...]
    cpu: tuple[float, ...]
    baseline: tuple[float, ...] = ()  # the plain transcode's wall time in the same rounds
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def realtime(self) -> float:
        return self.video_seconds / self.median

    @property
    def paired_ratio(self) -> float | None:
        if not self.baseline:
            return None
        return statistics.median(w / b for w, b in zip(self.wall, self.baseline, strict=True))


@dataclass
class VideoResults:
    machine: Machine | None = None
    quality: list[QualityRecord] = field(default_factory=list)
    attacks: list[AttackRecord] = field(default_factory=list)
    false_alarms: list[FalseAlarmRecord] = field(default_factory=list)
    timings: list[TimingRecord] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


# --- helpers ---------------------------------------------------------------------------------


def file_api() -> ModuleType | None:
    """``marking.files.video`` when it exists (it is written separately)."""
    return harness.optional_module("marking.files.video")


def _even(value: float) -> int:
    return 2 * round(value / 2)


def clip_attacks(spec: ClipSpec) -> dict[str, Any]:
    """:data:`ATTACKS` as applied to ``spec``: literal, except 30 to 25 fps, which becomes 25 to
    20 fps (one frame in five dropped) on 25 fps clips."""
    from tests.support.video_attacks import ATTACKS, frame_rate

    attacks = dict(ATTACKS)
    if spec.fps != 30:
        attacks["fps-30to25"] = replace(
            frame_rate(_even(spec.fps * 5 / 6) if spec.fps != 25 else 20, source_fps=spec.fps),
            name="fps-30to25",
        )
    return attacks


def describe(attack: Any, spec: ClipSpec) -> str:
    """What an attack does to ``spec``, in a few words."""
    parts = [f"{attack.codec.removeprefix('lib')} CRF {attack.crf}"]
    if attack.crop is not None:
        parts.append(f"crop {attack.crop:g}")
    if attack.size is not None:
        same = tuple(attack.size) == (spec.width, spec.height)
        parts.append(
            f"scale to {attack.size[0]}x{attack.size[1]}" + (" (= source)" if same else "")
        )
    if attack.gain is not None:
        parts.append(f"gain {attack.gain:g}")
    if attack.start or attack.duration is not None:
        window = f"from {attack.start:g} s" + (
            f" for {attack.duration:g} s" if attack.duration else ""
        )
        parts.append(window)
    if attack.fps is not None:
        parts.append(f"{spec.fps} to {attack.fps} fps")
    return ", ".join(parts)


def _preset(name: str) -> str:
    return CODEC_PRESET if name in CODEC_ATTACKS else FAST_PRESET


class _Steadiness:
    """Frame-to-frame change of a mark: ``RMS(delta_t - delta_{t-1}) / RMS(delta_t)``."""

    def __init__(self) -> None:
        self.ratios: list[float] = []
        self.changes: list[float] = []
        self._previous: np.ndarray | None = None

    def add(self, delta: np.ndarray, repeated: bool = False) -> None:
        """Add frame t's change; ``repeated``: its picture is frame t-1's (left out)."""
        if self._previous is not None and not repeated:
            change = float(np.sqrt(np.mean((delta - self._previous) ** 2)))
            size = float(np.sqrt(np.mean(delta * delta)))
            self.changes.append(change)
            self.ratios.append(change / size if size else 0.0)
        self._previous = delta

    def summary(self) -> tuple[float, float, float, float]:
        """(mean, 95th percentile, max) of the ratios and the mean change in code values."""
        if not self.ratios:
            return math.nan, math.nan, math.nan, math.nan
        r = np.array(self.ratios)
        return (
            float(r.mean()),
            float(np.percentile(r, 95)),
            float(r.max()),
            float(np.mean(self.changes)),
        )


def _psnr(mse: float, peak: float = 255.0) -> float:
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


# --- ours --------------------------------------------------------------------------------------


def mark_ours(spec: ClipSpec, source: Path, target: Path, payload: bytes) -> QualityRecord:
    """Mark ``source`` into ``target`` (default settings), measuring every frame."""
    marker = VideoMarker(payload=payload, key=KEY)
    fine = VideoMarker(payload=payload, key=KEY)  # the same frames at 16 bits: no rounding
    psnr: list[float] = []
    delivered, pattern = _Steadiness(), _Steadiness()
    previous: list[np.ndarray] = []

    def process(planes: list[np.ndarray], info: FrameInfo) -> None:
        luma = planes[0]
        repeated = bool(previous) and np.array_equal(previous[0], luma)
        previous[:] = [luma.copy()]
        scale = 65535 // info.max_value  # 257 at 8 bits: exactly the same values in 8-bit units
        wide = luma.astype(np.uint16) * np.uint16(scale)
        fine.mark_plane(wide, max_value=info.max_value * scale)
        original = luma.astype(np.float32)
        marker.mark_plane(luma, max_value=info.max_value)
        to_8bit = 255.0 / info.max_value
        delta = (luma - original) * np.float32(to_8bit)
        psnr.append(_psnr(float(np.mean(delta * delta))))
        delivered.add(delta, repeated)
        pattern.add((wide / np.float32(scale) - original) * np.float32(to_8bit), repeated)

    started = time.perf_counter()
    with single_threaded():
        report = transcode(source, target, process, encoder_settings())
    elapsed = time.perf_counter() - started
    if ENCODING["match_size"]:
        # The same frames marked (the measures above hold), encoded to the plain size.
        started = time.perf_counter()
        file_api().embed_video_file(
            source,
            target,
            key=KEY,
            payload=payload,
            settings=encoder_settings(),
            copy_audio=True,
            match_size=True,
        )
        elapsed = time.perf_counter() - started
    mean, p95, worst, change = delivered.summary()
    fine_mean, _, fine_worst, _ = pattern.summary()
    return QualityRecord(
        "ours",
        spec.label,
        report.frames,
        report.duration_s,
        min(psnr),
        float(np.mean(psnr)),
        None,
        None,
        mean,
        p95,
        worst,
        change,
        fine_mean,
        fine_worst,
        "Y",
        elapsed,
    )


def detect_ours(path: Path, key: str = KEY) -> tuple[dict[str, Any], list[Any]]:
    """Detection as shipped: ``detect_video_file`` (sound left out) when present, else every
    second frame through :class:`VideoDetector`; also the payload decodes it attempted."""
    api = file_api()
    with captured_decodes() as attempts:
        if api is not None:
            record = api.detect_video_file(path, key=key, audio=False)
            found = {
                "detected": record["detected"],
                "payload": record["payload"],
                "score": record["score"],
                "false_alarm": record["false_alarm"],
                "frames": record["frames_used"],
            }
        else:
            detector = VideoDetector(key=key)
            for planes, info in frames(path):
                if info.index % 2 == 0:
                    detector.push_plane(planes[0], max_value=info.max_value)
            result = detector.result()
            found = {
                "detected": result.detected,
                "payload": result.payload,
                "score": result.score,
                "false_alarm": result.false_alarm,
                "frames": result.frames,
            }
    return found, list(attempts)


def detection_method() -> str:
    if file_api() is not None:
        from marking.files.video import DEFAULT_EVERY

        sampling = "every frame" if DEFAULT_EVERY == 1 else f"one frame in {DEFAULT_EVERY}"
        return (
            "`marking.files.video.detect_video_file(path, key=..., audio=False)` with its "
            f"default sampling ({sampling} of those decoded; the decoder may skip frames that no "
            "other frame refers to, see *frames used* in the details), the picture only"
        )
    return "every 2nd frame averaged in a `VideoDetector` (`detect_video_file` was not present)"


def ours_attack_record(
    spec: ClipSpec, name: str, applied: str, path: Path, want: np.ndarray, attack_seconds: float
) -> AttackRecord:
    started = time.perf_counter()
    found, attempts = detect_ours(path)
    elapsed = time.perf_counter() - started
    if found["detected"] and found["payload"]:
        bits, source = payload_bits(bytes.fromhex(found["payload"])), BITS_FROM_PAYLOAD
    elif attempts:
        best = max(attempts, key=lambda decoded: decoded.coded_agreement)
        bits, source = np.asarray(best.bits, dtype=np.uint8), BITS_FROM_DECODER
    else:
        bits, source = None, BITS_CHANCE
    accuracy = 0.5 if bits is None else float(np.mean(bits == want))
    return AttackRecord(
        "ours",
        spec.label,
        name,
        applied,
        bool(found["detected"]) and accuracy == 1.0,
        accuracy,
        source,
        detected=bool(found["detected"]),
        score=float(found["score"]),
        false_alarm=float(found["false_alarm"]),
        frames_used=int(found["frames"]),
        attack_seconds=attack_seconds,
        detect_seconds=elapsed,
    )


# --- the peer ---------------------------------------------------------------------------------


def _i420(planes: Sequence[np.ndarray]) -> np.ndarray:
    """Y, U, V planes of a yuv420p frame as one contiguous I420 buffer (OpenCV's layout)."""
    y, u, v = planes[:3]
    height, width = y.shape
    flat = np.concatenate([np.ascontiguousarray(p).ravel() for p in (y, u, v)])
    return flat.reshape(height * 3 // 2, width)


def mark_peer(spec: ClipSpec, source: Path, target: Path, payload: bytes) -> QualityRecord:
    """dwtDctSvd on every frame: YUV to BGR, the peer's encoder, back to YUV, re-encoded."""
    import cv2
    import peers

    luma_psnr: list[float] = []
    colour_psnr: list[float] = []
    steadiness = _Steadiness()

    def process(planes: list[np.ndarray], info: FrameInfo) -> None:
        if info.pix_fmt != "yuv420p":
            raise ValueError(f"the peer harness handles yuv420p, not {info.pix_fmt}")
        y, u, v = planes[:3]
        height, width = y.shape
        bgr = cv2.cvtColor(_i420(planes), cv2.COLOR_YUV2BGR_I420)
        marked = peers.encode(PEER, bgr, payload)
        back = cv2.cvtColor(marked, cv2.COLOR_BGR2YUV_I420).ravel()
        quarter = (height // 2) * (width // 2)
        new_y = back[: height * width].reshape(height, width)
        new_u = back[height * width : height * width + quarter].reshape(height // 2, width // 2)
        new_v = back[height * width + quarter :].reshape(height // 2, width // 2)
        luma_psnr.append(_psnr(float(np.mean((new_y.astype(np.float32) - y) ** 2))))
        colour_psnr.append(rgb_psnr(bgr, marked))
        steadiness.add(new_u.astype(np.float32) - u)
        y[...], u[...], v[...] = new_y, new_u, new_v

    started = time.perf_counter()
    report = transcode(source, target, process, EncoderSettings())
    elapsed = time.perf_counter() - started
    mean, p95, worst, change = steadiness.summary()
    return QualityRecord(
        PEER,
        spec.label,
        report.frames,
        report.duration_s,
        min(luma_psnr),
        float(np.mean(luma_psnr)),
        min(colour_psnr),
        float(np.mean(colour_psnr)),
        mean,
        p95,
        worst,
        change,
        None,
        None,
        "U",
        elapsed,
    )


def decode_peer(path: Path, want: np.ndarray, count: int = PEER_FRAMES) -> dict[str, Any]:
    """Decode ``count`` frames spread over ``path`` with the peer."""
    import cv2
    import peers

    from marking.media.video import probe_video

    total = probe_video(path).frame_count or 0
    step = max(1, total // count) if total else 1
    accuracies, exact, votes = [], 0, []
    for planes, info in frames(path):
        if info.index % step != step // 2 or len(accuracies) >= count:
            continue
        bgr = cv2.cvtColor(_i420(planes), cv2.COLOR_YUV2BGR_I420)
        try:
            bits = peers.decode(PEER, bgr, len(want)).astype(np.uint8)
        except RuntimeError:  # the peer refuses frames under 256x256 px
            bits = None
        if bits is None:
            accuracies.append(0.5)
            continue
        accuracies.append(float(np.mean(bits == want)))
        exact += bool(np.array_equal(bits, want))
        votes.append(bits)
    vote = np.mean(votes, axis=0) > 0.5 if votes else None
    return {
        "bit_accuracy": float(np.mean(accuracies)) if accuracies else 0.5,
        "frames": len(accuracies),
        "frames_exact": exact,
        "vote_exact": vote is not None and bool(np.array_equal(vote.astype(np.uint8), want)),
    }


# --- measuring ------------------------------------------------------------------------------------


def _attack_file(attack: Any, source: Path, folder: Path) -> tuple[Path, float]:
    started = time.perf_counter()
    path = attack(source, folder, preset=_preset(attack.name), audio=False)
    return path, time.perf_counter() - started


def measure_clip(
    spec: ClipSpec, payload: bytes, folder: Path, results: VideoResults, peer_seconds: float
) -> None:
    from tests.support.video_attacks import segment_attacks

    want = payload_bits(payload)
    source = spec.path()
    marked = folder / f"{spec.label.replace(' ', '-')}.mp4"
    quality = mark_ours(spec, source, marked, payload)
    results.quality.append(quality)
    print(
        f"  {spec.label}: PSNR {quality.psnr_min:.2f}/{quality.psnr_mean:.2f} dB, flicker "
        f"{quality.flicker_mean:.3f} (max {quality.flicker_max:.3f}), embed "
        f"{quality.embed_seconds:.1f} s",
        file=sys.stderr,
    )
    results.attacks.append(ours_attack_record(spec, "none", "the marked file", marked, want, 0.0))
    wrong, _ = detect_ours(marked, WRONG_KEY)
    results.false_alarms.append(
        FalseAlarmRecord(
            spec.label, True, WRONG_KEY, wrong["detected"], wrong["score"], wrong["false_alarm"]
        )
    )
    attacks = {**clip_attacks(spec), **segment_attacks(spec.seconds, SEGMENT_SECONDS, count=3)}
    for name, attack in attacks.items():
        path, attack_seconds = _attack_file(attack, marked, folder)
        record = ours_attack_record(spec, name, describe(attack, spec), path, want, attack_seconds)
        path.unlink(missing_ok=True)
        results.attacks.append(record)
        mark = "ok " if record.exact else "NO "
        print(
            f"    {mark}{name:<22} score {record.score:6.2f}  attack {attack_seconds:5.1f} s  "
            f"detect {record.detect_seconds:5.1f} s",
            file=sys.stderr,
        )
    if spec == PEER_CLIP and peer_seconds > 0:
        measure_peer(spec, payload, folder, results, peer_seconds)
    marked.unlink(missing_ok=True)


def measure_peer(
    spec: ClipSpec, payload: bytes, folder: Path, results: VideoResults, seconds: float
) -> None:
    want = payload_bits(payload)
    peer_spec = replace(spec, seconds=seconds)
    source = peer_spec.path()
    marked = folder / f"{spec.label.replace(' ', '-')}-{PEER}.mp4"
    quality = mark_peer(peer_spec, source, marked, payload)
    results.quality.append(quality)
    print(
        f"  {PEER} on {spec.label} ({seconds:g} s): luma PSNR {quality.psnr_min:.2f}, RGB "
        f"{quality.rgb_psnr_min:.2f} dB, embed {quality.embed_seconds:.1f} s",
        file=sys.stderr,
    )
    for name, attack in {"none": None, **clip_attacks(peer_spec)}.items():
        if attack is None:
            path, attack_seconds, applied = marked, 0.0, "the marked file"
        else:
            path, attack_seconds = _attack_file(attack, marked, folder)
            applied = describe(attack, peer_spec)
        started = time.perf_counter()
        decoded = decode_peer(path, want)
        elapsed = time.perf_counter() - started
        if path != marked:
            path.unlink(missing_ok=True)
        results.attacks.append(
            AttackRecord(
                PEER,
                spec.label,
                name,
                applied,
                decoded["vote_exact"],
                decoded["bit_accuracy"],
                BITS_PEER,
                frames_used=decoded["frames"],
                frames_exact=decoded["frames_exact"],
                attack_seconds=attack_seconds,
                detect_seconds=elapsed,
            )
        )
        print(
            f"    {PEER} {name:<16} bits {100 * decoded['bit_accuracy']:5.1f} %  exact frames "
            f"{decoded['frames_exact']}/{decoded['frames']}",
            file=sys.stderr,
        )
    marked.unlink(missing_ok=True)


def measure_false_alarms(results: VideoResults, clips: Sequence[ClipSpec]) -> None:
    """Every unmarked clip, decoded once, read with the bench key and random keys."""
    rng = np.random.default_rng(PAYLOAD_SEED + 1)
    for spec in clips:
        keys = [KEY, *(rng.bytes(16).hex() for _ in range(RANDOM_KEYS))]
        detectors = [VideoDetector(key=key) for key in keys]
        for planes, info in frames(spec.path()):
            for detector in detectors:
                detector.push_plane(planes[0], max_value=info.max_value)
        for key, detector in zip(keys, detectors, strict=True):
            found = detector.result()
            results.false_alarms.append(
                FalseAlarmRecord(
                    spec.label, False, key, found.detected, found.score, found.false_alarm
                )
            )
            if found.detected:
                print(f"    FALSE ALARM: {spec.label} key {key}", file=sys.stderr)


def measure_robustness(
    folder: Path, peer_seconds: float, clips: Sequence[ClipSpec] = tuple(CLIPS)
) -> VideoResults:
    results = VideoResults()
    rng = np.random.default_rng(PAYLOAD_SEED)
    started = time.perf_counter()
    for spec in clips:
        spec.path()
        if spec == PEER_CLIP and peer_seconds > 0:
            spec.path(peer_seconds)
    results.facts["clip generation"] = f"{time.perf_counter() - started:.0f} s (0 when cached)"
    for spec in clips:
        payload = rng.bytes(8)
        print(f"{spec.label}: payload {payload.hex()}", file=sys.stderr)
        started = time.perf_counter()
        measure_clip(spec, payload, folder, results, peer_seconds)
        results.facts[f"time {spec.label}"] = f"{time.perf_counter() - started:.0f} s"
    print("false alarms on the unmarked clips", file=sys.stderr)
    measure_false_alarms(results, clips)
    return results


# --- speed -----------------------------------------------------------------------------------


def measure_speed(folder: Path, repeats: int) -> tuple[list[TimingRecord], dict[str, str]]:
    """Embed against a plain transcode (same settings, rounds interleaved), then detection."""
    spec = SPEED_CLIP
    source = spec.path()
    payload = bytes.fromhex("0123456789abcdef")
    api = file_api()
    settings = EncoderSettings()

    def plain() -> None:
        transcode(source, folder / "plain.mp4", lambda planes, info: None, settings)

    def frame_api() -> None:
        marker = VideoMarker(payload=payload, key=KEY)

        def mark(planes: list[np.ndarray], info: FrameInfo) -> None:
            marker.mark_plane(planes[0], max_value=info.max_value)

        with single_threaded():
            transcode(source, folder / "marked.mp4", mark, settings)

    embeds: dict[str, Callable[[], object]] = {
        "plain transcode (decode, re-encode; sound copied)": plain
    }
    if api is None:
        embeds["mark: VideoMarker in transcode (sound copied)"] = frame_api
    else:
        embeds["mark: embed_video_file, copy_audio=True"] = lambda: api.embed_video_file(
            source, folder / "api-copy.mp4", key=KEY, payload=payload, copy_audio=True
        )
        embeds["mark: embed_video_file (default: sound watermarked too)"] = lambda: (
            api.embed_video_file(source, folder / "api.mp4", key=KEY, payload=payload)
        )
    harness.warm_kernels()
    rounds = harness.paired_rounds(embeds, repeats)
    baseline = next(iter(embeds))
    seconds = SECONDS
    records = [
        TimingRecord(
            name,
            seconds,
            runs.wall,
            runs.cpu,
            () if name == baseline else rounds[baseline].wall,
        )
        for name, runs in rounds.items()
    ]

    marked = folder / ("marked.mp4" if api is None else "api.mp4")
    detections: dict[str, Callable[[], object]] = {
        "decode only (frames(), nothing else)": lambda: sum(1 for _ in frames(marked)),
        "VideoDetector, every frame": lambda: _detect_every(marked, 1),
    }
    if api is not None:
        detections["detect_video_file(audio=False), default sampling"] = lambda: (
            api.detect_video_file(marked, key=KEY, audio=False)
        )
        detections["detect_video_file, default (sound checked too)"] = lambda: (
            api.detect_video_file(marked, key=KEY)
        )
        detections["detect_video_file(audio=False) on the unmarked clip"] = lambda: (
            api.detect_video_file(source, key=KEY, audio=False)
        )
    else:
        detections["VideoDetector, every 2nd frame"] = lambda: _detect_every(marked, 2)
    for name, fn in detections.items():
        runs = harness.timed_runs(fn, repeats)
        records.append(TimingRecord(name, seconds, runs.wall, runs.cpu))
        print(f"  {name}: {records[-1].realtime:.1f}x real time", file=sys.stderr)
    facts = {
        "Clip": f"{spec.label}, {seconds:g} s, from `tests.support.video_clips` "
        "(libx264 CRF 12, AAC sound)",
        "Encoder settings": "libx264 CRF 18 preset medium (the defaults), for every embed row",
    }
    return records, facts


def _detect_every(path: Path, every: int) -> Any:
    detector = VideoDetector(key=KEY)
    for planes, info in frames(path):
        if info.index % every == 0:
            detector.push_plane(planes[0], max_value=info.max_value)
    return detector.result()


# --- machine -----------------------------------------------------------------------------------


def machine_record() -> Machine:
    return harness.describe_machine(
        ("aigc-marking", "numpy", "numba", "av", "invisible-watermark"),
        extra={"FFmpeg (libavcodec)": harness.ffmpeg_version()},
        notes=(
            f"Key `{KEY}`; one random 64-bit payload per clip (seed {PAYLOAD_SEED}); default "
            f"strength; embedding with the {ENCODING['profile']} encoding profile "
            f"({encoder_settings().describe()})"
            + (
                ", size-matched to a plain re-encode (`--match-size`)"
                if ENCODING["match_size"]
                else ""
            )
            + ", Numba on one thread while the encoder runs.",
        ),
    )


# --- formatting (pure: no measuring) -----------------------------------------------------------


def robustness_markdown(results: VideoResults, detection: str) -> str:
    ours = [r for r in results.attacks if r.system == "ours"]
    peer = [r for r in results.attacks if r.system == PEER]
    clips = ordered(q.clip for q in results.quality if q.system == "ours")
    attacks = ordered(r.attack for r in ours)
    cell = {(r.clip, r.attack): r for r in ours}
    peer_cell = {r.attack: r for r in peer}
    out = ["# Video watermark robustness, with per-frame dwtDctSvd", ""]
    out += machine_lines(results.machine)
    out += [f"- Detection (ours): {detection}.", ""]

    out += ["## Imperceptibility (every frame, before the encoder)", ""]
    out += [
        "| clip | system | frames | luma PSNR min / mean, dB | RGB PSNR min / mean, dB | "
        "frame-to-frame change: mean / p95 / max | mean change, code values | "
        "before rounding: mean / max | embed s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q in results.quality:
        rgb = (
            "- (luma only)"
            if q.rgb_psnr_min is None
            else f"{q.rgb_psnr_min:.2f} / {q.rgb_psnr_mean:.2f}"
        )
        pattern = (
            "-"
            if q.pattern_flicker_mean is None
            else f"{q.pattern_flicker_mean:.3f} / {q.pattern_flicker_max:.3f}"
        )
        low = "" if q.psnr_min >= MIN_PSNR_DB or q.system != "ours" else " **< 42**"
        out.append(
            f"| {q.clip} | {q.system} | {q.frames} ({q.seconds:.1f} s) | "
            f"{q.psnr_min:.2f}{low} / {q.psnr_mean:.2f} | {rgb} | "
            f"{q.flicker_mean:.3f} / {q.flicker_p95:.3f} / {q.flicker_max:.3f} ({q.plane}) | "
            f"{q.change_rms:.3f} | {pattern} | {q.embed_seconds:.1f} |"
        )
    out += [
        "",
        "- *Luma PSNR*: every frame's Y plane after marking against the decoded frame before "
        "marking (8-bit peak), before the output encoder; the target is at least 42 dB on "
        "every frame.",
        "- *Frame-to-frame change* = RMS(delta_t - delta_{t-1}) / RMS(delta_t), delta_t = marked "
        "minus original plane of frame t: 0 for a mark that never changes, about 1.41 for an "
        "independent pattern per frame. Ours: on Y, where it marks; *before rounding* is the "
        "same ratio for the unrounded pattern (the same frames marked at 16 bits), which leaves "
        "out the rounding to whole code values. dwtDctSvd: on U, the plane it marks (its luma "
        "changes only through the RGB round trip). The mean change in code values puts it "
        "next to the sigma-1 grain of the synthetic clips (about 1.4 frame to frame).",
        f"- {PEER}: frames decoded to BGR (OpenCV BT.601), marked by the peer's own encoder "
        "(default scales, 64-bit payload), converted back to yuv420p and encoded with the same "
        "settings; its luma PSNR includes the RGB round trip, its RGB PSNR is its own change.",
        "",
    ]

    out += ["## Exact payload after each attack", ""]
    peer_head = f" {PEER} on {PEER_CLIP.label} |" if peer else ""
    out.append("| attack | " + " | ".join(clips) + " | ours, all clips |" + peer_head)
    out.append("| --- |" + " --- |" * (len(clips) + 1 + bool(peer)))
    for attack in attacks:
        row = [cell.get((clip, attack)) for clip in clips]
        cells = ["-" if r is None else yes(r.exact) for r in row]
        done = [r for r in row if r is not None]
        total = f"{sum(r.exact for r in done)}/{len(done)}"
        extra = ""
        if peer:
            p = peer_cell.get(attack)
            extra = (
                " - |"
                if p is None
                else f" {100 * p.bit_accuracy:.1f} %, {p.frames_exact}/{p.frames_used} frames, "
                f"vote {'yes' if p.exact else 'no'} |"
            )
        out.append(f"| {attack} | " + " | ".join(cells) + f" | {total} |" + extra)
    marked = [r for r in ours if r.attack != "none"]
    out.append(
        "| **all attacks** | "
        + " | ".join(
            f"{sum(r.exact for r in marked if r.clip == c)}/{sum(r.clip == c for r in marked)}"
            for c in clips
        )
        + f" | {sum(r.exact for r in marked)}/{len(marked)} |"
        + (" |" if peer else "")
    )
    wrong = [r for r in ours if r.detected and not r.exact]
    applied = ordered(f"`{r.attack}`: {r.applied}" for r in ours if r.clip == clips[0])
    applied_720 = [
        f"`{r.attack}`: {r.applied}"
        for r in ours
        if r.clip == clips[-1] and r.attack in ("scale-1280x720", "fps-30to25", "combo")
    ]
    sources = {
        s: sum(r.bits_source == s for r in ours)
        for s in (BITS_FROM_PAYLOAD, BITS_FROM_DECODER, BITS_CHANCE)
    }
    out += [
        "",
        "*yes*: the detector reported `detected=True` (false-alarm probability at most 1e-6) "
        f"with the embedded 64-bit payload. Wrong payloads reported as detected: {len(wrong)}.",
        "",
        f"- Attacks, as applied to {clips[0]}: " + "; ".join(applied) + ".",
        f"- On {clips[-1]} (and the other 720p25 clips): " + "; ".join(applied_720) + ".",
        f"- Presets: {CODEC_PRESET} for {', '.join(sorted(CODEC_ATTACKS))}; {FAST_PRESET} for "
        "the rest (they only re-encode at CRF 18). Sound dropped from attacked files.",
        "- `segment-S-3s`: only the 3 s from S seconds on, re-timed to start at 0 "
        "(`tests.support.video_attacks.segment`).",
    ]
    if peer:
        out += [
            f"- {PEER}: mean bit accuracy over {PEER_FRAMES} frames spread over the attacked "
            "file, frames whose 64 bits all came back, and whether a majority vote of those "
            "frames' bits gives the payload. It runs on the first "
            f"{next(q.seconds for q in results.quality if q.system == PEER):.0f} s of "
            f"{PEER_CLIP.label} only (its encoder takes about 0.6 s per 1080p frame). It has no "
            "detection statistic: it returns 64 bits for any frame, marked or not (about 50 % "
            "agreement by chance).",
        ]
    out += [
        f"- Our bits: the reported payload ({sources[BITS_FROM_PAYLOAD]} cells); when "
        "detection failed, the detector's best decode attempt "
        f"({sources[BITS_FROM_DECODER]} cells), or chance when it attempted none "
        f"({sources[BITS_CHANCE]} cells); see the details.",
        "",
        "<details><summary>score, bit accuracy, frames used and times per cell (ours)</summary>",
        "",
    ]

    def detail(attack: str, clip: str) -> str | None:
        r = cell.get((clip, attack))
        if r is None:
            return None
        return (
            f"{r.score:.1f}{' ✓' if r.exact else ''}, {100 * r.bit_accuracy:.0f} %, "
            f"{r.frames_used} fr, {r.attack_seconds:.0f}+{r.detect_seconds:.1f} s"
        )

    out += grid("attack", attacks, clips, detail)
    out += [
        "",
        "Score = the sync peak's z-score; ✓ = exact payload; % = bit accuracy; fr = frames "
        "averaged; times = the attack's transcode + detection, seconds.",
        "",
        "</details>",
        "",
    ]

    fa = results.false_alarms
    if fa:
        unmarked = [r for r in fa if not r.marked]
        wrong_key = [r for r in fa if r.marked]
        out += ["## False alarms", ""]
        out += [
            "| input | detections | highest score | smallest false-alarm probability |",
            "| --- | --- | --- | --- |",
        ]
        for label, rows in (
            (
                f"{len({r.clip for r in unmarked})} unmarked clips x {1 + RANDOM_KEYS} keys "
                "(the bench key and random ones), every frame",
                unmarked,
            ),
            (f"{len(wrong_key)} marked clips, wrong key", wrong_key),
        ):
            if not rows:
                continue
            top = max(rows, key=lambda r: r.score)
            out.append(
                f"| {label} | {sum(r.detected for r in rows)} of {len(rows)} | {top.score:.2f} "
                f"({top.clip}) | {min(r.false_alarm for r in rows):.2g} |"
            )
        out += [
            "",
            "A detection needs a false-alarm probability of at most 1e-6 per file (the search "
            "over tile periods and positions, times the CRC-24 check).",
            "",
        ]
    if results.facts:
        out += ["## Run", ""]
        out += [f"- {name}: {value}" for name, value in results.facts.items()]
        out.append("")
    return "\n".join(out)


def _split_timings(
    timings: Sequence[TimingRecord],
) -> tuple[list[TimingRecord], list[TimingRecord]]:
    """(embedding rows, the plain transcode first; detection rows), as measured."""
    embeds = [t for t in timings if t.operation.startswith(("plain", "mark"))]
    return embeds, [t for t in timings if t not in embeds]


def speed_markdown(timings: Sequence[TimingRecord], machine: Machine | None, facts: dict) -> str:
    out = ["# Video watermark speed (1080p30 H.264)", ""]
    out += machine_lines(machine)
    out += [f"- {name}: {value}" for name, value in facts.items()]
    if not timings:
        return "\n".join([*out, "", "No timings recorded.", ""])
    embeds, detects = _split_timings(timings)
    out += [
        "",
        "## Embedding against a plain transcode",
        "",
        f"Rounds interleaved ({len(embeds[0].wall)} of each, order rotated every round); "
        "Numba kernels loaded before timing.",
        "",
        "| operation | median wall s | min wall s | median CPU s | x real time | "
        "vs plain (paired median) | vs plain (medians) | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    plain = embeds[0]
    for t in embeds:
        paired = t.paired_ratio
        ratio = "-" if paired is None else f"{paired:.3f}"
        medians = "-" if t is plain else f"{t.median / plain.median:.3f}"
        target = "" if t is plain else f"<= {SPEED_TARGET}"
        out.append(
            f"| {t.operation} | {t.median:.2f} | {min(t.wall):.2f} | "
            f"{statistics.median(t.cpu):.2f} | {t.realtime:.2f} | {ratio} | {medians} | "
            f"{target} |"
        )
    out += [
        "",
        "*Paired*: the median over rounds of (this row's wall time / the plain transcode's in "
        "the same round), which cancels most of the load drift of a shared machine. CPU time "
        "is the whole process (encoder threads included).",
        "",
        "## Detection",
        "",
        "| operation | median wall s | min wall s | median CPU s | x real time | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t in detects:
        target = "" if t.operation.startswith("decode only") else f">= {DETECT_TARGET:g}x"
        out.append(
            f"| {t.operation} | {t.median:.2f} | {min(t.wall):.2f} | "
            f"{statistics.median(t.cpu):.2f} | {t.realtime:.1f} | {target} |"
        )
    out += [
        "",
        "*x real time* = video seconds / median wall seconds. Every frame is decoded in every "
        "row (inter-coded frames need their references); sampling only saves the detector's "
        "per-frame work. Rows on the marked file stop at the first search that finds the mark; "
        "the unmarked clip runs the full search.",
        "",
    ]
    return "\n".join(out)


def _robustness_chart(path: Path, results: VideoResults) -> None:
    from matplotlib.figure import Figure

    ours = [r for r in results.attacks if r.system == "ours" and r.attack != "none"]
    peer = {r.attack: r for r in results.attacks if r.system == PEER}
    attacks = ordered(r.attack for r in ours)
    clips = ordered(r.clip for r in ours)
    fig = Figure(figsize=(max(9.0, 0.6 * len(attacks) + 2), 7.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    series = [*clips, PEER] if peer else clips
    width = 0.8 / len(series)
    for k, name in enumerate(series):
        accuracy, exact = [], []
        for attack in attacks:
            if name == PEER:
                r = peer.get(attack)
                accuracy.append(r.bit_accuracy if r else math.nan)
                exact.append(r.frames_exact / r.frames_used if r and r.frames_used else math.nan)
            else:
                rows = [r for r in ours if r.clip == name and r.attack == attack]
                accuracy.append(rows[0].bit_accuracy if rows else math.nan)
                exact.append(float(rows[0].exact) if rows else math.nan)
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(attacks))]
        label = f"{PEER} ({PEER_CLIP.label}, per frame)" if name == PEER else f"ours, {name}"
        colour = "black" if name == PEER else None
        top.bar(xs, accuracy, width, label=label, color=colour)
        bottom.bar(xs, exact, width, label=label, color=colour)
    top.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    top.set_ylim(0.0, 1.02)
    top.set_ylabel("bit accuracy")
    top.set_title("Bit accuracy of the 64-bit payload (dashed: chance)")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.set_ylim(0.0, 1.02)
    bottom.set_ylabel("exact payload")
    bottom.set_title(f"Exact payload (ours: detected; {PEER}: share of sampled frames)")
    bottom.set_xticks(range(len(attacks)), attacks, rotation=45, ha="right", fontsize=8)
    fig.savefig(path, dpi=110)


#: Behind the value labels of the speed chart, so the target lines do not run through them.
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}


def _speed_chart(path: Path, timings: Sequence[TimingRecord]) -> None:
    """Embedding as a multiple of the plain transcode's time (target: at most SPEED_TARGET),
    detection in multiples of real time (target: at least DETECT_TARGET)."""
    from matplotlib.figure import Figure

    embeds, detects = _split_timings(timings)
    panels = [rows for rows in (embeds, detects) if rows]
    fig = Figure(figsize=(9.0, 0.45 * len(timings) + 1.4 * len(panels) + 0.6), layout="constrained")
    axes = fig.subplots(
        len(panels), 1, squeeze=False, height_ratios=[len(rows) + 1 for rows in panels]
    )[:, 0]
    ax_iter = iter(axes)
    if embeds:
        ax = next(ax_iter)
        plain = embeds[0]
        ratios = [
            1.0
            if t is plain
            else (t.median / plain.median if t.paired_ratio is None else t.paired_ratio)
            for t in embeds
        ]
        ys = list(range(len(embeds)))[::-1]
        colours = ["C7" if t is plain else "C0" for t in embeds]
        ax.barh(ys, ratios, color=colours)
        for y, t, ratio in zip(ys, embeds, ratios, strict=True):
            text = (
                f"{t.median:.2f} s, {t.realtime:.2f}x real time"
                if t is plain
                else f"{ratio:.3f}x plain ({t.realtime:.2f}x real time)"
            )
            ax.text(ratio * 1.02, y, text, va="center", fontsize=8, bbox=_LABEL_BOX)
        ax.axvline(
            SPEED_TARGET,
            color="C3",
            linestyle="--",
            linewidth=0.8,
            label=f"target: embed <= {SPEED_TARGET:g}x plain transcode",
        )
        ax.set_yticks(ys, [t.operation for t in embeds], fontsize=8)
        ax.set_xlim(0.0, max(SPEED_TARGET, *ratios) * 1.5)
        ax.set_xlabel(
            "wall time / plain transcode's (paired median over rounds; shorter is faster)"
        )
        ax.set_title(f"Embedding, {embeds[0].video_seconds:g} s {SPEED_CLIP.label} clip")
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, -0.2), ncols=2, fontsize=8)
    if detects:
        ax = next(ax_iter)
        values = [t.realtime for t in detects]
        ys = list(range(len(detects)))[::-1]
        colours = ["C7" if t.operation.startswith("decode only") else "C0" for t in detects]
        ax.barh(ys, values, color=colours)
        for y, value in zip(ys, values, strict=True):
            ax.text(value * 1.02, y, f"{value:.1f}x", va="center", fontsize=8, bbox=_LABEL_BOX)
        ax.axvline(
            DETECT_TARGET,
            color="C2",
            linestyle="--",
            linewidth=0.8,
            label=f"target: detect >= {DETECT_TARGET:g}x real time",
        )
        ax.axvline(1.0, color="grey", linestyle=":", linewidth=0.8, label="real time")
        ax.set_yticks(ys, [t.operation for t in detects], fontsize=8)
        ax.set_xlim(0.0, max(DETECT_TARGET, *values) * 1.3)
        ax.set_xlabel("x real time (video seconds / median wall seconds; longer is faster)")
        ax.set_title("Detection (grey: decoding alone, for reference)")
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, -0.2), ncols=2, fontsize=8)
    fig.savefig(path, dpi=110)


def write_video_results(
    results: VideoResults, outdir: Path | str, detection: str, speed_facts: dict[str, str]
) -> list[Path]:
    """Write ``video-robustness.md``/``.png`` and ``video-speed.md``/``.png`` (when measured)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    if results.quality:
        path = outdir / f"video-robustness{encoding_suffix()}.md"
        path.write_text(robustness_markdown(results, detection), encoding="utf-8")
        chart = outdir / f"video-robustness{encoding_suffix()}.png"
        _robustness_chart(chart, results)
        written += [path, chart]
    if results.timings:
        path = outdir / "video-speed.md"
        path.write_text(
            speed_markdown(results.timings, results.machine, speed_facts), encoding="utf-8"
        )
        chart = outdir / "video-speed.png"
        _speed_chart(chart, results.timings)
        written += [path, chart]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.arguments(__doc__, outdir=True, tmpdir=True, repeats=3)
    parser.add_argument(
        "--peer-seconds",
        type=float,
        default=3.0,
        help=f"seconds of {PEER_CLIP.label} the peer marks (0: leave the peer out)",
    )
    parser.add_argument("--skip-peer", action="store_true", help="same as --peer-seconds 0")
    parser.add_argument(
        "--clips",
        default=None,
        help="comma-separated clip labels to measure (default: all), e.g. 'bbb 720p25'",
    )
    parser.add_argument("--skip-speed", action="store_true", help="robustness only")
    parser.add_argument(
        "--profile",
        default="default",
        help="encoding profile of the marked files (marking.media.encoding.PROFILES); "
        "a profile other than the default writes video-robustness-PROFILE.md",
    )
    parser.add_argument(
        "--match-size",
        action="store_true",
        help="marked files size-matched to a plain re-encode (video-robustness[-PROFILE]"
        "-match-size.md)",
    )
    parser.add_argument(
        "--skip-robustness", action="store_true", help="speed only (rewrites video-speed.*)"
    )
    args = parser.parse_args(argv)
    ENCODING.update(profile=args.profile, match_size=args.match_size)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.skip_speed and args.skip_robustness:
        parser.error("--skip-speed and --skip-robustness leave nothing to do")
    clips = CLIPS
    if args.clips:
        wanted = [name.strip() for name in args.clips.split(",")]
        unknown = set(wanted) - {spec.label for spec in CLIPS}
        if unknown:
            parser.error(f"unknown clips {sorted(unknown)}; choose from {[c.label for c in CLIPS]}")
        clips = [spec for spec in CLIPS if spec.label in wanted]
    peer_seconds = 0.0 if args.skip_peer else args.peer_seconds
    if peer_seconds and not args.skip_robustness:
        import peers

        try:
            peers.package_dir()
        except ImportError as error:
            print(f"{error}; the peer is left out", file=sys.stderr)
            peer_seconds = 0.0

    started = time.perf_counter()
    machine = machine_record()
    folder = Path(tempfile.mkdtemp(prefix="aigc-compare-video-", dir=args.tmpdir))
    results = VideoResults()
    speed_facts: dict[str, str] = {}
    try:
        if not args.skip_speed:
            # Speed first, before the long robustness loop heats anything up.
            print(f"speed on {SPEED_CLIP.label}:", file=sys.stderr)
            timings, speed_facts = measure_speed(folder, args.repeats)
            speed_facts["Time for the speed part"] = f"{time.perf_counter() - started:.0f} s"
            speed_facts["Load average after it (1, 5, 15 min)"] = harness.load_average_text()
        if not args.skip_robustness:
            begun = time.perf_counter()
            results = measure_robustness(folder, peer_seconds, clips)
            results.facts["Time for the robustness part"] = f"{time.perf_counter() - begun:.0f} s"
            results.facts["Load average at the end (1, 5, 15 min)"] = harness.load_average_text()
        if not args.skip_speed:
            results.timings = timings
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results.machine = machine
    written = write_video_results(results, args.outdir, detection_method(), speed_facts)
    harness.list_written(written, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
