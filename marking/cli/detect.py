"""``aigc-mark detect``: look for a watermark in images, recordings and videos."""

from __future__ import annotations

import argparse
import math
from typing import Any

from marking.cli import (
    add_key_options,
    applies_to,
    print_error,
    refuse_inapplicable,
    resolve_key,
    stdin_batch,
    whole_number,
)
from marking.cli.mark import add_batch_options, batch_jobs, run_records
from marking.errors import ExitCode

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
        "line per file. INPUT is a file, a directory (walked recursively), a glob pattern or "
        "'-' for paths on standard input; with -j N, N files are checked at a time (default "
        "one). The kind of "
        "media is read from the file's content. A video counts as marked when its frames or "
        "its sound track carry the mark. A file that cannot be read is reported and the rest "
        f"still checked. Exit {ExitCode.OK} when any file carries the mark, "
        f"{ExitCode.NO_MARK} when none does, {ExitCode.FAILED} when a file cannot be read. "
        "Options for one kind of media (video, audio) are a usage error for a single file of "
        "another kind; in a batch they apply to the files of their kind.",
    )
    parser.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="+",
        help="images, recordings or videos to check, directories or glob patterns; '-': "
        "standard input, a file piped in (its content is media) or else paths, one a line",
    )
    add_batch_options(parser)
    add_key_options(parser)
    # Not refused for pictures: it narrows a search they do not have, and a script passes it
    # for every file it checks.
    parser.add_argument(
        "--no-speed-search",
        dest="speed_search",
        action="store_false",
        help="recordings and sound tracks: only look at normal playback speed (on an "
        "unmarked 30 s recording about 3x faster at 44.1 kHz stereo, 10x at 16 kHz mono; a "
        "recording played faster or slower is then missed)",
    )
    video = parser.add_argument_group("video")
    video_options = [
        video.add_argument(
            "--every",
            type=whole_number,
            default=DEFAULT_EVERY,
            metavar="N",
            help=f"average every N-th decoded frame (default: {DEFAULT_EVERY})",
        ),
        video.add_argument(
            "--all-frames",
            action="store_true",
            help="decode every frame (default: only those other frames refer to, which skips "
            "most B-frames and about half the decoding)",
        ),
        video.add_argument(
            "--start", type=_seconds, metavar="S", help="look from S seconds on (default: 0)"
        ),
        video.add_argument(
            "--seconds", type=_duration, metavar="S", help="look at S seconds (default: all)"
        ),
        video.add_argument(
            "--no-audio",
            dest="audio",
            action="store_false",
            help="do not look at the sound track (frames only)",
        ),
    ]
    applies_to(("video",), *video_options)
    parser.set_defaults(run=stdin_batch(run))
    return parser


#: The fields of detect's records that are the batch's, not the detection's: left out of the
#: JSON printed (a file's record is the detection's, as it was before detect took batches).
_BATCH_FIELDS = ("status", "bytes", "seconds", "output")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON record detect prints: the detection's fields (``input``, ``kind``, and
    ``file`` as before 0.2), or for a file that failed ``input``, ``file`` and ``error``."""
    from marking.pipeline.jobs import FAILED, SKIPPED, with_old_keys

    if record["status"] == FAILED:
        return with_old_keys({"input": record["input"], "error": record["error"]}, "file")
    if record["status"] == SKIPPED:
        return with_old_keys(record, "file")
    kept = {name: value for name, value in record.items() if name not in _BATCH_FIELDS}
    return with_old_keys(kept, "file")


def _refuse_for_one_file(args: argparse.Namespace, jobs: list[Any]) -> None:
    """One file named: options for another kind of media are a usage error (a file that
    cannot be read is left to the batch, which reports it)."""
    from marking.errors import MarkingError
    from marking.media.sniffing import media_kind

    if len(jobs) != 1 or jobs[0].found:
        return
    try:
        kind = media_kind(jobs[0].input)
    except (MarkingError, OSError):
        return
    refuse_inapplicable(args, kind)


def run(args: argparse.Namespace) -> int:
    """Check every file; exit 0 if any carries the mark, 1 if none, 3 if any failed."""
    import sys
    from functools import partial

    from marking.pipeline.inputs import verify_jobs
    from marking.pipeline.jobs import FOUND, detect_one

    key = resolve_key(args)
    if args.workers is None:  # a picture takes ~0.1 s, starting a worker process ~1 s
        args.workers = 1
    if args.json and args.report is None:
        args.report = "-"
    jobs = batch_jobs(verify_jobs(args.inputs), args.report)
    _refuse_for_one_file(args, jobs)
    options = {
        "speed_search": args.speed_search,
        "every": args.every,
        "all_frames": args.all_frames,
        "start": args.start,
        "seconds": args.seconds,
        "audio": args.audio,
    }
    work = partial(detect_one, key=key, options=options)
    counts, interrupted = run_records(
        args, jobs, work, _summary, summary=sys.stderr.isatty(), public=_public, ordered=True
    )
    if interrupted is not None:
        print_error("interrupted")
        return interrupted
    if counts.get("failed"):
        return ExitCode.FAILED
    return ExitCode.OK if counts.get(FOUND) else ExitCode.NO_MARK


def _summary(record: dict[str, Any]) -> str:
    """The line printed for one file: what was found where, or the best score."""
    if record["status"] == "skipped":
        return f"skipped ({record['reason']})"
    if not record["detected"]:
        line = f"no watermark (score {record['score']:.2f})"
    else:
        line = (
            f"watermark found, payload {record['payload']}, false alarm {record['false_alarm']:.1e}"
        )
        if record.get("kind") == "audio":
            line += f", at {record['offset']:.2f} s"
            if record["speed"] != 1.0:
                line += f", speed {record['speed']:.4g}x"
        elif record.get("kind") == "video":
            places = ("frames" if place == "video" else "sound" for place in record["found_in"])
            line += f", in the {' and the '.join(places)}"
            sound, frames = record.get("audio") or {}, record.get("video") or {}
            other = sound.get("payload") != frames.get("payload")
            if frames.get("detected") and sound.get("detected") and other:
                line += f" (the sound carries another payload, {sound['payload']})"
    return "; ".join([line, *(record.get("notes") or [])])
