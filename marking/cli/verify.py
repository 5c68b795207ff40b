"""``aigc-mark verify``: report every AI mark in one or more files, and a verdict for each."""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import add_key_options, resolve_key, run_batch


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="report every AI mark in files: metadata label, IPTC, C2PA, watermark",
        description="For each FILE, read the GB 45438 metadata label, the IPTC digital source "
        "type, the C2PA manifest and the invisible watermark, check that they agree, and give "
        "a verdict. Exit 0 when any file carries an AI mark, 1 when none does, 3 when a file "
        "cannot be read (the others are still checked).",
    )
    parser.add_argument("inputs", metavar="FILE", nargs="+", help="files to check")
    add_key_options(parser)
    parser.add_argument(
        "--trust-anchors",
        metavar="PEM",
        help="root certificates (PEM) that make a C2PA signer trusted",
    )
    parser.set_defaults(run=run)
    return parser


def _summary(record: dict[str, Any]) -> str:
    parts = [record["verdict"]]
    if record["aigc"]:
        parts.append(
            f"label {record['aigc'].get('Label')} by {record['aigc'].get('ContentProducer')}"
        )
    c2pa = record["c2pa"] or {}
    if c2pa.get("state") not in (None, "absent"):
        parts.append(f"C2PA {c2pa['state']}")
    mark = record["watermark"] or {}
    if mark.get("detected"):
        parts.append(f"watermark {mark['payload']} (false alarm {mark['false_alarm']:.1e})")
    if record["agreement"] not in ("n/a", "agree"):
        parts.append(record["agreement"])
    return "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Verify every file; exit 0 if any carries an AI mark, 1 if none, 3 if any failed."""
    from marking.verify import verify_file

    key = resolve_key(args)

    def check(file: str) -> tuple[bool, dict[str, Any], str]:
        result = verify_file(file, key=key, trust_anchors=args.trust_anchors)
        record = result.to_dict()
        return result.ai_marked, record, _summary(record)

    return run_batch(args, check)
