"""``aigc-mark detect``: look for a watermark in images and recordings."""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import add_key_options, resolve_key, run_batch, watermark_kind


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "detect",
        help="look for a watermark in images and recordings",
        description="Look for a watermark in each INPUT (no original needed) and print one "
        "line per file. The kind of media is read from the file's content. A file that "
        "cannot be read is reported and the rest still checked.",
    )
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help="images or recordings to check")
    add_key_options(parser)
    parser.add_argument(
        "--no-speed-search",
        dest="speed_search",
        action="store_false",
        help="recordings: only look at normal playback speed (about 10x faster on unmarked "
        "audio; a recording played faster or slower is then missed)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every file; exit 0 if any carries the mark, 1 if none, 3 if any failed."""
    from marking.media_kind import AUDIO

    key = resolve_key(args)

    def check(file: str) -> tuple[bool, dict[str, Any], str]:
        if watermark_kind(file) == AUDIO:
            return _check_audio(file, key, args.speed_search)
        from marking.image_io import detect_file

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
    from marking.audio_watermark_io import detect_audio_file

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
    return found["detected"], record, line
