"""``aigc-mark test-ca``: a throwaway CA and C2PA signing certificate for demos and tests."""

from __future__ import annotations

import argparse
from typing import Any

from marking.errors import ExitCode


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "test-ca",
        help="make a throwaway test CA and C2PA signing certificate (never for production)",
        description="Write root.pem, root.key, chain.pem (signer + root) and signer.key into DIR. "
        "Readers trust the signer only when given root.pem as a trust anchor, and take the "
        "provider name from the certificate's Organization. Keys are written with mode 0600.",
    )
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument(
        "--force", action="store_true", help="replace those files in DIR if any exists"
    )
    parser.add_argument(
        "--organization", default="Example AI Provider", help="the provider name readers will show"
    )
    parser.set_defaults(run=run)
    return parser


#: The files make_test_ca writes into DIR (each refused if it exists, unless --force).
CA_FILES = ("root.pem", "root.key", "chain.pem", "signer.key")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marking.cli import refuse_existing
    from marking.cli.stdio import STDIO
    from marking.errors import UsageError
    from marking.media.atomic import display_path
    from marking.tags.test_ca import make_test_ca

    if args.directory == STDIO:
        raise UsageError("test-ca writes four files into DIR: name a directory, not -")
    refuse_existing([str(Path(args.directory, name)) for name in CA_FILES], args.force)
    ca = make_test_ca(args.directory, organization=args.organization)
    print(
        f"test CA in {display_path(args.directory)}: trust anchor {display_path(ca.root_cert)}, "
        f"sign with --c2pa-cert {display_path(ca.chain)} --c2pa-key {display_path(ca.key)}"
    )
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """0.1's ``python -m marking.test_ca DIR [--organization NAME]``: ``aigc-mark test-ca``."""
    import sys

    from marking.cli.main import main as aigc_mark

    return aigc_mark(["test-ca", *(sys.argv[1:] if argv is None else argv)])
