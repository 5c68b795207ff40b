"""The cost of a marked video: bytes and wall time against a plain re-encode (issue 20).

Run: ``.venv/bin/python bench/video_cost.py [--quick]``. For each clip (an animation, a pan and
a tripod shot with grain, at 1080p30 and 720p25, 6 s each, from ``tests.support.video_clips``)
and each encoding profile (the default libx264 CRF 18 medium, and the fast profile), it
encodes:

- a plain re-encode: :func:`marking.media.video.transcode` with a callback that changes
  nothing, the same encoder settings;
- the marked file: :func:`marking.files.video.embed_video_file` with the same settings (sound
  copied, so the sizes compare the video streams alone);
- with ``--match-size`` where the toolkit has it, the size-matched marked file.

Bytes are the video stream's packet bytes. Speed is measured in paired rounds (plain and
marked alternate, the order rotating), and reported as the median of the per-round ratios,
which cancels most of the drift of a shared machine. Results go to
``bench/results/video-cost.md``.
"""

from __future__ import annotations

import inspect
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from results_writer import machine_lines

from marking.files.video import embed_video_file
from marking.media.encoding import PROFILES
from marking.media.video import transcode

KEY = "aigc-marking-bench"
PAYLOAD = "0123456789abcdef"
SECONDS = 6.0


@dataclass(frozen=True)
class Clip:
    kind: str
    width: int
    height: int
    fps: int

    @property
    def label(self) -> str:
        names = {"bbb": "animation", "pan": "pan", "static": "tripod + grain"}
        return f"{names[self.kind]} {self.height}p{self.fps}"

    def path(self) -> Path:
        from tests.support.video_clips import clip_path

        return clip_path(
            self.kind, width=self.width, height=self.height, fps=self.fps, seconds=SECONDS
        )


CLIPS = [
    Clip(kind, width, height, fps)
    for width, height, fps in ((1920, 1080, 30), (1280, 720, 25))
    for kind in ("bbb", "pan", "static")
]


@dataclass
class Row:
    clip: Clip
    profile: str
    plain_bytes: int = 0
    marked_bytes: int = 0
    matched_bytes: int | None = None
    matched: dict[str, Any] | None = None
    psnr_mean: float | None = None
    plain_wall: list[float] = field(default_factory=list)
    marked_wall: list[float] = field(default_factory=list)
    marked_cpu: list[float] = field(default_factory=list)
    plain_cpu: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.marked_bytes / self.plain_bytes

    @property
    def paired(self) -> float | None:
        if not self.marked_wall:
            return None
        pairs = zip(self.marked_wall, self.plain_wall, strict=True)
        return statistics.median(m / p for m, p in pairs)

    @property
    def realtime(self) -> float | None:
        return SECONDS / statistics.median(self.marked_wall) if self.marked_wall else None


def video_bytes(path: Path) -> int:
    """The video stream's packet bytes (the container's and the sound's left out)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(packet.size for packet in container.demux(stream) if packet.size)


def _has_match_size() -> bool:
    return "match_size" in inspect.signature(embed_video_file).parameters


def measure(clip: Clip, profile: str, folder: Path, repeats: int, match: bool) -> Row:
    settings = PROFILES[profile]
    source = clip.path()
    row = Row(clip, profile)
    plain_path = folder / f"plain-{clip.kind}-{clip.height}-{profile}.mp4"
    marked_path = folder / f"marked-{clip.kind}-{clip.height}-{profile}.mp4"

    def plain() -> None:
        transcode(source, plain_path, lambda planes, info: None, settings)

    def marked() -> None:
        record = embed_video_file(
            source, marked_path, key=KEY, payload=PAYLOAD, settings=settings, copy_audio=True
        )
        row.psnr_mean = record.psnr_mean

    cases: dict[str, Callable[[], object]] = {"plain": plain, "marked": marked}
    if repeats:
        rounds = harness.paired_rounds(cases, repeats, report=False)
        row.plain_wall, row.plain_cpu = list(rounds["plain"].wall), list(rounds["plain"].cpu)
        row.marked_wall, row.marked_cpu = list(rounds["marked"].wall), list(rounds["marked"].cpu)
    else:
        plain()
        marked()
    row.plain_bytes, row.marked_bytes = video_bytes(plain_path), video_bytes(marked_path)
    if match and _has_match_size():
        matched_path = folder / f"matched-{clip.kind}-{clip.height}-{profile}.mp4"
        record = embed_video_file(
            source,
            matched_path,
            key=KEY,
            payload=PAYLOAD,
            settings=settings,
            copy_audio=True,
            match_size=True,
        )
        row.matched_bytes = video_bytes(matched_path)
        row.matched = dict(record.match_size or {})
    harness.log(
        f"{clip.label} {profile}: {row.ratio:.2f}x bytes"
        + (f", {row.paired:.3f}x wall, {row.realtime:.2f}x real time" if row.paired else "")
    )
    return row


def _mb(count: int) -> str:
    return f"{count / 1e6:.2f}"


def size_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| clip | profile | plain MB | marked MB | marked / plain | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {row.clip.label} | {row.profile} | {_mb(row.plain_bytes)} | "
        f"{_mb(row.marked_bytes)} | {row.ratio:.2f} | <= 1.15 |"
        for row in rows
    ]
    return lines


def match_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| clip | profile | plain MB | matched MB | matched / plain | PSNR plain / marked, dB "
        "| encodes | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if row.matched_bytes is None or row.matched is None:
            continue
        psnr = f"{row.matched.get('plain_psnr')} / {row.matched.get('marked_psnr')}"
        lines.append(
            f"| {row.clip.label} | {row.profile} | {_mb(row.plain_bytes)} | "
            f"{_mb(row.matched_bytes)} | {row.matched_bytes / row.plain_bytes:.3f} | {psnr} | "
            f"{row.matched.get('encodes')} | within 5 % |"
        )
    return lines


def speed_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| clip | profile | plain wall s (median) | marked wall s (median) | marked / plain "
        "(paired median) | CPU s plain / marked | x real time (marked) | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if not row.marked_wall:
            continue
        target = "<= 1.10" + (
            "; >= 1x real time" if row.profile == "fast" and row.clip.height == 1080 else ""
        )
        lines.append(
            f"| {row.clip.label} | {row.profile} | {statistics.median(row.plain_wall):.2f} | "
            f"{statistics.median(row.marked_wall):.2f} | {row.paired:.3f} | "
            f"{statistics.median(row.plain_cpu):.1f} / {statistics.median(row.marked_cpu):.1f} | "
            f"{row.realtime:.2f} | {target} |"
        )
    return lines


def report(rows: Sequence[Row], machine: Any, repeats: int, seconds: float) -> str:
    profiles = sorted({row.profile for row in rows}, key=list(PROFILES).index)
    settings = "; ".join(f"{name}: {PROFILES[name].describe()}" for name in profiles)
    parts = [
        "# The cost of a marked video: bytes and time against a plain re-encode",
        "",
        *machine_lines(machine),
        "",
        f"- Clips: 6 s each from `tests.support.video_clips` (libx264 CRF 12 sources); "
        f"profiles: {settings}.",
        f"- Key `{KEY}`, payload `{PAYLOAD}`, default strength; sound copied in every file, "
        "so the bytes are the video streams'.",
        f"- Speed: {repeats} paired rounds per clip and profile (plain and marked alternate, "
        "order rotating); *marked / plain* is the median of the per-round ratios."
        if repeats
        else "- Speed: not measured in this run.",
        f"- Time for the run: {seconds:.0f} s; load average at the end: "
        f"{harness.load_average_text()}.",
        "",
        "## Bytes at the same settings",
        "",
        *size_table(rows),
        "",
    ]
    matched = match_table(rows)
    if len(matched) > 2:
        parts += ["## Size-matched (`--match-size`)", "", *matched, ""]
    speed = speed_table(rows)
    if len(speed) > 2:
        parts += ["## Wall time", "", *speed, ""]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.arguments(
        __doc__, tmpdir=True, repeats=3, output="video-cost.md", no_write="the report"
    )
    parser.add_argument("--quick", action="store_true", help="720p clips, one round")
    parser.add_argument(
        "--profiles", default=",".join(PROFILES), help="comma-separated profile names"
    )
    parser.add_argument("--clips", default="", help="comma-separated labels' kinds, e.g. pan")
    parser.add_argument("--no-match", action="store_true", help="skip --match-size")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    clips = [clip for clip in CLIPS if not args.quick or clip.height == 720]
    if args.clips:
        clips = [clip for clip in clips if clip.kind in args.clips.split(",")]
    repeats = 1 if args.quick else args.repeats
    machine = harness.describe_machine(
        ("aigc-marking", "numpy", "numba", "av"),
        extra={"FFmpeg (libavcodec)": harness.ffmpeg_version()},
    )
    harness.warm_kernels()
    with harness.work_directory("video-cost-", args.tmpdir) as folder:
        if folder is None:
            return 1
        rows = [
            measure(clip, profile, folder, repeats, not args.no_match)
            for clip in clips
            for profile in args.profiles.split(",")
        ]
    harness.finish_report(
        report(rows, machine, repeats, time.perf_counter() - started), args, started
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
