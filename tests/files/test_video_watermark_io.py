"""Watermarking video files: containers, pixel formats, the sound track, the label in the same
pass, detection windows, and one-line errors.

Clips come from tests/support/video_clips.py (640x360, 3 s of the Big Buck Bunny sample with its
sound, cached between runs); marking uses the ultrafast preset to stay quick.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from marking.errors import InputError, InputTooSmallError, OutputError, UsageError
from marking.files.video import DEFAULT_EVERY, detect_video_file, embed_video_file
from marking.labels.video_label import VideoLabelSettings
from marking.media.video import EncoderSettings, frames, probe_video
from marking.watermark.video import VideoDetector, VideoMarker
from tests.support.records import VIDEO_EMBEDDING_KEYS
from tests.support.sample_photos import load_sample
from tests.support.video_clips import clip_path

KEY = "Video-Io-Secret-2291"
PAYLOAD = "5eed0f00d5eed0f0"
FAST = EncoderSettings(preset="ultrafast")

EMBED_FIELDS = set(VIDEO_EMBEDDING_KEYS)
DETECT_FIELDS = {
    "input",
    "kind",
    "detected",
    "payload",
    "false_alarm",
    "score",
    "transform",
    "frames_used",
    "frames_decoded",
    "every",
    "start_s",
    "duration_s",
    "found_in",
    "video",
    "audio",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audio_packets(path: Path) -> list[tuple[Any, ...]]:
    """(pts, dts, bytes) of every non-empty packet of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(p.pts, p.dts, bytes(p)) for p in container.demux(stream) if p.size]


def stream_codecs(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return {s.type: s.codec_context.name for s in container.streams}


@pytest.fixture(scope="module")
def mp4() -> Path:
    return clip_path("bbb", seconds=3.0)


@pytest.fixture(scope="module")
def marked(mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The MP4 clip (H.264 + AAC) marked with default audio handling."""
    digest = sha256(mp4)
    out = tmp_path_factory.mktemp("marked") / "marked.mp4"
    record = embed_video_file(mp4, out, key=KEY, payload=PAYLOAD, settings=FAST)
    assert sha256(mp4) == digest  # the input is never modified
    return out, record


# --- embedding ---------------------------------------------------------------------------------


def test_mp4_round_trip_marks_frames_and_sound(mp4: Path, marked: tuple[Path, dict]) -> None:
    out, record = marked
    assert set(record) == EMBED_FIELDS
    assert record["kind"] == "video"
    assert record["payload"] == PAYLOAD
    assert record["frames"] == 75
    assert 42.0 <= record["psnr_min"] <= record["psnr_mean"] < 46
    assert (record["encoder"], record["crf"], record["preset"]) == ("libx264", 18, "ultrafast")
    assert record["audio"] == "watermarked"
    assert record["audio_stream"]["encoder"] == "aac"
    assert record["label"] is None
    before, after = probe_video(mp4), probe_video(out)
    for name in ("container", "width", "height", "pix_fmt", "frame_rate", "frame_count"):
        assert getattr(after, name) == getattr(before, name), name
    assert stream_codecs(out) == {"video": "h264", "audio": "aac"}

    found = detect_video_file(out, key=KEY)
    assert set(found) == DETECT_FIELDS
    assert found["detected"] is True
    assert found["payload"] == PAYLOAD
    assert found["found_in"] == ["video", "audio"]
    assert found["false_alarm"] <= 1e-6
    assert found["video"]["payload"] == PAYLOAD
    assert found["audio"]["checked"] is True
    assert found["audio"]["payload"] == PAYLOAD
    assert found["every"] == DEFAULT_EVERY
    assert found["frames_decoded"] == found["frames_used"] == 75  # no B-frames in this clip
    assert found["duration_s"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("container", "codec", "audio_codec"),
    [("mov", "libx264", "aac"), ("mkv", "libx264", "aac"), ("webm", "libvpx-vp9", "opus")],
)
def test_containers_keep_their_format(
    tmp_path: Path, container: str, codec: str, audio_codec: str
) -> None:
    source = clip_path("bbb", seconds=3.0, container=container, codec=codec)
    out = tmp_path / f"marked.{container}"
    record = embed_video_file(source, out, key=KEY, payload=PAYLOAD, settings=FAST)
    assert record["audio"] == "watermarked"
    before, after = probe_video(source), probe_video(out)
    for name in ("container", "codec", "width", "height", "pix_fmt", "frame_rate"):
        assert getattr(after, name) == getattr(before, name), name
    assert stream_codecs(out)["audio"] == audio_codec
    found = detect_video_file(out, key=KEY)
    assert found["payload"] == PAYLOAD
    assert found["found_in"] == ["video", "audio"]


@pytest.mark.parametrize("pix_fmt", ["yuv444p", "yuv420p10le"])
def test_pixel_formats_are_kept(tmp_path: Path, pix_fmt: str) -> None:
    source = clip_path("bbb", seconds=2.0, pix_fmt=pix_fmt, audio=False)
    out = tmp_path / "marked.mp4"
    record = embed_video_file(source, out, key=KEY, payload=PAYLOAD, settings=FAST)
    assert record["pix_fmt"] == pix_fmt
    assert record["psnr_min"] >= 42.0
    assert record["audio"] == "none"
    assert probe_video(out).pix_fmt == pix_fmt
    found = detect_video_file(out, key=KEY)
    assert found["payload"] == PAYLOAD
    assert found["audio"] is None


def test_copy_audio_keeps_the_sound_bit_identical(mp4: Path, tmp_path: Path) -> None:
    out = tmp_path / "copied.mp4"
    record = embed_video_file(mp4, out, key=KEY, payload=PAYLOAD, settings=FAST, copy_audio=True)
    assert record["audio"] == "copied"
    assert audio_packets(out) == audio_packets(mp4)
    found = detect_video_file(out, key=KEY)
    assert found["found_in"] == ["video"]
    assert found["audio"]["detected"] is False


def test_label_and_watermark_in_one_pass(mp4: Path, tmp_path: Path) -> None:
    out = tmp_path / "labeled.mp4"
    record = embed_video_file(
        mp4, out, key=KEY, payload=PAYLOAD, settings=FAST, label=VideoLabelSettings()
    )
    label = record["label"]
    assert label["frames_labeled"] == 50  # [0, 2 s) at 25 fps
    left, top, right, bottom = label["coded_box"]
    for (before, info), (after, _) in zip(frames(mp4), frames(out), strict=True):
        box_a = before[0][top:bottom, left:right].astype(np.int32)
        box_b = after[0][top:bottom, left:right].astype(np.int32)
        change = float(np.abs(box_a - box_b).mean())
        assert (change > 15) == (info.time < 2.0), (info.time, change)
    assert detect_video_file(out, key=KEY, audio=False)["payload"] == PAYLOAD


def test_random_payload_and_progress(mp4: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    record = embed_video_file(
        mp4, tmp_path / "r.mp4", settings=FAST, copy_audio=True, progress=lambda *a: calls.append(a)
    )
    assert len(record["payload"]) == 16
    assert [done for done, _ in calls[:-1]] == list(range(1, 76))
    assert calls[-1] == (75, 75)
    # The public key by default: anyone can check for the toolkit's mark.
    assert detect_video_file(tmp_path / "r.mp4", audio=False)["payload"] == record["payload"]


# --- detection ---------------------------------------------------------------------------------


def test_unmarked_and_wrong_key_are_not_detected(mp4: Path, marked: tuple[Path, dict]) -> None:
    plain = detect_video_file(mp4, key=KEY)
    assert plain["detected"] is False
    assert plain["payload"] is None
    assert plain["found_in"] == []
    assert plain["audio"]["detected"] is False
    wrong = detect_video_file(marked[0], key="another key")
    assert wrong["detected"] is False
    assert wrong["video"]["detected"] is False
    assert wrong["audio"]["detected"] is False


def _write_lossless(path: Path, planes: list[np.ndarray]) -> None:
    """Luma planes as a lossless H.264 file (grey chroma), frame for frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = planes[0].shape
        stream.pix_fmt = "yuv420p"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        for plane in planes:
            frame = av.VideoFrame(plane.shape[1], plane.shape[0], "yuv420p")
            frame.planes[0].update(np.ascontiguousarray(plane))
            grey = np.full((plane.shape[0] // 2, plane.shape[1] // 2), 128, np.uint8)
            frame.planes[1].update(grey)
            frame.planes[2].update(grey)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_a_mark_left_in_one_frame_is_found_by_the_second_look(tmp_path: Path) -> None:
    """Only the first of twenty noisy frames of a pan keeps the mark (as heavy compression
    leaves one): their average synchronises but does not decode; the second pass over the
    file weighs the frames and does."""
    rgb = np.asarray(Image.fromarray(load_sample("photo-dandelions.jpg")).resize((960, 540)))
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    photo = np.clip(np.round(rgb.astype(np.float32) @ luma), 0, 255).astype(np.uint8)
    marker = VideoMarker(payload=PAYLOAD, key=KEY)
    planes = []
    for index in range(20):
        plane = np.ascontiguousarray(photo[index : index + 360, 6 * index : 6 * index + 640])
        if index == 0:
            marker.mark_plane(plane)
        noisy = plane + np.random.default_rng(index).normal(0, 3.0, plane.shape)
        planes.append(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    path = tmp_path / "diluted.mp4"
    _write_lossless(path, planes)
    average = VideoDetector(key=KEY)
    for planes_read, info in frames(path):
        average.push_plane(planes_read[0], max_value=info.max_value)
    assert not average.result().detected
    found = detect_video_file(path, key=KEY, all_frames=True, audio=False)
    assert found["detected"] is True
    assert found["payload"] == PAYLOAD
    assert found["frames_used"] == 20
    assert found["false_alarm"] <= 1e-6
    assert detect_video_file(path, key="another key", all_frames=True)["detected"] is False


def test_detection_windows(marked: tuple[Path, dict]) -> None:
    out = marked[0]
    window = detect_video_file(out, key=KEY, start=1.0, seconds=1.2, every=1, audio=False)
    assert window["payload"] == PAYLOAD
    assert window["frames_used"] == 30
    assert window["start_s"] == pytest.approx(1.0)
    assert window["duration_s"] == pytest.approx(1.2)
    few = detect_video_file(out, key=KEY, max_frames=5, audio=False)
    assert few["frames_used"] == 5
    assert few["payload"] == PAYLOAD
    sparse = detect_video_file(out, key=KEY, every=5, audio=False)
    assert sparse["frames_used"] == 15
    sound_only = detect_video_file(out, key=KEY, start=1.0)
    assert sound_only["audio"]["duration_s"] == pytest.approx(2.0, abs=0.05)
    with pytest.raises(InputError, match="no video frames at or after 9 s"):
        detect_video_file(out, key=KEY, start=9.0)


def test_detection_skips_frames_nothing_refers_to(tmp_path: Path) -> None:
    """A clip with B-frames: by default the decoder skips the unreferenced ones."""
    source = clip_path("pan", seconds=3.0, audio=False)
    out = tmp_path / "marked.mp4"
    embed_video_file(source, out, key=KEY, payload=PAYLOAD, settings=EncoderSettings())
    calls: list[tuple[int, int | None]] = []
    quick = detect_video_file(out, key=KEY, progress=lambda *a: calls.append(a))
    full = detect_video_file(out, key=KEY, all_frames=True)
    assert quick["payload"] == full["payload"] == PAYLOAD
    assert full["frames_decoded"] == 75
    assert quick["frames_decoded"] < 60
    assert quick["frames_used"] == quick["frames_decoded"]
    assert quick["duration_s"] == pytest.approx(3.0, abs=0.1)
    assert calls[-1][1] == 75
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.parametrize(
    "options",
    [{"every": 0}, {"every": 1.5}, {"start": -1.0}, {"seconds": 0.0}, {"max_frames": 0}],
)
def test_detection_options_are_checked(marked: tuple[Path, dict], options: dict) -> None:
    with pytest.raises(UsageError):
        detect_video_file(marked[0], key=KEY, **options)


# --- errors ------------------------------------------------------------------------------------


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_unusable_inputs_give_one_line_errors(mp4: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    for bad in (empty, truncated, garbage, tmp_path / "missing.mp4"):
        for call in (
            lambda path: embed_video_file(path, tmp_path / "out.mp4", settings=FAST),
            lambda path: detect_video_file(path),
        ):
            with pytest.raises(InputError) as error:
                call(bad)
            assert bad.name in one_line(error)
    assert not (tmp_path / "out.mp4").exists()


def test_small_frames_and_bad_outputs(mp4: Path, tmp_path: Path) -> None:
    small = clip_path("bbb", width=320, height=180, seconds=1.0, audio=False)
    with pytest.raises(InputTooSmallError, match="at least 256 px"):
        embed_video_file(small, tmp_path / "small.mp4", settings=FAST)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        embed_video_file(mp4, mp4, settings=FAST)
    with pytest.raises(UsageError, match="suffix"):
        embed_video_file(mp4, tmp_path / "out.mkv", settings=FAST)
    with pytest.raises(UsageError, match="strength"):
        embed_video_file(mp4, tmp_path / "out.mp4", strength=5)
    with pytest.raises(UsageError, match="payload"):
        embed_video_file(mp4, tmp_path / "out.mp4", payload="xyz")
    assert list(tmp_path.iterdir()) == []
