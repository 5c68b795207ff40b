"""``aigc-mark detect``: look for a watermark in one or more images."""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import add_key_options, resolve_key, run_batch


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "detect",
        help="look for a watermark in images",
        description="Look for a watermark in each INPUT (no original needed) and print one "
        "line per file. A file that cannot be read is reported and the rest still checked.",
    )
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help="images to check")
    add_key_options(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every file; exit 0 if any carries the mark, 1 if none, 3 if any failed."""
    from marking.image_io import detect_file

    key = resolve_key(args)

    def check(file: str) -> tuple[bool, dict[str, Any], str]:
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
