"""``aigc-mark embed``: write a watermarked copy of an image or a recording."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from marking.cli import add_key_options, json_line, resolve_key, watermark_kind

if TYPE_CHECKING:
    from marking.keys import Key

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
        help="write a watermarked copy of an image or a recording",
        description="Write a watermarked copy of INPUT to OUTPUT. INPUT is never modified. "
        "The kind of media is read from the file's content. Images keep their metadata (ICC "
        "profile, EXIF, XMP, resolution, PNG text); the output format is INPUT's unless "
        "OUTPUT's suffix names another one (.jpg, .png, .webp, .tif). Recordings keep their "
        "format, encoding, sample rate and channels.",
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="image (JPEG, PNG, WebP, TIFF) or recording (WAV, FLAC, OGG, MP3) to mark",
    )
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
        default=None,
        metavar="Q",
        help="JPEG / lossy WebP quality of the output, 1..100 (default: 95; images only)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Mark one file; print one line (or one JSON object). Errors propagate to main."""
    from marking.media_kind import AUDIO

    key = resolve_key(args)
    if watermark_kind(args.input) == AUDIO:
        record = _embed_audio(args, key)
        snr = record["snr_db"]
        measure = "silent (nothing to mark)" if snr is None else f"snr={snr:.1f} dB"
    else:
        from marking.image_io import embed_file

        record = embed_file(
            args.input,
            args.output,
            key=key,
            payload=args.payload,
            strength=args.strength,
            quality=95 if args.quality is None else args.quality,
        )
        measure = f"psnr={record['psnr']:.1f} dB"
    if args.json:
        print(json_line(record))
    else:
        print(
            f"marked {record['input']} -> {record['output']} payload={record['payload']} {measure}"
        )
    return 0


def _embed_audio(args: argparse.Namespace, key: Key) -> dict[str, Any]:
    from marking.audio_watermark_io import embed_audio_file
    from marking.errors import UsageError

    if args.quality is not None:
        raise UsageError(
            "--quality applies to JPEG and WebP output; a marked recording keeps its format"
        )
    return embed_audio_file(
        args.input, args.output, key=key, payload=args.payload, strength=args.strength
    )
