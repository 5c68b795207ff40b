"""Mark and detect a long 1080p30 H.264 file: wall time and peak memory of the streaming paths.

Run: ``.venv/bin/python bench/large_video.py [--minutes M] [--tmpdir DIR] [--outdir DIR]
[--no-write]``.

The script builds a ``--minutes`` long (default 10) 1920x1080 30 fps MP4 cheaply: the 6 s
*Big Buck Bunny* clip of ``tests.support.video_clips`` is transcoded once with the default encoder
settings (libx264 CRF 18, preset medium, AAC sound copied), and that file's packets are then
repeated with shifted timestamps (a remux: no decoding, no encoding; each repeat starts on an
IDR frame). It then

1. decodes every frame once without doing anything (the cost of decoding alone),
2. transcodes it plainly (same encoder settings, frames untouched, sound copied: what the
   codecs alone take),
3. stream-embeds the file (``marking.files.video.embed_video_file`` with its defaults:
   libx264 CRF 18 preset medium, the sound track watermarked too),
4. stream-detects the marked file, picture only (``detect_video_file(..., audio=False)``),
5. stream-detects it with the defaults (picture and sound),

timing each phase (wall and CPU) and measuring its peak resident memory (the kernel's VmHWM,
reset at the start of each phase, checked against a 20 ms VmRSS sampler; see
``bench/large_audio.py``), then deletes the files and writes ``video-large.md`` to
``--outdir`` (default ``bench/results/``; another ``--minutes`` than the default 10 writes
``video-large-<M>min.md`` instead, so a quick run leaves the 10-minute figures alone).
Without ``marking.files.video`` the frame API is timed instead (``transcode`` +
``VideoMarker``, ``frames`` + ``VideoDetector``).
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import harness
import numpy as np
from harness import KEY, PEAK_RSS_NOTE, Phase, PhaseRunner
from results_writer import Machine, duration, report_head

from marking.kernels.config import single_threaded
from marking.media.video import EncoderSettings, FrameInfo, frames, probe_video, transcode
from marking.watermark.video import VideoDetector, VideoMarker

PAYLOAD = harness.PAYLOAD_HEX
WIDTH, HEIGHT, FPS = 1920, 1080, 30
BASE_SECONDS = 6.0
DEFAULT_MINUTES = 10.0


# --- the long file -----------------------------------------------------------------------------


def base_clip(folder: Path) -> Path:
    """The 6 s bbb clip at 1080p30, re-encoded with the default settings (a typical file)."""
    from tests.support.video_clips import clip_path

    source = clip_path("bbb", width=WIDTH, height=HEIGHT, fps=FPS, seconds=BASE_SECONDS)
    target = folder / "base.mp4"
    transcode(source, target, lambda planes, info: None, EncoderSettings())
    return target


def loop_file(base: Path, target: Path, seconds: float) -> int:
    """Repeat ``base``'s packets (video and audio) until ``seconds`` are filled; returns the
    number of repeats. Every repeat is shifted by the video's length; the sound runs a little
    longer than the picture (the AAC encoder's priming), so its packets that would overlap the
    next repeat's are dropped (a few ms of sound per repeat), keeping picture and sound in step.
    """
    import av

    with av.open(str(base)) as probe:
        video = probe.streams.video[0]
        length = Fraction(video.duration or 0) * Fraction(video.time_base)
        if not length:
            length = Fraction(probe.duration, av.time_base)
    repeats = max(1, round(seconds / float(length)))
    with av.open(str(target), "w", format="mp4") as output:
        streams: dict[int, Any] = {}
        last_dts: dict[int, int] = {}
        for repeat in range(repeats):
            with av.open(str(base)) as source:
                if not streams:
                    for stream in source.streams:
                        if stream.type in ("video", "audio"):
                            streams[stream.index] = output.add_stream_from_template(stream)
                for packet in source.demux(*[source.streams[i] for i in streams]):
                    if not packet.size or packet.dts is None:  # flush markers
                        continue
                    index = packet.stream.index
                    shift = int(repeat * length / Fraction(packet.time_base))
                    if packet.dts + shift <= last_dts.get(index, -(2**62)):
                        continue  # sound overlapping the previous repeat's tail
                    packet.dts += shift
                    if packet.pts is not None:
                        packet.pts += shift
                    last_dts[index] = packet.dts
                    packet.stream = streams[index]
                    output.mux(packet)
    return repeats


# --- embedding and detection -------------------------------------------------------------------


def _file_api() -> Any | None:
    """``marking.files.video`` when it exists (it is written separately)."""
    return harness.optional_module("marking.files.video")


def stream_embed(source: Path, target: Path) -> tuple[dict[str, Any], str]:
    api = _file_api()
    if api is not None:
        record = api.embed_video_file(source, target, key=KEY, payload=PAYLOAD)
        return dict(record), "`marking.files.video.embed_video_file` (defaults)"
    marker = VideoMarker(payload=PAYLOAD, key=KEY)

    def mark(planes: list[np.ndarray], info: FrameInfo) -> None:
        marker.mark_plane(planes[0], max_value=info.max_value)

    with single_threaded():
        report = transcode(source, target, mark, EncoderSettings())
    return {"frames": report.frames}, "`transcode` + `VideoMarker.mark_plane` (sound copied)"


def stream_detect(path: Path, audio: bool) -> tuple[dict[str, Any], str]:
    api = _file_api()
    if api is not None:
        record = api.detect_video_file(path, key=KEY, audio=audio)
        how = "`detect_video_file`" + ("" if audio else " with audio=False")
        return dict(record), how
    detector = VideoDetector(key=KEY)
    for planes, info in frames(path):
        detector.push_plane(planes[0], max_value=info.max_value)
    return detector.result().to_dict(), "`frames` + `VideoDetector` (every frame, picture only)"


def decode_only(path: Path) -> int:
    return sum(1 for _ in frames(path))


def plain_transcode(source: Path, target: Path) -> int:
    """Decode and re-encode with the embedder's encoder settings, frames untouched, sound
    copied: the memory the codecs themselves take."""
    report = transcode(source, target, lambda planes, info: None, EncoderSettings())
    target.unlink()
    return report.frames


# --- report ------------------------------------------------------------------------------------


def _machine() -> Machine:
    return harness.describe_machine(
        ("aigc-marking", "numpy", "numba", "av"),
        extra={"FFmpeg (libavcodec)": harness.ffmpeg_version()},
    )


def report(
    machine: Machine, minutes: float, phases: list[Phase], facts: dict[str, str], notes: list[str]
) -> str:
    title = f"Video watermark on a {minutes:g}-minute 1080p30 H.264 file"
    out = report_head(title, machine, facts)
    out += [
        "",
        "| phase | video | wall s | CPU s | x real time | RSS before, MiB | peak RSS, MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in phases:
        out.append(
            f"| {p.name} | {duration(p.media_seconds)} | {p.wall:.1f} | {p.cpu:.1f} | "
            f"{p.realtime:.2f} | {p.rss_before_mib:.0f} | {p.peak_mib:.0f} |"
        )
    out += [
        "",
        "- *x real time* = video duration / wall time. CPU time is the whole process (the "
        "codecs' threads included), so CPU / wall shows how many of the cores were busy.",
        f"- {PEAK_RSS_NOTE} It includes the interpreter, NumPy, the loaded Numba kernels and "
        "FFmpeg's libraries (the *RSS before* column); what streaming adds is the difference.",
        *(f"- {note}" for note in notes),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, outdir=True, tmpdir=True, no_write="video-large.md")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="length of the file")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 180:
        parser.error("--minutes must be in (0, 180]")
    seconds = args.minutes * 60
    machine = _machine()  # load average before this script adds to it
    started = time.perf_counter()

    needed = 2.5 * seconds * 1.2e6  # two files of at most about 8 Mbit/s, and a margin
    runner = PhaseRunner(realtime_digits=2)
    run = runner.run
    facts: dict[str, str] = {}
    notes: list[str] = []

    found: dict[str, Any] = {}
    with harness.work_directory("aigc-large-video-", args.tmpdir, needed, "--minutes") as workdir:
        if workdir is None:
            return 1
        source, target = workdir / "long.mp4", workdir / "marked.mp4"
        harness.warm_kernels()
        begun = time.perf_counter()
        repeats = loop_file(base_clip(workdir), source, seconds)
        info = probe_video(source)
        length = info.duration_s or seconds
        facts["File"] = (
            f"{info.width}x{info.height} {float(info.frame_rate):g} fps {info.codec} "
            f"{info.pix_fmt}, {length / 60:.2f} min, {info.frame_count} frames, "
            f"{source.stat().st_size / 1e6:.0f} MB: the 6 s bbb clip of "
            f"`tests.support.video_clips` "
            f"(1080p30) re-encoded with libx264 CRF 18 preset medium, its packets repeated "
            f"{repeats} times (AAC sound), built in {time.perf_counter() - begun:.0f} s"
        )
        run("decode only", length, lambda: decode_only(source))
        run(
            "plain transcode (same encoder, sound copied)",
            length,
            lambda: plain_transcode(source, target),
        )
        record, how = run(
            "embed (stream, H.264 to H.264)", length, lambda: stream_embed(source, target)
        )
        notes.append(f"Embedding: {how}, key `{KEY}`.")
        marked = probe_video(target)
        facts["Marked file"] = (
            f"{marked.frame_count} frames, {target.stat().st_size / 1e6:.0f} MB"
            + (
                f", luma PSNR min {record['psnr_min']} / mean {record['psnr_mean']} dB, sound "
                f"{record.get('audio')}"
                if "psnr_min" in record
                else ""
            )
        )
        source.unlink()
        found, how = run("detect, picture only", length, lambda: stream_detect(target, False))
        notes.append(f"Detection, picture only: {how}.")
        facts["Detection, picture only"] = (
            f"detected={found['detected']}, payload {found['payload']} (embedded {PAYLOAD}), "
            f"false alarm {found['false_alarm']:.1e}"
            + (f", {found['frames_used']} frames averaged" if "frames_used" in found else "")
        )
        both, how = run("detect, picture and sound", length, lambda: stream_detect(target, True))
        notes.append(f"Detection, picture and sound: {how}.")
        facts["Detection, picture and sound"] = (
            f"detected={both['detected']}, payload {both['payload']}, found in "
            f"{both.get('found_in', ['video'])}"
        )
    facts["Total run time"] = f"{time.perf_counter() - started:.0f} s"
    if hasattr(os, "getloadavg"):  # other jobs on the machine show here
        facts["Load average at the end (1, 5, 15 min)"] = harness.load_average_text()

    text = report(machine, args.minutes, runner.phases, facts, notes)
    print(text)
    if not args.no_write:
        # Only the default length updates video-large.md (a quick run does not replace it).
        name = (
            "video-large.md"
            if args.minutes == DEFAULT_MINUTES
            else f"video-large-{args.minutes:g}min.md"
        )
        harness.write_report(text, args.outdir / name)
    return 0 if found.get("detected") and found.get("payload") == PAYLOAD else 1


if __name__ == "__main__":
    raise SystemExit(main())
