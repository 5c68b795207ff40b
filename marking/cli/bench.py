"""``aigc-mark bench``: how fast the installed toolkit is on this machine, in half a minute."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from marking.cli import json_line, whole_number
from marking.errors import ExitCode


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="measure embedding and detection speed on this machine",
        description="Time the watermark's embedding and detection on synthetic media made on "
        "the spot: a 1920x1080 picture (MP/s), 30 s of 44.1 kHz stereo (x real time), 1080p "
        "frames (frames/s) and a 2 s 1080p30 H.264 clip through the file API (x real time). "
        "Medians of --repeats runs after one untimed run. For comparisons with other tools, "
        "run `make bench` from the source tree.",
    )
    parser.add_argument(
        "--repeats", type=whole_number, default=3, metavar="N", help="timed runs (default 3)"
    )
    parser.add_argument("--no-video", action="store_true", help="skip the video file step")
    parser.add_argument("--json", action="store_true", help="one JSON object per measurement")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from marking.pipeline.throughput import machine_line, measure, table

    def progress(step: str) -> None:
        if sys.stderr.isatty():
            print(f"timing {step} ...", file=sys.stderr, flush=True)

    header = machine_line()
    results = measure(repeats=args.repeats, video=not args.no_video, progress=progress)
    if args.json:
        for result in results:
            print(json_line(result.to_dict()))
    else:
        print(header)
        print(table(results))
    return ExitCode.OK
