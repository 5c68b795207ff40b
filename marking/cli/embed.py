"""``aigc-mark embed``: write a watermarked copy of an image."""

from __future__ import annotations

import argparse
import math
from typing import Any

from marking.cli import add_key_options, json_line, resolve_key

MAX_STRENGTH = 4.0


def _strength(text: str) -> float:
    """argparse type: a finite float in (0, MAX_STRENGTH]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_STRENGTH):
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {MAX_STRENGTH:g}, got {text}")
    return value


def _quality(text: str) -> int:
    """argparse type: an integer JPEG/WebP quality in 1..100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "embed",
        help="write a watermarked copy of an image",
        description="Write a watermarked copy of INPUT to OUTPUT, keeping its metadata "
        "(ICC profile, EXIF, XMP, resolution, PNG text). INPUT is never modified. The "
        "output format is INPUT's unless OUTPUT's suffix names another one "
        "(.jpg, .png, .webp, .tif).",
    )
    parser.add_argument("input", metavar="INPUT", help="image to mark (JPEG, PNG, WebP, TIFF)")
    parser.add_argument("-o", "--output", metavar="OUTPUT", required=True, help="marked copy")
    add_key_options(parser)
    parser.add_argument(
        "--payload",
        metavar="HEX",
        help="64-bit payload to embed, as 16 hex digits (default: random)",
    )
    parser.add_argument(
        "--strength",
        type=_strength,
        default=1.0,
        metavar="S",
        help=f"watermark strength, > 0 and <= {MAX_STRENGTH:g} (default: 1.0)",
    )
    parser.add_argument(
        "--quality",
        type=_quality,
        default=95,
        metavar="Q",
        help="JPEG / lossy WebP quality of the output, 1..100 (default: 95)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Mark one file; print one line (or one JSON object). Errors propagate to main."""
    from marking.image_io import embed_file

    record = embed_file(
        args.input,
        args.output,
        key=resolve_key(args),
        payload=args.payload,
        strength=args.strength,
        quality=args.quality,
    )
    if args.json:
        print(json_line(record))
    else:
        print(
            f"marked {record['input']} -> {record['output']} "
            f"payload={record['payload']} psnr={record['psnr']:.1f} dB"
        )
    return 0
