"""``aigc-mark verify``: report every AI mark in one or more files, and a verdict for each."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from marking.cli import add_key_options, print_error, resolve_key, stdin_batch
from marking.cli.mark import add_batch_options, batch_jobs, run_records
from marking.errors import ExitCode


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="report every AI mark in files: metadata label, IPTC, C2PA, watermark",
        description="For each FILE, read the GB 45438 metadata label, the IPTC digital source "
        "type, the C2PA manifest and the invisible watermark, check that they agree, and give "
        "a verdict. FILE may also be a directory (walked recursively), a glob pattern or '-' "
        "for standard input: a file piped in (its content is media), else paths, one a line; "
        "many files are checked in parallel. Exit "
        f"{ExitCode.OK} when any file carries an AI mark, {ExitCode.NO_MARK} when none does, "
        f"{ExitCode.FAILED} when a file cannot be read (the others are still checked), "
        f"{ExitCode.INTERRUPTED} when interrupted by Ctrl-C (SIGINT), {ExitCode.TERMINATED} by "
        "SIGTERM.",
    )
    parser.add_argument(
        "inputs", metavar="FILE", nargs="+", help="files, directories, globs, or - (stdin)"
    )
    add_batch_options(parser)
    add_key_options(parser)
    parser.add_argument(
        "--trust-anchors",
        metavar="PEM",
        help="root certificates (PEM) that make a C2PA signer trusted",
    )
    parser.set_defaults(run=stdin_batch(run))
    return parser


def _summary(record: dict[str, Any]) -> str:
    """One line about a verified file."""
    from marking.pipeline.verify import signer_name

    if record["status"] == "skipped":
        return f"skipped ({record['reason']})"
    parts = [record["verdict"]]
    if record["aigc"]:
        parts.append(
            f"label {record['aigc'].get('Label')} by {record['aigc'].get('ContentProducer')}"
        )
    c2pa = record["c2pa"] or {}
    if c2pa.get("state") in ("valid", "untrusted"):
        parts.append(f"C2PA {c2pa['state']} (signer {signer_name(c2pa)})")
    elif c2pa.get("state") not in (None, "absent"):
        parts.append(f"C2PA {c2pa['state']}")
    mark = record["watermark"] or {}
    if mark.get("detected"):
        parts.append(f"watermark {mark['payload']} (false alarm {mark['false_alarm']:.1e})")
    # "agree" goes without saying: the verdict names the trusted signer that backs the
    # watermark. "consistent" (named only by unsigned metadata) and the rest are said.
    if record["agreement"] not in ("n/a", "agree"):
        parts.append(record["agreement"])
    # The reasons (truncated, watermark not checked, manifest invalid, label copied...).
    parts.extend(record.get("notes") or [])
    return "; ".join(parts)


def _with_old_keys(record: dict[str, Any]) -> dict[str, Any]:
    """Every verify record keeps ``file`` and ``modality`` (0.1's names) for one release."""
    from marking.pipeline.jobs import with_old_keys

    return with_old_keys(record, "modality", "file")


def run(args: argparse.Namespace) -> int:
    """Verify every file; exit 0 if any carries an AI mark, 1 if none, 3 if any failed."""
    from functools import partial

    from marking.pipeline.inputs import verify_jobs
    from marking.pipeline.jobs import verify_one

    key = resolve_key(args)
    if args.trust_anchors is not None:
        from marking.pipeline.verify import read_trust_anchors

        read_trust_anchors(args.trust_anchors)  # a bad file is one usage error, not one per file
    if args.json and args.report is None:
        args.report = "-"
    jobs = batch_jobs(verify_jobs(args.inputs), args.report)
    work = partial(verify_one, key=key, trust_anchors=args.trust_anchors)
    counts, interrupted = run_records(
        args, jobs, work, _summary, summary=sys.stderr.isatty(), complete=_with_old_keys
    )
    if interrupted is not None:
        print_error("interrupted")
        return interrupted
    if counts.get("failed"):
        return ExitCode.FAILED
    return ExitCode.OK if counts.get("ai-marked") else ExitCode.NO_MARK
