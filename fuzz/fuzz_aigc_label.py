"""atheris harness: ``AigcLabel.from_json`` and ``validate`` on arbitrary bytes."""

from __future__ import annotations

import _common

from marking.errors import UsageError
from marking.tags.aigc_label import AigcLabel, LabelFormatError
from tests.support.fuzz_seeds import LABEL


def TestOneInput(data: bytes) -> None:
    try:
        label = AigcLabel.from_json(data)
    except LabelFormatError:
        return
    try:
        label.validate()
    except UsageError:
        return
    assert AigcLabel.from_json(label.to_json(wrapped=True)) == label


if __name__ == "__main__":
    _common.run(TestOneInput, [LABEL.to_json().encode(), LABEL.to_json(wrapped=True).encode()])
