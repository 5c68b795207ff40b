"""``media_kind`` tells pictures, sound and video apart by their bytes, and says why it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from marking.errors import InputError
from marking.media.sniffing import media_kind


def test_an_unreadable_container_is_named_once_with_the_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64))
    with pytest.raises(InputError) as caught:
        media_kind(broken)
    message = str(caught.value)
    assert message.startswith(f"{broken}: cannot read the container (")
    assert message.count(str(broken)) == 1
    assert "Errno" not in message
