"""Size-matched video marking (``match_size``): the marked video lands within 5 % of the video
bytes of a plain re-encode with the same settings, which each test measures itself; the mark
is still read; the output's bit rate is reported; scratch files and two-pass statistics are
gone afterwards, also after a failure or an interrupt.

Clips are 640x360 pans at 25 fps, 2 s (tests/support/video_clips.py), encoded ultrafast.
"""

from __future__ import annotations

import os
import signal
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import pytest

import marking.files.video_size as video_size
from marking.errors import OutputError, UnusableOutputError, UsageError
from marking.files.video import detect_video_file, embed_video_file
from marking.media.interrupts import Interrupted
from marking.media.video import EncoderSettings, TranscodeReport, transcode
from tests.support.video_clips import clip_path

KEY = "Match-Size-Secret-4417"
PAYLOAD = "0badc0ffee15900d"
FAST = EncoderSettings(preset="ultrafast")


@pytest.fixture(scope="module")
def pan() -> Path:
    return clip_path("pan", width=640, height=360, fps=25, seconds=2.0)


@pytest.fixture
def system_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary directory, for this test: where two-pass statistics go."""
    directory = tmp_path / "system-temp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", os.fspath(directory))
    return directory


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def video_packet_bytes(path: Path) -> int:
    """The bytes of the first video stream's packets, read back from the file."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        return sum(packet.size for packet in container.demux(stream) if packet.size)


def plain_video_bytes(source: Path, settings: EncoderSettings, directory: Path) -> int:
    """A plain re-encode's video bytes, measured independently of match_size."""
    directory.mkdir(exist_ok=True)
    plain = directory / "plain.mp4"
    transcode(source, plain, lambda _planes, _info: None, settings)
    return video_packet_bytes(plain)


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_match_size_lands_within_5_percent_of_a_plain_reencode(
    pan: Path, tmp_path: Path, system_temp: Path, codec: str
) -> None:
    settings = replace(FAST, codec=codec)
    plain = plain_video_bytes(pan, settings, tmp_path / "measured")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "marked.mp4"
    done: list[tuple[int, int | None]] = []
    record = embed_video_file(
        pan,
        out,
        key=KEY,
        payload=PAYLOAD,
        settings=settings,
        match_size=True,
        progress=lambda *step: done.append(step),
    )
    marked = video_packet_bytes(out)
    assert abs(marked / plain - 1) <= 0.05, (marked, plain)
    entry = record["match_size"]
    assert entry["method"] == "two-pass"
    # The encoder's packets, counted as they come: the muxer may store a byte or so more.
    assert entry["marked_bytes"] == pytest.approx(marked, rel=1e-3)
    assert entry["plain_bytes"] == pytest.approx(plain, rel=0.01)
    assert entry["ratio"] == pytest.approx(marked / entry["plain_bytes"], abs=1e-4)
    assert entry["plain_bitrate"] == pytest.approx(plain * 8 / 2.0, rel=0.01)
    assert entry["encodes"] >= 3  # plain, first pass, second pass
    assert 30 < entry["marked_psnr"] < entry["plain_psnr"] < 60
    assert record["crf"] is None
    assert record["bitrate"] == entry["bitrate"]
    assert record["notes"] == []
    assert record["output_bitrate"] == pytest.approx(marked * 8 / record["duration_s"], rel=1e-3)
    assert record["audio"] == "watermarked"
    # One progress bar over the encodes, ending at the frame count.
    assert done[-1] == (50, 50)
    assert all(done_ <= (total or done_) for done_, total in done)

    found = detect_video_file(out, key=KEY)
    assert found["video"]["detected"] is True
    assert found["video"]["payload"] == PAYLOAD
    assert names(out_dir) == ["marked.mp4"]  # no scratch file left
    assert names(system_temp) == []  # nor two-pass statistics


def test_output_bitrate_without_match_size(pan: Path, tmp_path: Path) -> None:
    out = tmp_path / "marked.mp4"
    record = embed_video_file(pan, out, key=KEY, payload=PAYLOAD, settings=FAST)
    assert record["match_size"] is None
    assert record["crf"] == 18
    assert record["bitrate"] is None
    bits = video_packet_bytes(out) * 8
    assert record["output_bitrate"] == pytest.approx(bits / record["duration_s"], rel=1e-3)
    assert record["duration_s"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "call",
    [
        {"settings": EncoderSettings(bitrate=2_000_000), "match_size": True},
        {"settings": EncoderSettings(bitrate=2_000_000, match_size=False), "match_size": True},
    ],
)
def test_match_size_with_a_bitrate_is_a_usage_error(
    pan: Path, tmp_path: Path, call: dict[str, Any]
) -> None:
    with pytest.raises(UsageError, match="match_size picks the video bit rate itself") as caught:
        embed_video_file(pan, tmp_path / "out.mp4", key=KEY, **call)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())
    with pytest.raises(UsageError, match="without a bitrate"):
        EncoderSettings(bitrate=1000, match_size=True)


def failing_transcode(
    monkeypatch: pytest.MonkeyPatch, call: int, failure: BaseException
) -> list[Path]:
    """Make match_size's ``call``-th encode (1: the plain one) raise ``failure`` after a few
    frames, inside the encode; returns the outputs the encodes were given."""
    real = video_size.transcode
    targets: list[Path] = []

    def fake(src: Any, dst: Any, process: Any, *args: Any) -> TranscodeReport:
        targets.append(Path(dst))
        if len(targets) != call:
            return real(src, dst, process, *args)

        def breaking(planes: Any, info: Any) -> None:
            process(planes, info)
            if info.index == 5:
                raise failure

        return real(src, dst, breaking, *args)

    monkeypatch.setattr(video_size, "transcode", fake)
    return targets


@pytest.mark.parametrize("call", [1, 2, 3])
@pytest.mark.parametrize(
    "failure", [OutputError("encoding failed"), Interrupted(signal.SIGINT)], ids=["error", "stop"]
)
def test_scratch_files_and_statistics_go_on_failure(
    pan: Path,
    tmp_path: Path,
    system_temp: Path,
    monkeypatch: pytest.MonkeyPatch,
    call: int,
    failure: BaseException,
) -> None:
    targets = failing_transcode(monkeypatch, call, failure)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(type(failure)):
        embed_video_file(pan, out_dir / "marked.mp4", key=KEY, settings=FAST, match_size=True)
    assert len(targets) == call
    assert all(target.parent == out_dir and target.name.startswith(".") for target in targets)
    assert names(out_dir) == []
    assert names(system_temp) == []


def test_an_output_that_cannot_be_published_leaves_nothing(
    pan: Path, tmp_path: Path, system_temp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output's name taken by a FIFO while the encodes ran: refused, scratch removed."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "marked.mp4"
    real = video_size.transcode
    calls: list[int] = []

    def fake(*args: Any) -> TranscodeReport:
        calls.append(1)
        report = real(*args)
        if len(calls) == 3:
            os.mkfifo(out)
        return report

    monkeypatch.setattr(video_size, "transcode", fake)
    with pytest.raises(UnusableOutputError, match="FIFO") as caught:
        embed_video_file(pan, out, key=KEY, settings=FAST, match_size=True)
    assert "\n" not in str(caught.value)
    assert names(out_dir) == ["marked.mp4"]  # the FIFO, untouched
    assert not out.is_file()
    assert names(system_temp) == []


# --- the bounded search, with an encoder that behaves as told ---------------------------------


class FakeEncoder:
    """Stands in for transcode: ``bytes_at(bitrate)`` video bytes (bitrate None: the plain
    re-encode's ``plain`` bytes), 2 s long; writes a small file to its output."""

    def __init__(self, plain: int, bytes_at: Any) -> None:
        self.plain, self.bytes_at = plain, bytes_at
        self.bitrates: list[int | None] = []

    def __call__(self, src: Any, dst: Any, process: Any, settings: Any, *_: Any) -> Any:
        Path(dst).write_bytes(b"encoded")
        self.bitrates.append(settings.bitrate)
        made = self.plain if settings.bitrate is None else self.bytes_at(settings.bitrate)
        report = TranscodeReport(
            input=str(src), output=str(dst), container="mp4", codec_in="h264",
            encoder=settings.codec, width=640, height=360, pix_fmt_in="yuv420p",
            pix_fmt_out="yuv420p", frames=50, duration_s=2.0, video_bytes=made,
        )  # fmt: skip
        return report


@pytest.mark.parametrize(
    ("bytes_at", "encodes", "ratio", "noted"),
    [
        (lambda rate: round(rate * 2 / 8 * 1.3), 3, 1.0, False),  # 30 % over: one correction
        (lambda rate: round(rate * 2 / 8 * 1.02), 2, 1.02, False),  # close enough at once
        (lambda rate: 150_000, 5, 1.5, True),  # deaf to the bit rate: 4 tries, the closest
    ],
)
def test_one_pass_search_corrects_the_rate_a_bounded_number_of_times(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bytes_at: Any,
    encodes: int,
    ratio: float,
    noted: bool,
) -> None:
    fake = FakeEncoder(100_000, bytes_at)
    monkeypatch.setattr(video_size, "transcode", fake)
    monkeypatch.setattr(video_size, "video_luma_psnr", lambda *_: 40.0)
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    source.write_bytes(b"source")
    settings = EncoderSettings(codec="libvpx-vp9", match_size=True)
    report, entry = video_size.encode_matching_size(
        source, target, settings, lambda _progress: lambda *_: None, None
    )
    assert entry["encodes"] == encodes == len(fake.bitrates)
    assert entry["method"] == "one-pass"
    assert fake.bitrates[:2] == [None, 400_000]  # the plain re-encode, then its bit rate
    assert entry["ratio"] == pytest.approx(ratio, abs=0.01)
    assert entry["plain_bitrate"] == 400_000
    assert (len(report.notes) == 1) is noted
    if noted:
        assert "1.500x the plain re-encode's 100000 bytes after 4 encodes" in report.notes[0]
    assert names(tmp_path) == ["in.mp4", "out.mp4"]
