"""``aigc-mark detect``: look for a watermark in images, recordings and videos."""

from __future__ import annotations

import argparse
import math
from typing import Any

from marking.cli import (
    ProgressBar,
    add_key_options,
    resolve_key,
    run_batch,
    stdin_batch,
    watermark_kind,
    whole_number,
)

#: Mirrors marking.files.video.DEFAULT_EVERY without importing NumPy.
DEFAULT_EVERY = 1


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _duration(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "detect",
        help="look for a watermark in images, recordings and videos",
        description="Look for a watermark in each INPUT (no original needed) and print one "
        "line per file. The kind of media is read from the file's content. A video counts as "
        "marked when its frames or its sound track carry the mark. A file that cannot be read "
        "is reported and the rest still checked.",
    )
    parser.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="+",
        help="images, recordings or videos to check; '-': standard input, a file piped in "
        "(its content is media) or else paths, one a line",
    )
    add_key_options(parser)
    parser.add_argument(
        "--no-speed-search",
        dest="speed_search",
        action="store_false",
        help="recordings and sound tracks: only look at normal playback speed (about 10x "
        "faster on unmarked audio; a recording played faster or slower is then missed)",
    )
    video = parser.add_argument_group("video")
    video.add_argument(
        "--every",
        type=whole_number,
        default=DEFAULT_EVERY,
        metavar="N",
        help=f"average every N-th decoded frame (default: {DEFAULT_EVERY})",
    )
    video.add_argument(
        "--all-frames",
        action="store_true",
        help="decode every frame (default: only those other frames refer to, which skips "
        "most B-frames and about half the decoding)",
    )
    video.add_argument(
        "--start", type=_seconds, metavar="S", help="look from S seconds on (default: 0)"
    )
    video.add_argument(
        "--seconds", type=_duration, metavar="S", help="look at S seconds (default: all)"
    )
    video.add_argument(
        "--no-audio",
        dest="audio",
        action="store_false",
        help="do not look at the sound track (frames only)",
    )
    parser.set_defaults(run=stdin_batch(run))
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every file; exit 0 if any carries the mark, 1 if none, 3 if any failed."""
    from marking.scheme.results import as_json_record

    key = resolve_key(args)

    def check(file: str) -> tuple[bool, dict[str, Any], str]:
        found = _detect(file, key, args)
        return found["detected"], as_json_record(found, ("input",), file=file), _summary(found)

    return run_batch(args, check)


def _detect(file: str, key: Any, args: argparse.Namespace) -> Any:
    """The detection result for one file, by the kind of media it holds."""
    from marking.media.sniffing import AUDIO, VIDEO

    kind = watermark_kind(file)
    if kind == AUDIO:
        from marking.files.audio import detect_audio_file

        return detect_audio_file(file, key=key, speed_search=args.speed_search)
    if kind == VIDEO:
        from marking.files.video import detect_video_file

        bar = ProgressBar(f"checking {file}")
        try:
            return detect_video_file(
                file,
                key=key,
                every=args.every,
                all_frames=args.all_frames,
                start=args.start,
                seconds=args.seconds,
                audio=args.audio,
                speed_search=args.speed_search,
                progress=bar,
            )
        finally:
            bar.close()
    from marking.files.image import detect_file

    return detect_file(file, key=key)


def _summary(found: Any) -> str:
    """The line printed for one file: what was found where, or the best score."""
    from marking.scheme.results import AudioDetection, VideoFileDetection

    if not found.detected:
        line = f"no watermark (score {found.score:.2f})"
    else:
        line = f"watermark found, payload {found.payload}, false alarm {found.false_alarm:.1e}"
        if isinstance(found, AudioDetection):
            line += f", at {found.offset:.2f} s"
            if found.speed != 1.0:
                line += f", speed {found.speed:.4g}x"
        elif isinstance(found, VideoFileDetection):
            places = ("frames" if place == "video" else "sound" for place in found.found_in)
            line += f", in the {' and the '.join(places)}"
            sound = found.audio or {}
            other = sound.get("payload") != found.video.payload
            if found.video.detected and sound.get("detected") and other:
                line += f" (the sound carries another payload, {sound['payload']})"
    return "; ".join([line, *found.get("notes", [])])
