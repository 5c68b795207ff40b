"""atheris harness: ``read_xmp_fields`` (never raises) and ``update_xmp`` (reads back) on
arbitrary packets."""

from __future__ import annotations

import _common

from marking.tags.xmp import read_xmp_fields, update_xmp
from tests.support.fuzz_seeds import LABEL, XMP


def TestOneInput(data: bytes) -> None:
    read_xmp_fields(data)
    update = update_xmp(data, LABEL)
    assert read_xmp_fields(update.packet)[0] == LABEL


if __name__ == "__main__":
    _common.run(TestOneInput, [XMP])
