"""``aigc-mark label``: write a copy of a picture, video or recording with its explicit label.

Pictures and videos get the visible text label; recordings get the audio cue (Morse "AI" or a
spoken prompt). The kind of media is read from the file's content, not its name.
"""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import json_line
from marking.label_options import DEFAULT_TEXT, POSITIONS, PRESETS

PLACES = ("start", "middle", "end")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _places(text: str) -> tuple[str, ...]:
    places = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [place for place in places if place not in PLACES]
    if not places or unknown:
        raise argparse.ArgumentTypeError(f"give a comma-separated subset of {', '.join(PLACES)}")
    return places


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "label",
        help="write a copy with the explicit label people see or hear",
        description="Write a copy of INPUT with the explicit AI label of GB 45438: visible text "
        "on a picture or video (default 'AI生成', bottom-right, at least 5%% of the short side, "
        "4.5:1 contrast; on video for the first 2 s), or the Morse 'AI' cue (or a spoken "
        "prompt) before a recording. INPUT is never modified.",
    )
    parser.add_argument("input", metavar="INPUT", help="picture, video or recording")
    parser.add_argument("-o", "--output", metavar="OUTPUT", required=True, help="labeled copy")
    text = parser.add_argument_group("text label (pictures and video)")
    wording = text.add_mutually_exclusive_group()
    wording.add_argument("--text", help="label text (default: AI生成)")
    wording.add_argument("--preset", choices=PRESETS, help="a standard wording")
    text.add_argument("--position", choices=POSITIONS, default="bottom-right")
    text.add_argument(
        "--height",
        type=_positive,
        default=0.05,
        metavar="F",
        help="text height as a fraction of the short side, >= 0.05 (default 0.05)",
    )
    text.add_argument(
        "--opacity",
        type=float,
        default=0.6,
        help="plate opacity (raised if needed for 4.5:1 contrast; default 0.6)",
    )
    text.add_argument("--backing", choices=("plate", "outline"), default="plate")
    text.add_argument(
        "--colors", choices=("light-on-dark", "dark-on-light"), default="light-on-dark"
    )
    text.add_argument("--font", metavar="FILE", help="font file (default: the shipped CJK font)")
    text.add_argument(
        "--quality",
        type=int,
        default=95,
        metavar="Q",
        help="JPEG/WebP quality for pictures (default 95)",
    )
    video = parser.add_argument_group("video")
    span = video.add_mutually_exclusive_group()
    span.add_argument(
        "--duration",
        type=_positive,
        default=2.0,
        metavar="S",
        help="label the first S seconds, >= 2 (default 2)",
    )
    span.add_argument("--whole", action="store_true", help="label every frame")
    video.add_argument("--also-end", type=_positive, metavar="S", help="also the last S seconds")
    video.add_argument(
        "--also-middle", type=_positive, metavar="S", help="also S seconds around the middle"
    )
    video.add_argument("--codec", help="video encoder (default: libx264, libvpx-vp9 for WebM)")
    video.add_argument("--crf", type=int, default=18, help="encoder CRF (default 18)")
    video.add_argument(
        "--preset-x264",
        dest="encoder_preset",
        default="medium",
        metavar="PRESET",
        help="encoder speed preset (default medium)",
    )
    audio = parser.add_argument_group("audio cue")
    audio.add_argument(
        "--cue",
        choices=("morse", "speech"),
        default="morse",
        help="Morse 'AI' tones or a spoken prompt (default morse)",
    )
    audio.add_argument("--speech", metavar="FILE", help="the spoken prompt, for --cue speech")
    audio.add_argument(
        "--cue-at",
        type=_places,
        default=("start",),
        metavar="PLACES",
        help="where: start, middle, end, comma-separated (default start)",
    )
    audio.add_argument(
        "--mix", action="store_true", help="mix the cue over the content instead of inserting it"
    )
    audio.add_argument("--unit-ms", type=_positive, default=100.0, help="Morse unit (100 ms)")
    audio.add_argument("--tone-hz", type=_positive, default=800.0, help="tone (800 Hz)")
    audio.add_argument("--level-dbfs", type=float, default=-12.0, help="cue peak (-12 dBFS)")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.set_defaults(run=run)
    return parser


def _style(args: argparse.Namespace) -> Any:
    from marking.visible_label import LabelStyle

    text = args.text or (PRESETS[args.preset] if args.preset else DEFAULT_TEXT)
    return LabelStyle(
        text=text,
        position=args.position,
        height_fraction=args.height,
        opacity=args.opacity,
        colors=args.colors,
        backing=args.backing,
        font_path=args.font,
    )


def _label(args: argparse.Namespace) -> dict[str, Any]:
    from marking.errors import UsageError
    from marking.media_kind import AUDIO, IMAGE, media_kind

    kind = media_kind(args.input)
    if kind == IMAGE:
        from marking.image_io import label_file

        return {
            "kind": kind,
            **label_file(args.input, args.output, _style(args), quality=args.quality),
        }
    if kind == AUDIO:
        from marking.audio_cue import CueSettings, label_audio_file

        if args.cue == "speech" and not args.speech:
            raise UsageError("--cue speech needs --speech FILE")
        settings = CueSettings(
            kind=args.cue,
            places=args.cue_at,
            mode="mix" if args.mix else "prepend",
            unit_s=args.unit_ms / 1000,
            tone_hz=args.tone_hz,
            level_dbfs=args.level_dbfs,
            speech_path=args.speech,
        )
        return {"kind": kind, **label_audio_file(args.input, args.output, settings)}
    from marking.video_io import EncoderSettings
    from marking.video_label import VideoLabelSettings, label_video

    settings = VideoLabelSettings(
        style=_style(args),
        start_s=args.duration,
        whole=args.whole,
        also_end_s=args.also_end,
        also_middle_s=args.also_middle,
    )
    encoder = EncoderSettings(codec=args.codec, crf=args.crf, preset=args.encoder_preset)
    return {"kind": kind, **label_video(args.input, args.output, settings, encoder)}


def run(args: argparse.Namespace) -> int:
    """Label one file; print one line (or one JSON object). Errors propagate to main."""
    record = _label(args)
    if args.json:
        print(json_line(record))
    else:
        print(f"labeled {record['kind']} {record['input']} -> {record['output']}")
    return 0
