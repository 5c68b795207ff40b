"""``aigc-mark label``: write a copy of a picture, video or recording with its explicit label.

Pictures and videos get the visible text label; recordings get the audio cue (Morse "AI" or a
spoken prompt). The kind of media is read from the file's content, not its name.
"""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import (
    add_output_options,
    applies_to,
    json_line,
    print_notes,
    refuse_inapplicable,
    single_file,
)
from marking.errors import ExitCode
from marking.labels.options import DEFAULT_TEXT, POSITIONS, PRESETS
from marking.media.atomic import display_path
from marking.media.encoding import X264_PRESETS
from marking.media.sniffing import AUDIO, IMAGE, VIDEO

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


def _option(prefix: str, name: str) -> str:
    return f"--{prefix}{name}"


def _dest(prefix: str, name: str) -> str:
    return f"{prefix}{name}".replace("-", "_")


def add_style_options(group: Any, prefix: str = "") -> list[argparse.Action]:
    """The text label's look: ``--text``/``--label-preset``, position, height, backing...

    ``prefix`` (e.g. ``"label-"``) names them for another command (``aigc-mark embed``
    burns the label in while it marks a video); :func:`style_from` reads them back. The
    standard wording is ``--label-preset`` either way (``--x264-preset`` is the encoder's).
    Returns the options, for :func:`~marking.cli.applies_to`.
    """
    wording = group.add_mutually_exclusive_group()
    actions = [
        wording.add_argument(
            _option(prefix, "text"),
            dest=_dest(prefix, "text"),
            metavar="TEXT",
            help="label text (default: AI生成)",
        ),
        wording.add_argument(
            "--label-preset", dest="label_preset", choices=PRESETS, help="a standard wording"
        ),
    ]
    return actions + _add_look_options(group, prefix)


def _add_look_options(group: Any, prefix: str) -> list[argparse.Action]:
    """Position, height, opacity, backing, colours and font of the text label."""
    return [
        group.add_argument(
            _option(prefix, "position"),
            dest=_dest(prefix, "position"),
            choices=POSITIONS,
            default="bottom-right",
        ),
        group.add_argument(
            _option(prefix, "height"),
            dest=_dest(prefix, "height"),
            type=_positive,
            default=0.05,
            metavar="F",
            help="text height as a fraction of the short side, >= 0.05 (default 0.05)",
        ),
        group.add_argument(
            _option(prefix, "opacity"),
            dest=_dest(prefix, "opacity"),
            metavar="OPACITY",
            type=float,
            default=0.6,
            help="plate opacity (raised if needed for 4.5:1 contrast; default 0.6)",
        ),
        group.add_argument(
            _option(prefix, "backing"),
            dest=_dest(prefix, "backing"),
            choices=("plate", "outline"),
            default="plate",
        ),
        group.add_argument(
            _option(prefix, "colors"),
            dest=_dest(prefix, "colors"),
            choices=("light-on-dark", "dark-on-light"),
            default="light-on-dark",
        ),
        group.add_argument(
            _option(prefix, "font"),
            dest=_dest(prefix, "font"),
            metavar="FILE",
            help="font file (default: the shipped CJK font)",
        ),
    ]


def add_span_options(group: Any, prefix: str = "") -> list[argparse.Action]:
    """When a video shows the label: ``--duration``/``--whole``, ``--also-end``, ...

    ``prefix`` as for :func:`add_style_options`; :func:`video_label_settings` reads them.
    Returns the options, for :func:`~marking.cli.applies_to`.
    """
    span = group.add_mutually_exclusive_group()
    return [
        span.add_argument(
            _option(prefix, "duration"),
            dest=_dest(prefix, "duration"),
            type=_positive,
            default=2.0,
            metavar="S",
            help="label the first S seconds, >= 2 (default 2)",
        ),
        span.add_argument(
            _option(prefix, "whole"),
            dest=_dest(prefix, "whole"),
            action="store_true",
            help="label every frame",
        ),
        group.add_argument(
            _option(prefix, "also-end"),
            dest=_dest(prefix, "also-end"),
            type=_positive,
            metavar="S",
            help="also the last S seconds",
        ),
        group.add_argument(
            _option(prefix, "also-middle"),
            dest=_dest(prefix, "also-middle"),
            type=_positive,
            metavar="S",
            help="also S seconds around the middle",
        ),
    ]


def style_from(args: argparse.Namespace, prefix: str = "") -> Any:
    """The :class:`~marking.labels.visible.LabelStyle` that :func:`add_style_options` asked for."""
    from marking.labels.visible import LabelStyle

    def value(name: str) -> Any:
        return getattr(args, _dest(prefix, name))

    preset = args.label_preset
    text = value("text") or (PRESETS[preset] if preset else DEFAULT_TEXT)
    return LabelStyle(
        text=text,
        position=value("position"),
        height_fraction=value("height"),
        opacity=value("opacity"),
        colors=value("colors"),
        backing=value("backing"),
        font_path=value("font"),
    )


def video_label_settings(args: argparse.Namespace, prefix: str = "") -> Any:
    """The :class:`~marking.labels.video_label.VideoLabelSettings` the style and span options
    give."""
    from marking.labels.video_label import VideoLabelSettings

    def value(name: str) -> Any:
        return getattr(args, _dest(prefix, name))

    return VideoLabelSettings(
        style=style_from(args, prefix),
        start_s=value("duration"),
        whole=value("whole"),
        also_end_s=value("also-end"),
        also_middle_s=value("also-middle"),
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "label",
        help="write a copy with the explicit label people see or hear",
        description="Write a copy of INPUT with the explicit AI label of GB 45438: visible text "
        "on a picture or video (default 'AI生成', bottom-right, at least 5% of the short side, "
        "4.5:1 contrast; on video for the first 2 s), or the Morse 'AI' cue (or a spoken "
        "prompt) before a recording. INPUT is never modified.",
    )
    parser.add_argument("input", metavar="INPUT", help="picture, video or recording")
    add_output_options(parser, "labeled copy")
    text = parser.add_argument_group("text label (pictures and video)")
    applies_to((IMAGE, VIDEO), *add_style_options(text))
    quality = text.add_argument(
        "--quality",
        type=int,
        default=95,
        metavar="Q",
        help="JPEG/WebP quality for pictures (default 95)",
    )
    applies_to((IMAGE,), quality)
    video = parser.add_argument_group("video")
    video_options = [
        *add_span_options(video),
        video.add_argument("--codec", help="video encoder (default: libx264, libvpx-vp9 for WebM)"),
        video.add_argument("--crf", type=int, default=18, help="encoder CRF (default 18)"),
        video.add_argument(
            "--x264-preset",
            default="medium",
            choices=X264_PRESETS,
            metavar="PRESET",
            help="encoder speed preset (default medium)",
        ),
    ]
    applies_to((VIDEO,), *video_options)
    audio = parser.add_argument_group("audio cue")
    audio_options = [
        audio.add_argument(
            "--cue",
            choices=("morse", "speech"),
            default="morse",
            help="Morse 'AI' tones or a spoken prompt (default morse)",
        ),
        audio.add_argument("--speech", metavar="FILE", help="the spoken prompt, for --cue speech"),
        audio.add_argument(
            "--cue-at",
            type=_places,
            default=("start",),
            metavar="PLACES",
            help="where: start, middle, end, comma-separated (default start)",
        ),
        audio.add_argument(
            "--mix",
            action="store_true",
            help="mix the cue over the content instead of inserting it",
        ),
        audio.add_argument("--unit-ms", type=_positive, default=100.0, help="Morse unit (100 ms)"),
        audio.add_argument("--tone-hz", type=_positive, default=800.0, help="tone (800 Hz)"),
        audio.add_argument("--level-dbfs", type=float, default=-12.0, help="cue peak (-12 dBFS)"),
    ]
    applies_to((AUDIO,), *audio_options)
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.set_defaults(run=single_file(run))
    return parser


def _label(args: argparse.Namespace) -> dict[str, Any]:
    from marking.errors import UsageError
    from marking.media.sniffing import media_kind

    kind = media_kind(args.input)
    refuse_inapplicable(args, kind)
    if kind == IMAGE:
        from marking.files.image import label_file

        return {
            "kind": kind,
            **label_file(args.input, args.output, style_from(args), quality=args.quality),
        }
    if kind == AUDIO:
        from marking.files.audio import label_audio_file
        from marking.labels.audio_cue import CueSettings

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
    from marking.files.video import label_video
    from marking.media.video import EncoderSettings

    settings = video_label_settings(args)
    encoder = EncoderSettings(codec=args.codec, crf=args.crf, preset=args.x264_preset)
    return {"kind": kind, **label_video(args.input, args.output, settings, encoder)}


def run(args: argparse.Namespace) -> int:
    """Label one file; print one line (or one JSON object). Errors propagate to main."""
    record = _label(args)
    if args.json:
        print(json_line(record))
    else:
        source, target = display_path(record["input"]), display_path(record["output"])
        print(f"labeled {record['kind']} {source} -> {target}")
    print_notes(record, args.input)
    return ExitCode.OK
