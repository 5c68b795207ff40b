"""MP4 and MOV outputs stream like the web needs: the index (``moov``) before the media data.

Every step that writes an MP4 or MOV is checked by walking the output's top-level boxes: the
watermark's transcode (whatever the input's layout), the whole marking with and without the
C2PA manifest, and the metadata-only ``tag`` command (which keeps the input's layout).
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import av
import pytest

from marking import EncoderSettings, MarkConfig, mark_file
from marking.cli import main as cli_main
from marking.files.video import embed_video_file
from marking.tags.c2pa_read import read_manifest
from marking.tags.tagging import Signing
from marking.tags.test_ca import TestCA, make_test_ca
from tests.media.test_video_io import write_clip

KEY = "faststart-test-key"
PRODUCER = "ExampleAI"
FAST = EncoderSettings(preset="ultrafast")


def top_level_boxes(path: Path) -> list[str]:
    """The types of the top-level ISO BMFF boxes of ``path``, in file order."""
    names: list[str] = []
    with path.open("rb") as stream:
        end = stream.seek(0, 2)
        position = 0
        while position + 8 <= end:
            stream.seek(position)
            size, kind = struct.unpack(">I4s", stream.read(8))
            if size == 1:
                size = struct.unpack(">Q", stream.read(8))[0]
            elif size == 0:
                size = end - position
            assert size >= 8, f"{path.name}: box {kind!r} at {position} has size {size}"
            names.append(kind.decode("latin-1"))
            position += size
        assert position == end, f"{path.name}: boxes run to {position}, the file ends at {end}"
    return names


def assert_faststart(path: Path) -> None:
    boxes = top_level_boxes(path)
    assert "moov" in boxes, boxes
    assert "mdat" in boxes, boxes
    assert boxes.index("moov") < boxes.index("mdat"), f"{path.name}: {boxes}"


def packet_digests(path: Path) -> list[tuple[int, int | None, str]]:
    with av.open(str(path)) as container:
        return [
            (packet.stream.index, packet.pts, hashlib.sha256(bytes(packet)).hexdigest())
            for packet in container.demux()
            if packet.size
        ]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-second 320x256 clips with sound: MP4 and MOV with the index first, an MP4 with it
    last."""
    folder = tmp_path_factory.mktemp("clips")
    faststart = {"movflags": "faststart"}
    size = (320, 256)  # the watermark needs 256 px on each side
    made = {
        "mp4": write_clip(folder / "fast.mp4", size=size, seconds=1.0, audio=True,
                          container_options=faststart),
        "mov": write_clip(folder / "fast.mov", size=size, seconds=1.0, audio=True,
                          container_options=faststart),
        "late": write_clip(folder / "late.mp4", size=size, seconds=1.0, audio=True),
    }  # fmt: skip
    for name in ("mp4", "mov"):
        assert_faststart(made[name])
    boxes = top_level_boxes(made["late"])
    assert boxes.index("mdat") < boxes.index("moov")
    return made


@pytest.mark.parametrize(("clip", "suffix"), [("mp4", ".mp4"), ("mov", ".mov"), ("late", ".m4v")])
def test_watermarked_video_has_its_index_first(
    clips: dict[str, Path], tmp_path: Path, clip: str, suffix: str
) -> None:
    """Always faststart, even from an input with its index last; the output stays whole."""
    out = tmp_path / f"marked{suffix}"
    record = embed_video_file(clips[clip], out, key=KEY, settings=FAST)
    assert_faststart(out)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == record["frames"] == 25
    assert not [p.name for p in tmp_path.iterdir() if p.name != out.name]


def test_moving_the_index_changes_no_packet(clips: dict[str, Path], tmp_path: Path) -> None:
    """The faststart pass (which reads the output back while writing it) moves bytes only."""
    from marking.media import transcode as transcoding

    settings = EncoderSettings(preset="ultrafast", extra_options={"threads": "1"})
    fast, late = tmp_path / "fast.mp4", tmp_path / "late.mp4"
    transcoding.transcode(clips["mp4"], fast, lambda planes, info: None, settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transcoding, "_container_options", lambda name, tags: {})
        transcoding.transcode(clips["mp4"], late, lambda planes, info: None, settings)
    assert top_level_boxes(late).index("moov") > top_level_boxes(late).index("mdat")
    assert_faststart(fast)
    assert packet_digests(fast) == packet_digests(late)


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
@pytest.mark.parametrize("signed", [False, True], ids=["metadata", "c2pa"])
def test_marked_video_keeps_its_index_first(
    clips: dict[str, Path], ca: TestCA, tmp_path: Path, suffix: str, signed: bool
) -> None:
    steps = {"label", "watermark", "metadata"} | ({"c2pa"} if signed else set())
    config = MarkConfig(
        steps=frozenset(steps),
        producer=PRODUCER,
        encoder=FAST,
        signing=Signing(ca.chain, ca.key) if signed else None,
    )
    out = tmp_path / f"marked{suffix}"
    mark_file(clips[suffix[1:]], out, config, key=KEY)
    assert_faststart(out)
    report = read_manifest(out, trust_anchors_pem=ca.root_cert.read_bytes())
    assert report.state == ("valid" if signed else "absent"), report.reason
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("signed", [False, True], ids=["metadata", "c2pa"])
def test_tag_command_keeps_the_index_first(
    clips: dict[str, Path], ca: TestCA, tmp_path: Path, signed: bool
) -> None:
    out = tmp_path / "tagged.mp4"
    signing = ["--c2pa-cert", str(ca.chain), "--c2pa-key", str(ca.key)] if signed else []
    args = ["tag", str(clips["mp4"]), "-o", str(out), "--producer", PRODUCER, *signing]
    assert cli_main.main(args) == 0
    assert_faststart(out)
    if signed:
        report = read_manifest(out, trust_anchors_pem=ca.root_cert.read_bytes())
        assert report.state == "valid", report.reason
    # Metadata only: the media packets are the input's.
    assert packet_digests(out) == packet_digests(clips["mp4"])
