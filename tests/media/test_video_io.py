"""Streaming transcode: probing, in-place plane editing, stream copying, errors, memory.

Every clip is generated here with PyAV: small (320x240, a few seconds) moving gradients with
a little noise, so each transcode takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tracemalloc
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
import numpy as np
import pytest
from PIL import Image
from scipy.signal import resample_poly

from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.media.sound_pass import interleaved
from marking.media.video import (
    AudioStreamInfo,
    EncoderSettings,
    FrameInfo,
    frames,
    probe_video,
    transcode,
    truncation,
    video_duration,
)

FAST = EncoderSettings(preset="ultrafast")


def clip_pixels(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB frame: diagonal gradients moving with ``index``, a bright square, mild noise."""
    rng = np.random.default_rng(seed + index)
    yy, xx = np.mgrid[0:height, 0:width]
    red = (xx * 255 // max(1, width - 1) + 3 * index) % 256
    green = (yy * 255 // max(1, height - 1) + 2 * index) % 256
    blue = ((xx + yy) // 2 + 5 * index) % 256
    rgb = np.stack([red, green, blue], axis=-1).astype(np.int16)
    side = max(4, min(width, height) // 6)
    left = (7 * index) % max(1, width - side)
    rgb[height // 3 : height // 3 + side, left : left + side] = 230
    rgb += rng.integers(-6, 7, size=rgb.shape, dtype=np.int16)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_clip(
    path: Path,
    *,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    seconds: float = 3.0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    subtitles: bool = False,
    rotation: int | None = None,
    colour: dict[str, int] | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode a test clip with PyAV (optionally with AAC audio or SubRip subtitles)."""
    width, height = size
    count = round(fps * seconds)
    opts = {"preset": "ultrafast"} if codec == "libx264" else {}
    if codec == "libx265":
        opts = {"preset": "ultrafast", "x265-params": "log-level=error"}
    if codec == "libvpx-vp9":
        opts = {"deadline": "realtime", "cpu-used": "8"}
    opts.update(options or {})
    with av.open(str(path), "w", options=container_options or {}) as container:
        video = container.add_stream(codec, rate=fps, options=opts)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        for key, value in (colour or {}).items():
            setattr(video.codec_context, key, value)
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=48000) if audio else None
        text = None
        if subtitles:
            text = container.add_mux_stream("subrip")
            text.time_base = Fraction(1, 1000)
            text.metadata["language"] = "eng"
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(clip_pixels(index, width, height), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
            if text is not None and index % fps == 0:
                packet = av.Packet(f"caption {index // fps}".encode())
                packet.stream = text
                packet.time_base = Fraction(1, 1000)
                packet.pts = packet.dts = index * 1000 // fps
                packet.duration = 800
                container.mux(packet)
        container.mux(video.encode(None))
        if sound is not None:
            samples = 1024
            for block in range(int(48000 * seconds) // samples):
                t = (np.arange(samples) + block * samples) / 48000
                tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                piece = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                piece.sample_rate = 48000
                piece.pts = block * samples
                container.mux(sound.encode(piece))
            container.mux(sound.encode(None))
    return path


#: Extra tracks phones, editors and converters put beside the picture and the sound.
EXTRA_TRACKS = ("subtitle", "timecode", "data", "chapters", "second_audio", "cover")


def write_extra_tracks(
    path: Path, extra: str, *, size: tuple[int, int] = (256, 256), seconds: float = 1.0
) -> Path:
    """An H.264 clip with AAC sound (MP4 or MOV by ``path``'s suffix) and one extra track.

    ``extra`` (one of :data:`EXTRA_TRACKS`): ``subtitle``, one mov_text cue (the muxer adds
    the empty closing sample ``ffmpeg -c:s mov_text`` writes); ``timecode``, a QuickTime tmcd
    track; ``data``, a data track of a codec no muxer knows; ``chapters``, two chapters (a
    chapter text track); ``second_audio``, a second AAC track; ``cover``, a JPEG cover
    picture (attached picture).
    """
    width, height = size
    rate = 25
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if extra == "timecode":
            video.metadata["timecode"] = "01:00:00:00"
        sounds = [container.add_stream("aac", rate=48000)]
        if extra == "second_audio":
            sounds.append(container.add_stream("aac", rate=48000))
        other = None
        if extra == "subtitle":
            other = container.add_mux_stream("mov_text", time_base=Fraction(1, 1000))
        elif extra == "data":
            other = container.add_mux_stream("bin_data", time_base=Fraction(1, 1000))
        elif extra == "cover":
            other = container.add_mux_stream("mjpeg", width=64, height=64)
            other.disposition = av.stream.Disposition.attached_pic
        if extra == "chapters":
            half = round(seconds * 500)
            container.set_chapters(
                [
                    {"id": n + 1, "start": n * half, "end": (n + 1) * half,
                     "time_base": Fraction(1, 1000), "metadata": {"title": f"part {n + 1}"}}
                    for n in range(2)
                ]
            )  # fmt: skip
        for index in range(round(rate * seconds)):
            frame = av.VideoFrame.from_ndarray(clip_pixels(index, width, height), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for number, sound in enumerate(sounds):
            samples = 1024
            for block in range(int(48000 * seconds) // samples):
                t = (np.arange(samples) + block * samples) / 48000
                tone = (0.2 * np.sin(2 * np.pi * (440 + 110 * number) * t)).astype(np.float32)
                piece = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
                piece.sample_rate = 48000
                piece.pts = block * samples
                container.mux(sound.encode(piece))
            container.mux(sound.encode(None))
        if other is not None:
            if extra == "cover":
                picture = io.BytesIO()
                Image.new("RGB", (64, 64), (200, 30, 30)).save(picture, "JPEG")
                body = picture.getvalue()
            else:
                body = b"\x00\x05hello" if extra == "subtitle" else b"opaque data"
            packet = av.Packet(body)
            packet.stream = other
            if extra != "cover":
                packet.time_base = Fraction(1, 1000)
                packet.pts = packet.dts = 0
                packet.duration = 500
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "mp4": write_clip(folder / "audio.mp4", audio=True),
        "mkv": write_clip(folder / "subs.mkv", subtitles=True, seconds=2.0),
        "hevc10": write_clip(
            folder / "ten.mkv", codec="libx265", pix_fmt="yuv420p10le", seconds=2.0
        ),
        "webm": write_clip(folder / "vp9.webm", codec="libvpx-vp9", seconds=1.0),
        "rotated": write_clip(
            folder / "rotated.mov",
            seconds=1.0,
            rotation=90,
            colour={"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1},
        ),
    }


def packets(path: Path, kind: str) -> list[tuple[Any, ...]]:
    """(pts, dts, duration, bytes) of every non-empty packet of the first stream of ``kind``."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [(p.pts, p.dts, p.duration, bytes(p)) for p in container.demux(stream) if p.size]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mean_abs_diff(first: Path, second: Path) -> list[float]:
    """Per frame mean absolute luma difference between two videos of the same size."""
    return [
        float(np.abs(a[0].astype(np.int32) - b[0].astype(np.int32)).mean())
        for (a, _), (b, _) in zip(frames(first), frames(second), strict=True)
    ]


def keep(planes: list[np.ndarray], info: FrameInfo) -> None:
    """A process_frame that edits nothing."""


# --- probing -------------------------------------------------------------------------------


def test_probe_describes_the_clip(clips: dict[str, Path]) -> None:
    info = probe_video(clips["mp4"])
    assert (info.container, info.codec, info.width, info.height) == ("mp4", "h264", 320, 240)
    assert (info.pix_fmt, info.bit_depth, info.chroma_subsampling) == ("yuv420p", 8, (2, 2))
    assert info.frame_rate == 25
    assert info.duration_s == pytest.approx(3.0)
    assert info.frame_count == 75
    assert info.rotation == 0
    assert [(s.type, s.codec) for s in info.streams] == [("audio", "aac")]
    record = info.to_dict()
    assert record["frame_rate"] == "25"
    assert record["streams"][0]["type"] == "audio"


def test_probe_reads_rotation_colour_and_ten_bit(clips: dict[str, Path]) -> None:
    rotated = probe_video(clips["rotated"])
    assert rotated.container == "mov"
    assert rotated.rotation == 90
    assert rotated.display_size == (240, 320)
    assert (rotated.color_range, rotated.colorspace, rotated.color_primaries) == (1, 1, 1)
    assert rotated.to_dict()["colorspace"] == "bt709"
    ten = probe_video(clips["hevc10"])
    assert (ten.container, ten.codec, ten.pix_fmt, ten.bit_depth) == (
        "matroska",
        "hevc",
        "yuv420p10le",
        10,
    )
    assert probe_video(clips["webm"]).container == "webm"


def test_video_duration_from_packets(clips: dict[str, Path]) -> None:
    assert video_duration(clips["mp4"]) == pytest.approx(3.0)
    assert video_duration(clips["mkv"]) == pytest.approx(2.0)


@pytest.fixture
def bad_inputs(tmp_path: Path, clips: dict[str, Path]) -> dict[str, Path]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    truncated = tmp_path / "truncated.mp4"  # moov at the end: cut off
    truncated.write_bytes(clips["mp4"].read_bytes()[: clips["mp4"].stat().st_size // 2])
    audio_only = tmp_path / "audio.m4a"
    with av.open(str(audio_only), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=48000)
        tone = np.zeros((1, 1024), np.float32)
        for block in range(10):
            piece = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            piece.sample_rate, piece.pts = 48000, block * 1024
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    return {
        "missing": tmp_path / "missing.mp4",
        "empty": empty,
        "text": text,
        "truncated": truncated,
        "audio": audio_only,
        "folder": folder,
    }


BAD_INPUT_MESSAGES = {
    "missing": "no such file",
    "empty": "file is empty",
    "text": "not a readable video file",
    "truncated": "truncated, corrupt or not media",
    "audio": "has no video stream",
    "folder": "is a directory",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUT_MESSAGES))
def test_bad_inputs_give_one_line_input_errors(
    bad_inputs: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    with pytest.raises(InputError, match=BAD_INPUT_MESSAGES[kind]) as probed:
        probe_video(bad_inputs[kind])
    assert "\n" not in str(probed.value)
    with pytest.raises(InputError, match=BAD_INPUT_MESSAGES[kind]):
        transcode(bad_inputs[kind], tmp_path / "out.mp4", keep, FAST)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("reader", ["probe", "duration", "truncation", "frames", "transcode"])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path, reader: str) -> None:
    """Every video reader checks its input as every other reader does (a FIFO or device is
    refused before FFmpeg opens it, which would block until a writer came)."""
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    calls = {
        "probe": lambda: probe_video(fifo),
        "duration": lambda: video_duration(fifo),
        "truncation": lambda: truncation(fifo),
        "frames": lambda: next(frames(fifo)),
        "transcode": lambda: transcode(fifo, tmp_path / "out.mp4", keep, FAST),
    }
    with pytest.raises(InputError, match=r"clip\.mp4: a FIFO, not a regular file"):
        calls[reader]()
    assert not (tmp_path / "out.mp4").exists()


def test_no_video_stream_is_unsupported(bad_inputs: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedInputError, match="no video stream"):
        probe_video(bad_inputs["audio"])


def test_other_containers_unsupported(tmp_path: Path) -> None:
    avi = tmp_path / "clip.avi"
    with av.open(str(avi), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(clip_pixels(index, 64, 48), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(UnsupportedInputError, match=r"AVI .* is not a supported video container"):
        probe_video(avi)
    with pytest.raises(UnsupportedInputError, match="not a supported video container"):
        transcode(avi, tmp_path / "out.avi", keep, FAST)
    assert not (tmp_path / "out.avi").exists()


def test_damaged_frames_are_counted(clips: dict[str, Path], tmp_path: Path) -> None:
    """Flipped bytes in the middle: the decoder conceals them and the report counts them."""
    data = bytearray(clips["mp4"].read_bytes())
    rng = np.random.default_rng(1)
    for position in rng.integers(2000, len(data) // 2, 50):
        data[position] ^= 0xFF
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    report = transcode(damaged, tmp_path / "out.mp4", keep, FAST)
    assert report.frames == 75
    assert report.corrupt_frames > 0


def test_truncated_files_with_the_index_up_front_are_refused(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    faststart = write_clip(
        tmp_path / "fast.mp4", seconds=2.0, container_options={"movflags": "faststart"}
    )
    for source in (faststart, clips["mkv"]):
        cut = tmp_path / f"cut{source.suffix}"
        cut.write_bytes(source.read_bytes()[: source.stat().st_size * 6 // 10])
        with pytest.raises(InputError, match="truncated"):
            transcode(cut, tmp_path / f"out{source.suffix}", keep, FAST)
        assert not (tmp_path / f"out{source.suffix}").exists()


# --- transcoding -----------------------------------------------------------------------------


def test_transcode_keeps_format_and_copies_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["mp4"]
    before = digest(source)
    out = tmp_path / "copy.mp4"
    report = transcode(source, out, keep, FAST)
    assert digest(source) == before
    src, dst = probe_video(source), probe_video(out)
    for name in ("container", "codec", "width", "height", "pix_fmt", "frame_rate", "time_base"):
        assert getattr(dst, name) == getattr(src, name), name
    assert dst.frame_count == src.frame_count == report.frames == 75
    assert dst.duration_s == pytest.approx(src.duration_s)
    assert report.copied_streams == [{"index": 1, "type": "audio", "codec": "aac", "packets": 141}]
    assert packets(out, "audio") == packets(source, "audio")
    assert max(mean_abs_diff(source, out)) < 2.0  # only re-encoding noise
    assert not list(tmp_path.glob(".*.part"))


def test_subtitle_stream_copied_with_timestamps(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "subs.mkv"
    report = transcode(clips["mkv"], out, keep, FAST)
    assert [s["type"] for s in report.copied_streams] == ["subtitle"]
    assert packets(out, "subtitle") == packets(clips["mkv"], "subtitle")
    with av.open(str(out)) as container:
        assert container.streams.subtitles[0].metadata.get("language") == "eng"


def test_container_tags_kept_and_timecode_rewritten(tmp_path: Path) -> None:
    """Custom tags (an existing AIGC label) survive; a MOV timecode track is re-created."""
    source = tmp_path / "tagged.mov"
    aigc = '{"AIGC":{"Label":"1","ContentProducer":"test"}}'
    with av.open(str(source), "w", options={"movflags": "use_metadata_tags"}) as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.metadata["timecode"] = "01:00:00:00"
        container.metadata.update(AIGC=aigc, title="clip")
        for index in range(10):
            frame = av.VideoFrame.from_ndarray(clip_pixels(index, 160, 120), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for container_name, suffix in (("mov", ".mov"), ("matroska", ".mkv")):
        out = tmp_path / f"out{suffix}"
        report = transcode(
            source, out, keep, EncoderSettings(preset="ultrafast", container=container_name)
        )
        assert [s["type"] for s in report.skipped_streams] == ["data"]
        with av.open(str(out)) as container:
            assert container.metadata["AIGC"] == aigc
            assert container.metadata["title"] == "clip"
            video = container.streams.video[0]
            assert video.metadata.get("timecode", video.metadata.get("TIMECODE")) == "01:00:00:00"
            if container_name == "mov":
                assert [s.type for s in container.streams] == ["video", "data"]


def test_planes_are_the_decoded_format(clips: dict[str, Path], tmp_path: Path) -> None:
    seen: list[tuple[Any, ...]] = []

    def look(planes: list[np.ndarray], info: FrameInfo) -> None:
        assert all(p.flags.writeable for p in planes)
        layout = [(p.shape, p.dtype.name) for p in planes]
        top = max(int(p.max()) for p in planes)
        seen.append(
            (
                info.index,
                info.time,
                info.pix_fmt,
                info.bit_depth,
                info.chroma_subsampling,
                layout,
                top,
            )
        )

    transcode(clips["hevc10"], tmp_path / "ten.mkv", look, FAST)
    assert len(seen) == 50
    index, seconds, pix_fmt, depth, chroma, shapes, top = seen[10]
    assert (index, seconds, pix_fmt, depth, chroma) == (
        10,
        pytest.approx(0.4),
        "yuv420p10le",
        10,
        (2, 2),
    )
    assert shapes == [((240, 320), "uint16"), ((120, 160), "uint16"), ((120, 160), "uint16")]
    assert 255 < top <= 1023
    assert [s[1] for s in seen] == pytest.approx([i / 25 for i in range(50)])


def test_edits_reach_the_output_and_only_their_frame(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    """Frames are made writable before editing: the decoder's reference pictures stay intact."""

    def whiten_first(planes: list[np.ndarray], info: FrameInfo) -> None:
        if info.index == 0:
            planes[0][:] = 235

    out = tmp_path / "white.mp4"
    transcode(clips["mp4"], out, whiten_first, FAST)
    diffs = mean_abs_diff(clips["mp4"], out)
    assert diffs[0] > 50
    assert max(diffs[1:]) < 2.0


def test_frames_are_edited_in_order_on_a_worker_thread(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    """The frame stage runs beside decoding and encoding, yet each frame's edit lands on that
    frame, once, in order (a frame in the middle whitened shows only there)."""
    import threading

    seen: list[tuple[int, str]] = []

    def whiten_fifth(planes: list[np.ndarray], info: FrameInfo) -> None:
        seen.append((info.index, threading.current_thread().name))
        if info.index == 5:
            planes[0][:] = 235

    out = tmp_path / "white.mp4"
    report = transcode(clips["mp4"], out, whiten_fifth, FAST)
    assert [index for index, _ in seen] == list(range(report.frames))
    assert all(name != threading.main_thread().name for _, name in seen)
    diffs = mean_abs_diff(clips["mp4"], out)
    assert diffs[5] > 50
    assert max(diffs[:5] + diffs[6:]) < 2.0


def test_ten_bit_stays_ten_bit(clips: dict[str, Path], tmp_path: Path) -> None:
    for codec, expected in (("libx264", "h264"), ("libx265", "hevc")):
        out = tmp_path / f"{codec}.mkv"
        report = transcode(
            clips["hevc10"], out, keep, EncoderSettings(codec=codec, preset="ultrafast")
        )
        assert report.pix_fmt_out == "yuv420p10le"
        info = probe_video(out)
        assert (info.codec, info.pix_fmt, info.bit_depth) == (expected, "yuv420p10le", 10)


def test_webm_uses_vp9_and_falls_back_to_eight_bit(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.webm"
    report = transcode(clips["webm"], out, keep, FAST)
    assert report.encoder == "libvpx-vp9"
    assert (probe_video(out).container, probe_video(out).codec) == ("webm", "vp9")
    # This libvpx build encodes 8-bit only: 10-bit input is converted, and the report says so.
    down = tmp_path / "down.webm"
    report = transcode(clips["hevc10"], down, keep, EncoderSettings(container="webm"))
    assert (report.pix_fmt_in, report.pix_fmt_out) == ("yuv420p10le", "yuv420p")


def test_rotation_and_colour_metadata_kept(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rotated.mov"
    transcode(clips["rotated"], out, keep, FAST)
    info = probe_video(out)
    assert info.container == "mov"
    assert info.rotation == 90
    assert (info.color_range, info.colorspace, info.color_primaries, info.color_trc) == (1, 1, 1, 1)


def test_odd_sizes(tmp_path: Path) -> None:
    """Odd 4:2:0 decodes with rounded-up chroma planes; x264 cannot encode it in 4:2:0, so it
    gets 4:4:4 (size kept, said in a note); VP9 keeps 4:2:0."""
    odd_vp9 = write_clip(tmp_path / "odd.mkv", size=(321, 241), codec="libvpx-vp9", seconds=0.4)
    shapes: list[list[tuple[int, ...]]] = []

    def look(planes: list[np.ndarray], info: FrameInfo) -> None:
        shapes.append([p.shape for p in planes])

    report = transcode(odd_vp9, tmp_path / "x264.mkv", look, FAST)
    info = probe_video(tmp_path / "x264.mkv")
    assert (info.width, info.height, info.pix_fmt) == (321, 241, "yuv444p")
    assert report.pix_fmt_out == "yuv444p"
    assert any("321x241" in note and "yuv444p" in note for note in report.notes)
    shapes.clear()
    transcode(odd_vp9, tmp_path / "vp9.mkv", look, EncoderSettings(codec="libvpx-vp9"))
    assert shapes[0] == [(241, 321), (121, 161), (121, 161)]
    assert (probe_video(tmp_path / "vp9.mkv").width, probe_video(tmp_path / "vp9.mkv").height) == (
        321,
        241,
    )
    odd_444 = write_clip(tmp_path / "odd444.mp4", size=(321, 241), pix_fmt="yuv444p", seconds=0.4)
    transcode(odd_444, tmp_path / "out444.mp4", keep, FAST)
    info = probe_video(tmp_path / "out444.mp4")
    assert (info.width, info.height, info.pix_fmt) == (321, 241, "yuv444p")


def test_frames_iterates_read_only(clips: dict[str, Path]) -> None:
    count = 0
    for planes, info in frames(clips["mkv"]):
        assert info.index == count
        assert not any(p.flags.writeable for p in planes)
        assert planes[0].shape == (240, 320)
        count += 1
    assert count == 50


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_output_is_atomic(
    clips: dict[str, Path], tmp_path: Path, failure: type[BaseException]
) -> None:
    def explode(planes: list[np.ndarray], info: FrameInfo) -> None:
        if info.index == 20:
            raise failure("stop")

    fresh = tmp_path / "fresh.mp4"
    with pytest.raises(failure, match="stop"):
        transcode(clips["mp4"], fresh, explode, FAST)
    assert not fresh.exists()
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"old contents")
    with pytest.raises(failure, match="stop"):
        transcode(clips["mp4"], existing, explode, FAST)
    assert existing.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.mp4"]


def test_output_paths_checked(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="suffix means MKV"):
        transcode(clips["mp4"], tmp_path / "out.mkv", keep, FAST)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        transcode(clips["mp4"], clips["mp4"], keep, FAST)
    with pytest.raises(OutputError, match="does not exist"):
        transcode(clips["mp4"], tmp_path / "nowhere" / "out.mp4", keep, FAST)
    report = transcode(
        clips["mp4"], tmp_path / "out.mkv", keep, EncoderSettings(container="matroska")
    )
    assert report.container == "matroska"
    assert probe_video(tmp_path / "out.mkv").container == "matroska"


def test_encoder_settings_validated() -> None:
    with pytest.raises(UsageError, match="crf"):
        EncoderSettings(crf=99)
    with pytest.raises(UsageError, match="preset"):
        EncoderSettings(preset="warp")
    with pytest.raises(UsageError, match="bitrate"):
        EncoderSettings(bitrate=0)
    with pytest.raises(UsageError, match="container"):
        EncoderSettings(container="avi")


def test_unknown_encoder_is_a_usage_error(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown video encoder"):
        transcode(clips["mkv"], tmp_path / "out.mkv", keep, EncoderSettings(codec="nonesuch"))
    assert not (tmp_path / "out.mkv").exists()


def test_bitrate_mode(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rate.mkv"
    transcode(clips["mkv"], out, keep, EncoderSettings(bitrate=200_000, preset="ultrafast"))
    assert out.stat().st_size < 2 * 200_000 / 8 * 2  # about 200 kbit/s over 2 s


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="RSS read from /proc (Linux)")
@pytest.mark.parametrize("reencode_audio", [False, True], ids=["audio-copied", "audio-reencoded"])
def test_memory_does_not_grow_with_length(tmp_path: Path, reencode_audio: bool) -> None:
    """One frame at a time: memory at frame 400 is what it was at frame 100.

    Re-encoding the sound track through a processor that lags a second holds that second,
    and the muxer holds the video packets of that second until the sound catches up.
    """
    long_clip = write_clip(tmp_path / "long.mp4", seconds=20.0, audio=True)
    samples: dict[int, tuple[int, int]] = {}

    def sample(planes: list[np.ndarray], info: FrameInfo) -> None:
        planes[0][:8, :8] = 0  # an edit, so every frame is copied once
        if info.index in (100, 499):
            samples[info.index] = (_rss_bytes(), tracemalloc.get_traced_memory()[0])

    tracemalloc.start()
    try:
        report = transcode(
            long_clip,
            tmp_path / "out.mp4",
            sample,
            FAST,
            process_audio=Late if reencode_audio else None,
        )
    finally:
        tracemalloc.stop()
    assert report.frames == 500
    assert report.audio is not None
    assert report.audio["action"] == ("re-encoded" if reencode_audio else "copied")
    (rss_early, py_early), (rss_late, py_late) = samples[100], samples[499]
    frame_bytes = 320 * 240 * 3 // 2
    # Holding the 400 frames in between would take 400 x 115 kB = 46 MB.
    assert rss_late - rss_early < 40 * frame_bytes
    assert py_late - py_early < 4 * frame_bytes


# --- sound track ---------------------------------------------------------------------------


def sweep(count: int, channels: int, rate: int, level: float = 1.0) -> np.ndarray:
    """float32 (count, channels): a chirp and a tone per channel, alignable to the sample."""
    t = np.arange(count) / rate
    columns = []
    for channel in range(channels):
        low, high = 200 + 100 * channel, 3000 + 500 * channel
        chirp = 0.25 * np.sin(2 * np.pi * (low * t + (high - low) * t**2 / (2 * t[-1])))
        columns.append(chirp + 0.1 * np.sin(2 * np.pi * 330 * (channel + 1) * t + channel))
    return (level * np.stack(columns, axis=1)).astype(np.float32)


def _add_audio(
    container: Any, codec: str, rate: int, layout: str, bit_rate: int | None, options: dict
) -> Any:
    stream = container.add_stream(codec, rate=rate, options=options)
    stream.layout = layout
    if bit_rate:
        stream.codec_context.bit_rate = bit_rate
    return stream


def _mux_audio(
    container: Any, stream: Any, samples: np.ndarray, rate: int, layout: str, drop: int | None
) -> None:
    """Encode ``samples`` in 1000-sample blocks (not the codec's frame size) and mux them."""
    encoded = 0
    for start in [*range(0, len(samples), 1000), None]:
        frame = None
        if start is not None:
            block = np.ascontiguousarray(samples[start : start + 1000]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for packet in stream.encode(frame):
            if encoded != drop:
                container.mux(packet)
            encoded += 1


def write_sound_clip(
    path: Path,
    *,
    audio_codec: str,
    rate: int,
    layout: str = "stereo",
    bit_rate: int | None = None,
    audio_options: dict[str, str] | None = None,
    video_codec: str = "libx264",
    seconds: float = 2.0,
    flash_at: float | None = None,
    second_audio: bool = False,
    subtitles: bool = False,
    drop_packet: int | None = None,
) -> Path:
    """A 160x120 clip at 25 fps whose first audio stream is :func:`sweep`.

    ``flash_at``: a white frame and a loud 1 kHz burst at that time (over a quieter sweep).
    ``second_audio``: a mono MP3 stream after it; ``subtitles``: SubRip captions;
    ``drop_packet``: leave that packet of the first audio stream out (a gap in its timestamps).
    """
    fps, size = 25, (160, 120)
    channels = av.AudioLayout(layout).nb_channels
    samples = sweep(round(rate * seconds), channels, rate, 0.2 if flash_at else 1.0)
    if flash_at is not None:
        start = round(flash_at * rate)
        t = np.arange(rate // 10) / rate
        samples[start : start + len(t)] += 0.6 * np.sin(2 * np.pi * 1000 * t)[:, None]
    with av.open(str(path), "w") as container:
        opts = {"preset": "ultrafast"}
        if video_codec == "libvpx-vp9":
            opts = {"deadline": "realtime", "cpu-used": "8"}
        video = container.add_stream(video_codec, rate=fps, options=opts)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        sound = _add_audio(container, audio_codec, rate, layout, bit_rate, audio_options or {})
        extra = (
            _add_audio(container, "libmp3lame", 44100, "mono", 64000, {}) if second_audio else None
        )
        text = None
        if subtitles:
            text = container.add_mux_stream("subrip")
            text.time_base = Fraction(1, 1000)
        for index in range(round(fps * seconds)):
            pixels = clip_pixels(index, *size)
            if flash_at is not None and index == round(flash_at * fps):
                pixels[:] = 235
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
            if text is not None and index % fps == 0:
                packet = av.Packet(f"caption {index // fps}".encode())
                packet.stream, packet.time_base = text, Fraction(1, 1000)
                packet.pts = packet.dts = index * 1000 // fps
                packet.duration = 800
                container.mux(packet)
        container.mux(video.encode(None))
        _mux_audio(container, sound, samples, rate, layout, drop_packet)
        if extra is not None:
            tone = 0.3 * np.sin(2 * np.pi * 550 * np.arange(round(44100 * seconds)) / 44100)
            _mux_audio(container, extra, tone.astype(np.float32)[:, None], 44100, "mono", None)
    return path


class Sound(NamedTuple):
    """The first audio stream of a file, decoded the way players do: frames end to end."""

    start: float  # seconds of the first decoded sample
    samples: np.ndarray  # float32 (n, channels)
    rate: int
    layout: str
    codec: str
    bit_rate: int | None
    frame: int  # the longest decoded frame, in samples
    tick: float  # the stream's time base, in seconds


def sound(path: Path) -> Sound:
    pieces, start, longest = [], None, 0
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        for frame in container.decode(stream):
            array = frame.to_ndarray()
            array = array.T if frame.format.is_planar else array.reshape(-1, ctx.channels)
            if array.dtype.kind in "iu":
                array = array / float(2 ** (8 * array.dtype.itemsize - 1))
            pieces.append(array.astype(np.float32))
            longest = max(longest, frame.samples)
            if start is None:
                start = float(frame.pts * frame.time_base)
        return Sound(
            start=start or 0.0,
            samples=np.concatenate(pieces),
            rate=ctx.sample_rate,
            layout=ctx.layout.name,
            codec=ctx.codec.canonical_name,
            bit_rate=stream.bit_rate or None,
            frame=longest,
            tick=float(stream.time_base),
        )


def best_lag(reference: np.ndarray, other: np.ndarray, span: int = 300) -> tuple[int, float]:
    """The lag of ``other`` behind ``reference`` (in samples) where they correlate best."""
    count = min(len(reference), len(other)) - 2 * span
    base = reference[span : span + count]
    scores = []
    for lag in range(-span, span + 1):
        moved = other[span + lag : span + lag + count]
        score = float(np.sum(base * moved) / np.sqrt(np.sum(base**2) * np.sum(moved**2)))
        scores.append((score, lag))
    score, lag = max(scores)
    return lag, score


class Late:
    """An identity AudioProcessor that hands samples back one second late, the rest at finish."""

    def __init__(self, info: AudioStreamInfo, delay_s: float = 1.0) -> None:
        self.info = info
        self.delay = round(delay_s * info.sample_rate)
        self.held = np.zeros((0, info.channels), np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        assert samples.dtype == np.float32
        assert samples.ndim == 2
        assert samples.shape[1] == self.info.channels
        self.held = np.concatenate([self.held, samples])
        ready = max(0, len(self.held) - self.delay)
        out, self.held = self.held[:ready], self.held[ready:]
        return out

    def finish(self) -> np.ndarray:
        out, self.held = self.held, self.held[:0]
        return out


class Same:
    """An identity AudioProcessor without delay."""

    def __init__(self, info: AudioStreamInfo) -> None:
        self.channels = info.channels

    def push(self, samples: np.ndarray) -> np.ndarray:
        return samples

    def finish(self) -> np.ndarray:
        return np.zeros((0, self.channels), np.float32)


SOUND_CASES = {
    "mp4-aac": {"suffix": ".mp4", "audio_codec": "aac", "rate": 48000, "bit_rate": 96000},
    "webm-opus": {
        "suffix": ".webm",
        "video_codec": "libvpx-vp9",
        "audio_codec": "libopus",
        "rate": 48000,
        "layout": "mono",
    },
    "mkv-flac": {"suffix": ".mkv", "audio_codec": "flac", "rate": 44100},
    "mkv-mp3": {"suffix": ".mkv", "audio_codec": "libmp3lame", "rate": 44100, "bit_rate": 128000},
}
ENCODERS = {"aac": "aac", "opus": "libopus", "flac": "flac", "mp3": "libmp3lame"}


@pytest.mark.parametrize("case", sorted(SOUND_CASES))
def test_sound_track_reencoded_in_step(tmp_path: Path, case: str) -> None:
    """A processor that answers a second late: same codec, rate, layout, length and timing."""
    options = dict(SOUND_CASES[case])
    suffix = options.pop("suffix")
    source = write_sound_clip(tmp_path / f"in{suffix}", **options)
    made: list[Late] = []

    def late(info: AudioStreamInfo) -> Late:
        made.append(Late(info))
        return made[-1]

    out = tmp_path / f"out{suffix}"
    report = transcode(source, out, keep, FAST, process_audio=late)
    src, dst = sound(source), sound(out)
    [processor] = made
    info = processor.info
    assert (info.index, info.codec, info.sample_rate, info.layout) == (
        1,
        src.codec,
        src.rate,
        src.layout,
    )
    lossless = src.codec in ("flac",)
    expected_rate = None if lossless else (info.bit_rate or 64_000 * info.channels)
    entry = report.audio
    assert entry is not None
    assert (entry["action"], entry["encoder"], entry["fallback"]) == (
        "re-encoded",
        ENCODERS[src.codec],
        None,
    )
    assert entry["bit_rate"] == expected_rate
    assert entry["samples_in"] == entry["samples_out"] == len(src.samples)
    assert (entry["gap_samples"], entry["dropped_packets"]) == (0, 0)
    assert report.copied_streams == []
    assert (dst.codec, dst.rate, dst.layout) == (src.codec, src.rate, src.layout)
    if dst.bit_rate and expected_rate:  # MP4 and MP3 headers state it
        assert dst.bit_rate == pytest.approx(expected_rate, rel=0.2)
    assert abs(len(dst.samples) - len(src.samples)) <= dst.frame
    assert dst.start == pytest.approx(src.start, abs=max(src.tick, dst.tick))
    if lossless:
        assert np.array_equal(dst.samples, src.samples)
    assert best_lag(src.samples, dst.samples) == (0, pytest.approx(1.0, abs=0.02))
    assert len(packets(out, "video")) == len(packets(source, "video")) == report.frames == 50


def first_loud(samples: np.ndarray, rate: int, start: float) -> float:
    return start + int(np.argmax(np.abs(samples).max(axis=1) > 0.4)) / rate


def flash_time(path: Path) -> float:
    levels = [(float(planes[0].mean()), info.time) for planes, info in frames(path)]
    return max(levels)[1]


def test_identity_pass_keeps_av_sync(tmp_path: Path) -> None:
    """A flash and a burst at 1.2 s stay together, and where they were."""
    source = write_sound_clip(tmp_path / "sync.mp4", audio_codec="aac", rate=48000, flash_at=1.2)
    out = tmp_path / "out.mp4"
    transcode(source, out, keep, FAST, process_audio=Same)
    src, dst = sound(source), sound(out)
    heard_src = first_loud(src.samples, src.rate, src.start)
    heard = first_loud(dst.samples, dst.rate, dst.start)
    assert heard_src == pytest.approx(1.2, abs=0.002)
    assert heard == pytest.approx(heard_src, abs=0.001)
    assert flash_time(out) == flash_time(source) == pytest.approx(1.2)


def test_other_streams_copied_while_the_first_audio_is_reencoded(tmp_path: Path) -> None:
    source = write_sound_clip(
        tmp_path / "many.mkv", audio_codec="flac", rate=44100, second_audio=True, subtitles=True
    )
    out = tmp_path / "out.mkv"
    report = transcode(source, out, keep, FAST, process_audio=Late)
    assert report.audio is not None
    assert (report.audio["index"], report.audio["action"]) == (1, "re-encoded")
    assert [(s["index"], s["type"]) for s in report.copied_streams] == [
        (2, "audio"),
        (3, "subtitle"),
    ]
    with av.open(str(out)) as container:
        layout = [(s.type, s.codec_context.codec.canonical_name) for s in container.streams]
    assert layout == [
        ("video", "h264"),
        ("audio", "flac"),
        ("audio", "mp3"),
        ("subtitle", "subrip"),
    ]
    assert packets(out, "subtitle") == packets(source, "subtitle")

    def second_audio(path: Path) -> list[tuple[Any, ...]]:
        with av.open(str(path)) as container:
            stream = container.streams.audio[1]
            return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]

    assert second_audio(out) == second_audio(source)
    assert np.array_equal(sound(out).samples, sound(source).samples)


@pytest.mark.parametrize(
    ("case", "why"),
    [("vorbis-mkv", "encoder .* is experimental"), ("aac-webm", "WebM cannot store aac")],
)
def test_fallback_to_opus(tmp_path: Path, case: str, why: str) -> None:
    """No stable Vorbis encoder, or no AAC in WebM: Opus at 48 kHz, still in step."""
    if case == "vorbis-mkv":
        options = {"strict": "experimental"}
        source = write_sound_clip(
            tmp_path / "in.mkv", audio_codec="vorbis", rate=44100, audio_options=options
        )
        out, settings = tmp_path / "out.mkv", FAST
    else:
        source = write_sound_clip(tmp_path / "in.mp4", audio_codec="aac", rate=44100)
        out, settings = tmp_path / "out.webm", EncoderSettings(preset="ultrafast", container="webm")
    report = transcode(source, out, keep, settings, process_audio=Late)
    entry = report.audio
    assert entry is not None
    assert (entry["encoder"], entry["sample_rate"], entry["sample_rate_out"]) == (
        "libopus",
        44100,
        48000,
    )
    assert re.search(why, entry["fallback"])
    src, dst = sound(source), sound(out)
    assert (dst.codec, dst.rate, dst.layout) == ("opus", 48000, "stereo")
    assert len(dst.samples) / 48000 == pytest.approx(
        len(src.samples) / 44100, abs=dst.frame / 48000
    )
    assert dst.start == pytest.approx(src.start, abs=max(src.tick, dst.tick))
    resampled = resample_poly(src.samples, 160, 147, axis=0)
    assert best_lag(resampled, dst.samples) == (0, pytest.approx(1.0, abs=0.02))


def test_audio_copied_without_a_processor_or_when_declined(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    report = transcode(clips["mp4"], tmp_path / "plain.mp4", keep, FAST)
    assert report.audio == {"index": 1, "action": "copied", "codec": "aac"}
    facts: list[AudioStreamInfo] = []

    def decline(info: AudioStreamInfo) -> None:
        facts.append(info)

    out = tmp_path / "declined.mp4"
    report = transcode(clips["mp4"], out, keep, FAST, process_audio=decline)
    [info] = facts
    assert (info.index, info.codec, info.sample_rate, info.channels, info.layout) == (
        1,
        "aac",
        48000,
        2,
        "stereo",
    )
    assert (info.sample_format, info.time_base) == ("fltp", Fraction(1, 48000))
    assert info.bit_rate is not None
    assert info.bit_rate > 0
    assert report.audio == {"index": 1, "action": "copied", "codec": "aac"}
    assert packets(out, "audio") == packets(clips["mp4"], "audio")


def test_a_gap_in_the_audio_timestamps_is_filled_with_silence(tmp_path: Path) -> None:
    """A lost packet leaves a hole in time: silence keeps the sound after it in step."""
    source = write_sound_clip(tmp_path / "gap.mkv", audio_codec="flac", rate=44100, drop_packet=3)
    report = transcode(source, tmp_path / "out.mkv", keep, FAST, process_audio=Late)
    src, dst = sound(source), sound(tmp_path / "out.mkv")
    assert report.audio is not None
    gap = report.audio["gap_samples"]
    assert gap == pytest.approx(src.frame, abs=src.tick * src.rate)  # the ms clock of MKV
    before = 3 * src.frame
    assert len(dst.samples) == len(src.samples) + gap
    assert np.array_equal(dst.samples[:before], src.samples[:before])
    assert not dst.samples[before : before + gap].any()
    assert np.array_equal(dst.samples[before + gap :], src.samples[before:])


@pytest.mark.parametrize(
    "fmt", ["u8", "s16", "s32", "flt", "dbl", "u8p", "s16p", "s32p", "fltp", "s64"]
)
def test_samples_reach_the_processor_as_interleaved_float(fmt: str) -> None:
    rng = np.random.default_rng(3)
    reference = np.round(rng.uniform(-1, 1, (100, 3)) * 100) / 128  # exact in u8 and up
    layout = "2.1"
    base = "s16" if fmt == "s64" else fmt
    dtype = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}
    kind = base.rstrip("p")
    scale = {"u8": 128, "s16": 2**15, "s32": 2**31}.get(kind, 1)
    values = reference * scale + (128 if kind == "u8" else 0)
    values = values.astype(dtype[kind])
    array = values.T if base.endswith("p") else values.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(array), format=base, layout=layout)
    frame.sample_rate = 48000
    if fmt == "s64":
        [frame] = av.AudioResampler(format="s64", layout=layout, rate=48000).resample(frame)
    converted = interleaved(frame)
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, reference.astype(np.float32))


def test_a_processor_returning_the_wrong_shape_fails_cleanly(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    class Wrong(Same):
        def push(self, samples: np.ndarray) -> np.ndarray:
            return samples[:, :1]

    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match=r"expected \(n, 2\)"):
        transcode(clips["mp4"], out, keep, FAST, process_audio=Wrong)
    assert not out.exists()


def test_frames_can_skip_non_reference_frames() -> None:
    """A detector may skip B-frames: fewer frames, in order, each a real decoded frame."""
    from tests.support.video_clips import clip_path

    clip = clip_path("pan", width=640, height=360, fps=25, seconds=2.0, audio=False)
    every = [info.time for _, info in frames(clip)]
    some = [
        (planes[0].shape, info.time, info.index)
        for planes, info in frames(clip, reference_only=True)
    ]
    assert 0 < len(some) < len(every)
    times = [time for _, time, _ in some]
    assert times == sorted(times)
    assert set(times) <= set(every)
    assert [index for _, _, index in some] == list(range(len(some)))
    assert all(shape == (360, 640) for shape, _, _ in some)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_odd_sizes_are_kept_by_embed_and_label(tmp_path: Path, suffix: str, pix_fmt: str) -> None:
    """A 257x263 video comes out 257x263 from embed and label (never cropped to even), in
    4:4:4 when x264 cannot keep 4:2:0 at that size (a note says so); the mark is found."""
    from marking.files.video import detect_video_file, embed_video_file, label_video

    # x264 cannot write odd 4:2:0 either: MPEG-4 Part 2 makes the odd 4:2:0 inputs.
    codec = "mpeg4" if pix_fmt == "yuv420p" else "libx264"
    source = write_clip(
        tmp_path / f"odd{suffix}", size=(257, 263), pix_fmt=pix_fmt, codec=codec, seconds=0.6
    )
    assert (probe_video(source).width, probe_video(source).height) == (257, 263)
    marked = tmp_path / f"marked{suffix}"
    record = embed_video_file(source, marked, key="odd", payload="00112233445566ff", settings=FAST)
    labelled = tmp_path / f"labelled{suffix}"
    label_record = label_video(source, labelled, encoder=FAST)
    for output, notes in ((marked, record["notes"]), (labelled, label_record["notes"])):
        info = probe_video(output)
        assert (info.width, info.height) == (257, 263)
        if pix_fmt == "yuv420p":
            assert info.pix_fmt == "yuv444p"
            assert any("257x263" in note and "keep the size" in note for note in notes)
        else:
            assert info.pix_fmt == pix_fmt
            assert notes == []
    found = detect_video_file(marked, key="odd")
    assert found["detected"]
    assert found["payload"] == "00112233445566ff"
