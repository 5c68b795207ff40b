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
        "inputs", metavar="INPUT", nargs="+", help="images, recordings or videos to check"
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
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every file; exit 0 if any carries the mark, 1 if none, 3 if any failed."""
    from marking.media.sniffing import AUDIO, VIDEO

    key = resolve_key(args)

    def check(file: str) -> tuple[bool, dict[str, Any], str]:
        kind = watermark_kind(file)
        if kind == AUDIO:
            return _check_audio(file, key, args.speed_search)
        if kind == VIDEO:
            return _check_video(file, key, args)
        from marking.files.image import detect_file

        detection = detect_file(file, key=key)
        if detection.detected:
            line = (
                f"watermark found, payload {detection.payload}, "
                f"false alarm {detection.false_alarm:.1e}"
            )
        else:
            line = f"no watermark (score {detection.score:.2f})"
        return detection.detected, {"file": file, **detection.to_dict()}, line

    return run_batch(args, check)


def _check_audio(file: str, key: Any, speed_search: bool) -> tuple[bool, dict[str, Any], str]:
    from marking.files.audio import detect_audio_file

    found = detect_audio_file(file, key=key, speed_search=speed_search)
    record = {"file": file, **{name: value for name, value in found.items() if name != "input"}}
    if found["detected"]:
        line = (
            f"watermark found, payload {found['payload']}, "
            f"false alarm {found['false_alarm']:.1e}, at {found['offset']:.2f} s"
        )
        if found["speed"] != 1.0:
            line += f", speed {found['speed']:.4g}x"
    else:
        line = f"no watermark (score {found['score']:.2f})"
    line = "; ".join([line, *found["notes"]])
    return found["detected"], record, line


def _check_video(file: str, key: Any, args: argparse.Namespace) -> tuple[bool, dict[str, Any], str]:
    from marking.files.video import detect_video_file

    bar = ProgressBar(f"checking {file}")
    try:
        found = detect_video_file(
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
    record = {"file": file, **{name: value for name, value in found.items() if name != "input"}}
    if found["detected"]:
        where = " and the ".join(
            "frames" if place == "video" else "sound" for place in found["found_in"]
        )
        line = (
            f"watermark found, payload {found['payload']}, "
            f"false alarm {found['false_alarm']:.1e}, in the {where}"
        )
        sound = found["audio"] or {}
        video = found["video"]
        if video["detected"] and sound.get("detected") and sound["payload"] != video["payload"]:
            line += f" (the sound carries another payload, {sound['payload']})"
    else:
        line = f"no watermark (score {found['score']:.2f})"
    return found["detected"], record, line
