"""atheris harness: ``read_media_label`` (ID3, RIFF, Vorbis comment, EBML/ISO via PyAV) on
arbitrary files. The first input byte picks the file suffix."""

from __future__ import annotations

import contextlib

import _common

from marking.errors import MarkingError
from marking.tags.containers import read_media_label
from tests.support.fuzz_seeds import MEDIA_SUFFIXES, media_seed

WORKDIR = _common.workdir()


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    path = WORKDIR / f"input.{MEDIA_SUFFIXES[data[0] % len(MEDIA_SUFFIXES)]}"
    path.write_bytes(data[1:])
    with contextlib.suppress(MarkingError):
        read_media_label(path)


if __name__ == "__main__":
    seeds = [bytes([i]) + media_seed(suffix, WORKDIR) for i, suffix in enumerate(MEDIA_SUFFIXES)]
    _common.run(TestOneInput, seeds, packages=("marking", "mutagen"))
