"""``aigc-mark serve``: the free public detection tool, a web page and an HTTP API that check
any upload for every mark (needs the ``serve`` extra)."""

from __future__ import annotations

import argparse
from typing import Any

from marking.cli import warn_if_exposed, whole_number
from marking.errors import ExitCode, UsageError


def _megabytes(text: str) -> int:
    """argparse type: a positive number of megabytes, as bytes."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of megabytes: {text!r}") from None
    if not 0 < value <= 1024 * 1024:
        raise argparse.ArgumentTypeError("give a size in MB above 0 (at most 1048576)")
    return int(value * 1024 * 1024)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0-65535 (0: any free port)")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve",
        help="serve the public detection tool: a web page and an HTTP API",
        description="Serve a web page and an HTTP API (/api/v1/verify, described at "
        "/api/v1/openapi.json) that check any uploaded picture, recording or video for every "
        "AI mark, as `verify` does, answering with system provenance only. Verification runs "
        "in --workers warm processes; requests beyond those and a short waiting line get 429. "
        "Stop it with Ctrl-C. Needs the serve extra: pip install 'aigc-marking[serve]'.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port (8000; 0: any free)")
    parser.add_argument(
        "--workers", type=whole_number, metavar="N", help="verification processes (one per core)"
    )
    parser.add_argument(
        "--keys-file",
        metavar="FILE",
        help="the provider's secret keys, one a line (# comments); the public key is always "
        "tried too",
    )
    parser.add_argument(
        "--trust-anchors", metavar="PEM", help="root certificates that make a C2PA signer trusted"
    )
    parser.add_argument(
        "--max-upload-mb",
        type=_megabytes,
        default=512 * 1024 * 1024,
        metavar="M",
        help="largest upload accepted, in MB (512)",
    )
    parser.add_argument(
        "--allow-url-fetch",
        action="store_true",
        help="also verify public http(s) addresses (POST /api/v1/verify-url)",
    )
    parser.add_argument(
        "--feedback-dir",
        metavar="DIR",
        help="collect users' feedback, as JSON lines in DIR/feedback.jsonl",
    )
    parser.add_argument(
        "--queue", type=int, metavar="N", help="requests that may wait for a worker (4 per worker)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds a verification may take (120)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds a client has to send a request's headers (10)",
    )
    parser.add_argument(
        "--upload-idle-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="longest pause in an upload, in seconds (20)",
    )
    # Tests serve a file from 127.0.0.1 to the URL fetcher; never for a public server.
    parser.add_argument("--allow-loopback-fetch", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the options, then serve until stopped."""
    try:
        from marking.server.serve import run as serve
        from marking.server.settings import ServerSettings, default_workers
    except ImportError as error:
        raise UsageError(
            f"aigc-mark serve needs the serve extra ({error.name} is missing): "
            "pip install 'aigc-marking[serve]'"
        ) from None
    _check_files(args)
    settings = ServerSettings(
        host=args.host,
        port=args.port,
        workers=args.workers or default_workers(),
        keys_file=args.keys_file,
        trust_anchors=args.trust_anchors,
        max_upload_bytes=args.max_upload_mb,
        allow_url_fetch=args.allow_url_fetch,
        allow_loopback_fetch=args.allow_loopback_fetch,
        feedback_dir=args.feedback_dir,
        queue_limit=args.queue,
        verify_timeout=args.timeout,
        header_timeout=args.header_timeout,
        upload_idle_timeout=args.upload_idle_timeout,
    )
    try:
        serve(settings)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
    return ExitCode.OK


def _check_files(args: argparse.Namespace) -> None:
    """A bad keys file or trust-anchor file is one usage error at start, not one per request."""
    if args.keys_file is not None:
        from marking.files.key_file import load_keys

        warn_if_exposed(args.keys_file)
        try:
            load_keys(args.keys_file)
        except OSError as error:
            raise UsageError(f"--keys-file: {error.strerror or error}") from None
        except ValueError as error:
            raise UsageError(f"--keys-file: {error}") from None
    if args.trust_anchors is not None:
        from marking.pipeline.verify import read_trust_anchors

        read_trust_anchors(args.trust_anchors)
    if args.queue is not None and args.queue < 0:
        raise UsageError("--queue must be 0 or more")
    for option in ("timeout", "header_timeout", "upload_idle_timeout"):
        if not getattr(args, option) > 0:
            raise UsageError(f"--{option.replace('_', '-')} must be above 0 seconds")
    if args.feedback_dir is not None:
        from pathlib import Path

        try:
            Path(args.feedback_dir).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--feedback-dir: {error.strerror}") from None
