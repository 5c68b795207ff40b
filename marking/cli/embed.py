"""``aigc-mark embed``: write a watermarked copy of an image, a recording or a video."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from marking.cli import (
    ProgressBar,
    add_key_options,
    add_output_options,
    applies_to,
    json_line,
    print_notes,
    refuse_inapplicable,
    resolve_key,
    single_file,
    watermark_kind,
)
from marking.cli.label import add_span_options, add_style_options, video_label_settings
from marking.errors import ExitCode
from marking.media.atomic import display_path
from marking.media.encoding import PROFILES, X264_PRESETS
from marking.scheme.limits import MAX_STRENGTH

if TYPE_CHECKING:
    from marking.scheme.keys import Key


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


def _crf(text: str) -> int:
    """argparse type: an integer CRF in 0..63."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= 63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 63, got {value}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "embed",
        help="write a watermarked copy of an image, a recording or a video",
        description="Write a watermarked copy of INPUT to OUTPUT. INPUT is never modified. "
        "The kind of media is read from the file's content. Images keep their metadata (ICC "
        "profile, EXIF, XMP, resolution, PNG text); the output format is INPUT's unless "
        "OUTPUT's suffix names another one (.jpg, .png, .webp, .tif). Recordings keep their "
        "format, encoding, sample rate and channels. Videos keep their container, size, frame "
        "rate, pixel format, colour tags and rotation; every frame is marked and re-encoded "
        "(libx264 CRF 18, libvpx-vp9 for WebM), and the sound track carries the audio "
        "watermark (same key and payload) unless --copy-audio.",
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="image (JPEG, PNG, WebP, TIFF), recording (WAV, FLAC, OGG, MP3) or video "
        "(MP4, MOV, MKV, WebM) to mark",
    )
    add_output_options(parser, "marked copy")
    add_key_options(parser)
    parser.add_argument(
        "--payload",
        metavar="HEX",
        help="64-bit payload to embed, as 16 hex digits (default: the one INPUT's metadata "
        "label names, else random)",
    )
    parser.add_argument(
        "--strength",
        type=_strength,
        default=1.0,
        metavar="S",
        help=f"watermark strength, > 0 and <= {MAX_STRENGTH:g} (default: 1.0)",
    )
    quality = parser.add_argument(
        "--quality",
        type=_quality,
        default=None,
        metavar="Q",
        help="JPEG / lossy WebP quality of the output, 1..100 (default: 95; images only)",
    )
    applies_to(("image",), quality)
    video_options = _add_video_options(parser.add_argument_group("video"))
    shown = parser.add_argument_group(
        "visible label (video, with --label; the options of aigc-mark label, prefixed)"
    )
    video_options += add_style_options(shown, prefix="label-")
    video_options += add_span_options(shown, prefix="label-")
    applies_to(("video",), *video_options)
    parser.set_defaults(run=single_file(run))
    return parser


def _add_video_options(video: Any) -> list[Any]:
    """The encoder and sound options of a video (``video``: their argument group)."""
    return [
        video.add_argument(
            "--codec", metavar="NAME", help="video encoder (default: libx264; libvpx-vp9 for WebM)"
        ),
        video.add_argument(
            "--crf", type=_crf, metavar="N", help="encoder constant rate factor (default: 18)"
        ),
        video.add_argument(
            "--x264-preset",
            choices=X264_PRESETS,
            metavar="PRESET",
            help="encoder speed preset, one of " + ", ".join(X264_PRESETS) + " (default: medium)",
        ),
        video.add_argument(
            "--profile",
            choices=list(PROFILES),
            default="default",
            help="encoding profile: default (libx264 CRF 18 preset medium) or fast (preset "
            "veryfast: 1080p30 marked at about real time on 2 cores, every robustness attack still "
            "survived); --crf and --x264-preset override it",
        ),
        video.add_argument(
            "--match-size",
            action="store_true",
            help="encode the marked video to within 5%% of the bytes a plain re-encode with the "
            "same settings takes (a plain pass first, then the encoder's two-pass mode: 2 to 3 "
            "times the time)",
        ),
        video.add_argument(
            "--copy-audio",
            action="store_true",
            help="copy the sound track untouched instead of watermarking it",
        ),
        video.add_argument(
            "--label",
            action="store_true",
            help="also burn in the visible label (aigc-mark label's; default 'AI生成', "
            "bottom-right, first 2 s) in the same pass, before the watermark",
        ),
    ]


def run(args: argparse.Namespace) -> int:
    """Mark one file; print one line (or one JSON object). Errors propagate to main."""
    from marking.media.sniffing import AUDIO, VIDEO
    from marking.tags.tagging import carry_label, embedding_payload

    key = resolve_key(args)
    kind = watermark_kind(args.input)
    refuse_inapplicable(args, kind)
    args.payload = embedding_payload(args.input, args.payload)  # a label fixes the payload
    if kind == VIDEO:
        record = _embed_video(args, key)
        measure = (
            "unchanged (nothing to mark)"
            if record["psnr_mean"] is None
            else f"psnr={record['psnr_mean']:.1f} dB (min {record['psnr_min']:.1f})"
        )
        measure += f" audio={record['audio']}"
        if record["match_size"] is not None:
            measure += f" size={record['match_size']['ratio']:.3f}x plain"
    elif kind == AUDIO:
        record = _embed_audio(args, key)
        snr = record["snr_db"]
        measure = "silent (nothing to mark)" if snr is None else f"snr={snr:.1f} dB"
    else:
        from marking.files.image import embed_file

        record = embed_file(
            args.input,
            args.output,
            key=key,
            payload=args.payload,
            strength=args.strength,
            quality=95 if args.quality is None else args.quality,
        )
        measure = f"psnr={record['psnr']:.1f} dB"
    carry_label(args.input, args.output)  # tag, then embed: the label stays
    if args.json:
        from marking.scheme.results import as_json_record

        print(json_line(as_json_record(record, kind=kind)))  # every verb's records: kind
    else:
        source, target = display_path(record["input"]), display_path(record["output"])
        print(f"marked {source} -> {target} payload={record['payload']} {measure}")
    print_notes(record, args.input)
    return ExitCode.OK


def _label_options_given(args: argparse.Namespace) -> list[str]:
    """The ``--label-*`` options set to something other than their default."""
    defaults = _label_defaults()
    return [
        "--" + name.replace("_", "-")
        for name, default in defaults.items()
        if getattr(args, name) != default
    ]


def _label_defaults() -> dict[str, Any]:
    probe = argparse.ArgumentParser(add_help=False)
    add_style_options(probe, prefix="label-")
    add_span_options(probe, prefix="label-")
    return vars(probe.parse_args([]))


def _embed_video(args: argparse.Namespace, key: Key) -> dict[str, Any]:
    from marking.errors import UsageError
    from marking.files.video import embed_video_file
    from marking.media.video import EncoderSettings

    label_options = _label_options_given(args)
    if label_options and not args.label:
        raise UsageError(f"{', '.join(label_options)}: add --label to burn in the label")
    profile = PROFILES[args.profile]
    settings = EncoderSettings(
        codec=args.codec,
        crf=profile.crf if args.crf is None else args.crf,
        preset=args.x264_preset or profile.preset,
    )
    label = video_label_settings(args, prefix="label-") if args.label else None
    bar = ProgressBar(f"marking {args.input}")
    try:
        return embed_video_file(
            args.input,
            args.output,
            key=key,
            payload=args.payload,
            strength=args.strength,
            settings=settings,
            copy_audio=args.copy_audio,
            label=label,
            progress=bar,
            match_size=args.match_size,
        )
    finally:
        bar.close()


def _embed_audio(args: argparse.Namespace, key: Key) -> dict[str, Any]:
    from marking.files.audio import embed_audio_file

    bar = ProgressBar(f"marking {args.input}", unit="sample")
    try:
        return embed_audio_file(
            args.input,
            args.output,
            key=key,
            payload=args.payload,
            strength=args.strength,
            progress=bar,
        )
    finally:
        bar.close()
