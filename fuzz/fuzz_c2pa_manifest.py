"""atheris harness: ``read_manifest`` on arbitrary (mostly mutated signed JPEG) files."""

from __future__ import annotations

import _common

from marking.errors import MarkingError
from marking.tags.c2pa_read import read_manifest
from tests.support.fuzz_seeds import c2pa_seed

WORKDIR = _common.workdir()
PATH = WORKDIR / "input.jpg"


def TestOneInput(data: bytes) -> None:
    PATH.write_bytes(data)
    try:
        report = read_manifest(PATH)
    except MarkingError:
        return
    assert report.state != "valid"  # no trust anchors given


if __name__ == "__main__":
    _common.run(TestOneInput, [c2pa_seed(WORKDIR)])
