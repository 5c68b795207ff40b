"""``aigc-mark tag``: write the machine-readable label (GB 45438, IPTC, C2PA) into a copy."""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import (
    add_key_options,
    add_output_options,
    add_signing_options,
    json_line,
    print_notes,
    require_signing_pair,
    resolve_key,
    single_file,
)
from marking.errors import ExitCode
from marking.media.atomic import display_path
from marking.tags.source_types import TRAINED_ALGORITHMIC_MEDIA as TRAINED


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "tag",
        help="write the implicit label (GB 45438 metadata, IPTC, C2PA) into a copy",
        description="Write a copy of INPUT carrying the GB 45438 implicit label (and, for "
        "pictures, the IPTC digital source type) in its metadata, without re-encoding; with "
        "--c2pa-cert and --c2pa-key also a signed C2PA manifest over it. INPUT is never "
        "modified; tagging a tagged file replaces its label. When INPUT already carries the "
        "invisible watermark (looked for with --key), the label names its payload (in "
        "ReservedCode1 when producer and ProduceID do not imply it) and the manifest binds to "
        "it, so verify finds them agreeing.",
    )
    parser.add_argument("input", metavar="INPUT")
    add_output_options(parser, "tagged copy")
    parser.add_argument("--producer", required=True, help="ContentProducer: provider name/code")
    parser.add_argument("--produce-id", help="ProduceID (default: a random unique id)")
    parser.add_argument("--propagator", help="ContentPropagator (default: the producer)")
    parser.add_argument("--propagate-id", help="PropagateID (default: the ProduceID)")
    parser.add_argument(
        "--label-level",
        choices=("1", "2", "3"),
        default="1",
        help="GB 45438 Label: 1 AI-generated, 2 possibly, 3 suspected (default 1)",
    )
    parser.add_argument("--reserved1", default="", help="ReservedCode1 (integrity data)")
    parser.add_argument("--reserved2", default="", help="ReservedCode2")
    parser.add_argument(
        "--check-provider-code",
        action="store_true",
        help="require the 27-character TC260 provider code form",
    )
    parser.add_argument(
        "--source-type",
        default=TRAINED,
        metavar="URI",
        help="IPTC digital source type (default trainedAlgorithmicMedia)",
    )
    add_signing_options(parser)
    parser.add_argument("--tsa-url", help="RFC 3161 timestamp authority for the signature")
    parser.add_argument(
        "--system-name",
        help="name of the generating AI system, for C2PA (default aigc-marking)",
    )
    parser.add_argument("--system-version", help="its version, for C2PA")
    parser.add_argument(
        "--watermark-payload",
        metavar="HEX",
        help="require INPUT's watermark to carry this payload (an error otherwise); the label "
        "and the manifest bind to the watermark found either way",
    )
    add_key_options(parser)  # the key the watermark is looked for with; and --json
    parser.set_defaults(run=single_file(run))
    return parser


def run(args: argparse.Namespace) -> int:
    from marking.errors import UsageError
    from marking.pipeline.mark import tag_marked_file
    from marking.tags.aigc_label import AigcLabel, validate_provider_code
    from marking.tags.tagging import Signing

    require_signing_pair(args)
    if args.tsa_url and not args.c2pa_cert:
        raise UsageError("--tsa-url needs --c2pa-cert and --c2pa-key")
    for given, option in (
        (args.c2pa_thumbnail, "--c2pa-thumbnail"),
        (args.system_name is not None, "--system-name"),
        (args.system_version is not None, "--system-version"),
    ):
        if given and not args.c2pa_cert:
            raise UsageError(f"{option} needs --c2pa-cert and --c2pa-key")
    if args.check_provider_code:
        validate_provider_code(args.producer)
    label = AigcLabel.create(
        args.producer,
        produce_id=args.produce_id,
        propagator=args.propagator,
        propagate_id=args.propagate_id,
        label=args.label_level,
        reserved1=args.reserved1,
        reserved2=args.reserved2,
    )
    signing = None
    if args.c2pa_cert:
        signing = Signing(
            args.c2pa_cert,
            args.c2pa_key,
            system_name=args.system_name or "aigc-marking",
            system_version=args.system_version or "",
            tsa_url=args.tsa_url,
            thumbnail=args.c2pa_thumbnail,
        )
    record = tag_marked_file(
        args.input,
        args.output,
        label,
        key=resolve_key(args),
        source_type=args.source_type,
        signing=signing,
        watermark_payload=args.watermark_payload,
    )
    if args.json:
        print(json_line(record))
    else:
        signed = " and signed (C2PA)" if signing else ""
        source, target = display_path(args.input), display_path(args.output)
        bound = f", bound to watermark {record['watermark']}" if record["watermark"] else ""
        print(
            f"tagged {record['kind']} {source} -> {target}{signed}: "
            f"ProduceID {display_path(label.produce_id)}{bound}"
        )
    print_notes(record, args.input)
    return ExitCode.OK
