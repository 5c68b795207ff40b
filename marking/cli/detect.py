"""``aigc-mark detect``: look for a watermark in one or more images."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any

from marking.cli import (
    DEBUG_ENV_VAR,
    add_key_options,
    describe_failure,
    json_line,
    redact,
    resolve_key,
    secrets_in,
)

#: Exit codes: a mark found in at least one file, in none, or an input failed.
FOUND, NOT_FOUND, FAILED = 0, 1, 3


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
    """Check every file; exit FOUND, NOT_FOUND or (if any file failed) FAILED."""
    from marking.image_io import detect_file

    key = resolve_key(args)
    any_found = any_failed = False
    for file in args.inputs:
        try:
            detection = detect_file(file, key=key)
        except Exception as error:  # one bad file must not stop the batch
            if os.environ.get(DEBUG_ENV_VAR) == "1":
                traceback.print_exc()
            any_failed = True
            problem = redact(describe_failure(error), secrets_in(args))
            print(f"{file}: error: {problem}", file=sys.stderr, flush=True)
            if args.json:
                print(json_line({"file": file, "error": problem}), flush=True)
            continue
        any_found = any_found or detection.detected
        if args.json:
            print(json_line({"file": file, **detection.to_dict()}), flush=True)
        elif detection.detected:
            print(
                f"{file}: watermark found, payload {detection.payload}, "
                f"false alarm {detection.false_alarm:.1e}",
                flush=True,
            )
        else:
            print(f"{file}: no watermark (score {detection.score:.2f})", flush=True)
    if any_failed:
        return FAILED
    return FOUND if any_found else NOT_FOUND
