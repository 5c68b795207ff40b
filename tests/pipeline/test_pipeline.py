"""The pipeline's Python API: mark_file on every kind of media, mark_image, AudioMarker.

Real codecs on small real media: a 256 px photo, a few seconds of speech, a two-second
320x256 clip. Every mark is read back with the toolkit's own verifier.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import marking
from marking import CueSettings, EncoderSettings, MarkConfig
from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.labels.audio_cue import add_cue
from marking.media.sniffing import FORMATS, media_kind
from marking.pipeline.mark import content_id
from marking.pipeline.verify import payload_for_label
from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.video_clips import clip_path
from tests.support.wall_clock import bound, time_of

KEY = "pipeline-test-key"
PRODUCER = "ExampleAI"
PAYLOAD = "00c0ffee00c0ffee"
RATE = 16_000


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hidden_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A JPEG photo, a FLAC recording (3 s of speech) and an MP4 clip (2 s, 320x256)."""
    folder = tmp_path_factory.mktemp("media")
    photo = folder / "photo.jpg"
    make_natural_image("RGB", (320, 256), seed=5).save(photo, quality=92)
    speech = folder / "speech.flac"
    sf.write(speech, clip("speech", 3.0, RATE), RATE)
    video = folder / "clip.mp4"
    shutil.copyfile(
        clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast"), video
    )
    return {"image": photo, "audio": speech, "video": video}


FAST = MarkConfig(producer=PRODUCER, encoder=EncoderSettings(preset="ultrafast"))


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_mark_file_applies_every_step(media: dict[str, Path], tmp_path: Path, kind: str) -> None:
    source = media[kind]
    before = digest(source)
    target = tmp_path / f"marked{source.suffix}"

    record = marking.mark_file(source, target, FAST, key=KEY)

    produce_id = content_id(source, PRODUCER)
    assert record["kind"] == kind
    assert record["input"] == str(source)
    assert record["output"] == str(target)
    assert record["steps"] == ["label", "watermark", "metadata"]
    assert record["produce_id"] == produce_id
    assert record["payload"] == payload_for_label(PRODUCER, produce_id)
    assert record["seconds"] > 0
    assert all(value >= 0 for value in record["timings"].values())
    assert digest(source) == before  # the input is never modified
    assert hidden_files(tmp_path) == []  # no intermediate file left
    assert media_kind(target) == kind

    found = marking.verify_file(target, key=KEY)
    assert found.ai_marked
    assert found.agreement == "consistent"  # label and watermark agree; nobody signed them
    assert found.aigc["ContentProducer"] == PRODUCER
    assert found.aigc["ProduceID"] == produce_id
    assert found.watermark["detected"]
    assert found.watermark["payload"] == record["payload"]
    if kind == "video":
        assert found.watermark["found_in"] == ["video", "audio"]
    if kind == "audio":  # the Morse cue is prepended: the recording grew
        assert sf.info(target).frames > sf.info(source).frames
    if kind == "image":
        with Image.open(target) as out, Image.open(source) as original:
            assert (out.format, out.size, out.mode) == (original.format, original.size, "RGB")

    # The same input marks to the same bytes (ProduceID and payload come from the content).
    again = tmp_path / f"again{source.suffix}"
    assert marking.mark_file(source, again, FAST, key=KEY)["payload"] == record["payload"]
    assert digest(again) == digest(target)


def test_mark_file_without_metadata_uses_the_given_payload(
    media: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "watermarked.jpg"
    config = MarkConfig(steps=frozenset({"watermark"}))
    record = marking.mark_file(media["image"], target, config, key=KEY, payload=PAYLOAD)
    assert record["steps"] == ["watermark"]
    assert (record["payload"], record["produce_id"]) == (PAYLOAD, None)
    found = marking.verify_file(target, key=KEY)
    assert found.aigc is None
    assert found.watermark["payload"] == PAYLOAD


def test_mark_file_metadata_only_keeps_the_pixels(media: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "tagged.jpg"
    config = MarkConfig(steps=frozenset({"metadata"}), producer=PRODUCER)
    record = marking.mark_file(media["image"], target, config, key=KEY, produce_id="job-42")
    assert record["produce_id"] == "job-42"
    with Image.open(target) as out, Image.open(media["image"]) as original:
        assert np.array_equal(np.asarray(out), np.asarray(original))
    found = marking.verify_file(target, key=KEY)
    assert found.aigc["ProduceID"] == "job-42"
    assert not found.watermark["detected"]


def test_mark_file_refuses_the_input_and_bad_files(media: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "photo.jpg"
    shutil.copyfile(media["image"], copy)
    before = digest(copy)
    with pytest.raises(OutputError, match="refusing to overwrite the input"):
        marking.mark_file(copy, copy, FAST)
    assert digest(copy) == before

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(copy.read_bytes()[:3000])
    with pytest.raises(OutputError, match="does not exist"):
        marking.mark_file(broken, tmp_path / "out" / "broken.jpg", FAST)
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError):
        marking.mark_file(broken, tmp_path / "out" / "broken.jpg", FAST)
    assert list((tmp_path / "out").iterdir()) == []  # nothing, not even a hidden file


# --- steps a format cannot take: refused before any work --------------------------------------


class WorkStarted(Exception):
    """Raised by the stand-ins for the marking steps: the pipeline went past its checks."""


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make hashing, the label and the watermark steps, and tagging raise WorkStarted."""
    import marking.pipeline.mark
    import marking.tags.tagging

    def started(*args: object, **kwargs: object) -> None:
        raise WorkStarted

    for name in ("content_id", "_mark_image_file", "_mark_audio_file", "_mark_video_file"):
        monkeypatch.setattr(marking.pipeline.mark, name, started)
    monkeypatch.setattr(marking.tags.tagging, "tag_file", started)


@pytest.fixture(scope="module")
def odd_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Media in formats C2PA has no embedding for (MKV, WebM, Ogg Vorbis, Ogg Opus) or the
    GB 45438 label no place in (AIFF), beside ones that take both (FLAC, WAV, MOV)."""
    from tests.media.test_video_io import write_clip

    folder = tmp_path_factory.mktemp("odd")
    size = (320, 256)
    write_clip(folder / "clip.mkv", size=size, seconds=0.4)
    write_clip(folder / "clip.webm", size=size, seconds=0.4, codec="libvpx-vp9")
    write_clip(folder / "clip.mov", size=size, seconds=0.4)
    speech = clip("speech", 1.0, RATE)
    for name, fmt, subtype in [
        ("tone.ogg", "OGG", "VORBIS"),
        ("tone.opus", "OGG", "OPUS"),
        ("tone.aiff", "AIFF", "PCM_16"),
        ("tone.flac", "FLAC", "PCM_16"),
        ("tone.wav", "WAV", "PCM_16"),
    ]:
        rate = 48000 if subtype == "OPUS" else RATE
        sf.write(folder / name, speech, rate, subtype=subtype, format=fmt)
    return {path.name: path for path in folder.iterdir()}


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from marking.tags.tagging import Signing
    from marking.tags.test_ca import make_test_ca

    ca = make_test_ca(tmp_path_factory.mktemp("ca"))
    return Signing(ca.chain, ca.key)


EVERY_STEP = frozenset({"label", "watermark", "metadata", "c2pa"})


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("clip.mkv", "the c2pa step"),
        ("clip.webm", "the c2pa step"),
        ("tone.ogg", "the c2pa step"),
        ("tone.opus", "the c2pa step"),
        ("tone.aiff", "the metadata and c2pa steps"),
    ],
)
@pytest.mark.usefixtures("no_work")
def test_a_step_the_format_cannot_take_is_refused_first(
    odd_media: dict[str, Path], signing: Any, tmp_path: Path, name: str, refused: str
) -> None:
    config = MarkConfig(steps=EVERY_STEP, producer=PRODUCER, signing=signing, encoder=FAST.encoder)
    with pytest.raises(UnsupportedInputError):  # once for the modules it imports
        marking.mark_file(odd_media[name], tmp_path / name, config, key=KEY)
    # Refused after a look at the format, not after decoding: a bound that grows with the
    # machine's load, from the time a look at the format takes now (tests/support/wall_clock.py).
    look = time_of(lambda: media_kind(odd_media[name]))
    started = time.perf_counter()
    with pytest.raises(UnsupportedInputError) as caught:
        marking.mark_file(odd_media[name], tmp_path / name, config, key=KEY)
    assert time.perf_counter() - started < bound(look, 200, 1.0)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{odd_media[name]}: cannot do {refused} for this file: ")
    assert "leave " in message
    assert " out for such files" in message
    if "c2pa" in refused:
        assert "C2PA defines no way to embed a manifest in" in message
        assert "--c2pa-cert" in message
    if "metadata" in refused:
        assert "files have no place for the GB 45438 label" in message
        assert "--steps label,watermark" in message
    assert list(tmp_path.iterdir()) == []  # no output, no hidden intermediate


@pytest.mark.usefixtures("no_work")
def test_a_format_without_a_label_place_is_refused_for_the_metadata_step(
    odd_media: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(UnsupportedInputError, match="cannot do the metadata step") as caught:
        marking.mark_file(odd_media["tone.aiff"], tmp_path / "tone.aiff", FAST, key=KEY)
    assert "(--steps label,watermark)" in str(caught.value)
    watermark_only = MarkConfig(steps=frozenset({"label", "watermark"}))
    with pytest.raises(WorkStarted):  # nothing to refuse: on to the marking
        marking.mark_file(odd_media["tone.aiff"], tmp_path / "tone.aiff", watermark_only)


@pytest.mark.parametrize("name", ["clip.mov", "tone.flac", "tone.wav"])
@pytest.mark.usefixtures("no_work")
def test_formats_that_take_every_step_go_on_to_the_marking(
    odd_media: dict[str, Path], signing: Any, tmp_path: Path, name: str
) -> None:
    config = MarkConfig(steps=EVERY_STEP, producer=PRODUCER, signing=signing, encoder=FAST.encoder)
    with pytest.raises(WorkStarted):
        marking.mark_file(odd_media[name], tmp_path / name, config, key=KEY)


def test_batch_fails_such_files_at_once(
    odd_media: dict[str, Path], signing: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``aigc-mark mark --c2pa-cert``: MKV and Ogg fail on one line each, the MOV is marked."""
    import json

    from marking.cli import main as cli_main

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("clip.mkv", "tone.ogg", "clip.mov"):
        shutil.copyfile(odd_media[name], inputs / name)
    report = tmp_path / "report.jsonl"
    monkeypatch.setenv("AIGC_MARK_KEY", KEY)
    code = cli_main.main(
        ["mark", str(inputs), "-o", str(tmp_path / "out"), "--producer", PRODUCER,
         "--c2pa-cert", str(signing.cert_chain), "--c2pa-key", str(signing.key),
         "--report", str(report), "--no-progress", "--workers", "1"]
    )  # fmt: skip
    assert code == 3
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert records["clip.mov"]["status"] == "marked"
    for name in ("clip.mkv", "tone.ogg"):
        assert records[name]["status"] == "failed"
        assert "cannot do the c2pa step" in records[name]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.mov"]


def test_mark_config_checks_its_settings() -> None:
    with pytest.raises(UsageError, match="producer"):
        MarkConfig()
    with pytest.raises(UsageError, match="unknown step"):
        MarkConfig(steps=frozenset({"label", "stamp"}))
    with pytest.raises(UsageError, match="signing"):
        MarkConfig(steps=frozenset({"c2pa"}), producer=PRODUCER)
    with pytest.raises(UsageError, match="no steps"):
        MarkConfig(steps=frozenset())
    assert MarkConfig(steps=["watermark", "label"]).ordered_steps() == ["label", "watermark"]


# --- mark_image --------------------------------------------------------------------------------


def test_mark_image_on_an_array() -> None:
    picture = np.asarray(make_natural_image("RGB", (384, 256), seed=8)).copy()
    marked, record = marking.mark_image(picture, key=KEY, payload=PAYLOAD)
    assert (marked.shape, marked.dtype) == (picture.shape, picture.dtype)
    assert record["payload"] == PAYLOAD
    assert record["psnr"] > 35
    assert set(record["label"]) >= {"box"}
    left, top, right, bottom = record["label"]["box"]
    assert right > left
    assert bottom > top
    assert right > picture.shape[1] / 2
    assert bottom > picture.shape[0] / 2
    # The label changed its box far more than the watermark changed anything else.
    difference = np.abs(marked.astype(np.int16) - picture).max(axis=2)
    inside = difference[top:bottom, left:right].mean()
    outside = difference[: top - 8, : left - 8].mean()
    assert inside > 10 * outside
    assert marking.detect_image(marked, key=KEY).payload == PAYLOAD
    assert not np.shares_memory(marked, picture)


def test_mark_image_on_a_pil_image_and_without_label() -> None:
    picture = make_natural_image("RGB", (256, 320), seed=9)
    marked, record = marking.mark_image(picture, key=KEY, payload=PAYLOAD, label=False)
    assert isinstance(marked, Image.Image)
    assert (marked.mode, marked.size) == (picture.mode, picture.size)
    assert "label" not in record
    assert marking.detect_image(marked, key=KEY).payload == PAYLOAD

    labeled, record = marking.mark_image(picture, key=KEY, watermark=False)
    assert set(record) == {"label"}
    assert not marking.detect_image(labeled, key=KEY).detected


# --- AudioMarker -------------------------------------------------------------------------------


def one_shot(samples: np.ndarray, cue: CueSettings | None) -> np.ndarray:
    """The reference: the cue placed on the whole signal, then the whole-signal watermark."""
    mono = samples.ndim == 1
    if cue is not None:
        cued, _ = add_cue(samples[:, None] if mono else samples, RATE, cue)
        samples = cued[:, 0] if mono else cued
    return marking.embed_audio(samples, RATE, PAYLOAD, key=KEY)


def streamed(samples: np.ndarray, sizes: list[int], cue: object) -> np.ndarray:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    marker = marking.AudioMarker(rate=RATE, channels=channels, payload=PAYLOAD, key=KEY, cue=cue)
    assert marker.payload == PAYLOAD
    pieces, start = [], 0
    for size in sizes:
        pieces.append(marker.push(samples[start : start + size]))
        start += size
    pieces.append(marker.push(samples[start:]))
    pieces.append(marker.finish())
    assert all(piece.dtype == np.float32 for piece in pieces)
    assert all(piece.shape[1:] == samples.shape[1:] for piece in pieces)
    return np.concatenate(pieces)


@pytest.mark.parametrize(
    ("channels", "cue", "sizes"),
    [
        (1, True, [5000] * 9),  # the default Morse cue at the start
        (2, CueSettings(places=frozenset({"end"})), [1, 777, 16000, 3, 24000]),
        (2, CueSettings(mode="mix"), [12345, 0, 30001]),
        (1, False, [40000, 40000]),
    ],
)
def test_audio_marker_equals_the_one_shot_marking(
    channels: int, cue: object, sizes: list[int]
) -> None:
    samples = np.array(clip("speech", 5.0, RATE, channels=channels))
    settings = CueSettings() if cue is True else (cue or None)
    reference = one_shot(samples, settings)

    marked = streamed(samples, sizes, cue)

    assert marked.shape == reference.shape
    assert np.array_equal(marked, reference)  # bit-identical, not just close
    if settings is not None and settings.mode == "prepend":
        assert len(marked) > len(samples)
    found = marking.detect_audio(marked, RATE, key=KEY)
    assert found.detected
    assert found.payload == PAYLOAD


def test_audio_marker_refuses_mixed_layouts_and_integers() -> None:
    marker = marking.AudioMarker(rate=RATE, channels=1, payload=PAYLOAD, key=KEY, cue=True)
    marker.push(np.zeros(1000, np.float32))
    with pytest.raises(UsageError, match="mono"):
        marker.push(np.zeros((1000, 1), np.float32))
    # PCM integers are refused, as embed_audio refuses them, not marked as +-32768 samples.
    pcm = np.full(RATE, 1000, np.int16)
    with pytest.raises(TypeError, match="floating point"):
        marking.embed_audio(pcm, RATE, PAYLOAD, key=KEY)
    with pytest.raises(TypeError, match="floating point"):
        marking.AudioMarker(rate=RATE, channels=1, payload=PAYLOAD, key=KEY).push(pcm)


def test_public_names_stay_what_they_are_once_every_module_is_loaded() -> None:
    """A submodule named like a public function would replace it on import (as
    ``marking.media_kind`` once did): every public name must stay a non-module."""
    import importlib
    import pkgutil
    import types

    for module in pkgutil.walk_packages(marking.__path__, "marking."):
        importlib.import_module(module.name)
    for name in marking.__all__:
        assert not isinstance(getattr(marking, name), types.ModuleType), name


# --- every command on the same files: extra tracks, formats --------------------------------


def _run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """``aigc-mark`` in this process (fast: the kernels stay loaded); exit code, out, err."""
    from marking.cli import main as cli_main

    code = cli_main.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fast_config(folder: Path) -> Path:
    config = folder / "fast.toml"
    config.write_text('[video.encoder]\npreset = "ultrafast"\n')
    return config


def _tracks(path: Path) -> tuple[list[str], int, str | None]:
    """The streams of a video file (``cover`` for attached pictures), its chapter count and
    its video stream's timecode."""
    import av

    with av.open(str(path)) as container:
        kinds = [
            "cover" if stream.disposition & av.stream.Disposition.attached_pic else stream.type
            for stream in container.streams
        ]
        video = container.streams.video[0]
        return kinds, len(container.chapters()), video.metadata.get("timecode")


EXTRA_TRACK_CASES = [("mp4", extra) for extra in ("subtitle", "timecode", "data", "chapters")]
EXTRA_TRACK_CASES += [("mp4", "second_audio"), ("mp4", "cover")]
# MOV holds no untyped data track and drops cover pictures when written: not made here.
EXTRA_TRACK_CASES += [("mov", extra) for extra in ("subtitle", "timecode", "chapters")]
EXTRA_TRACK_CASES += [("mov", "second_audio")]


@pytest.mark.parametrize(("suffix", "extra"), EXTRA_TRACK_CASES)
def test_every_command_takes_mp4_and_mov_with_extra_tracks(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    extra: str,
) -> None:
    """Subtitles (with the empty closing sample), timecode, data, chapters, a second sound
    track, cover art: embed, label, tag (also of embed's and label's outputs), mark, verify
    and detect all succeed; every track is kept, or dropped with a note naming it (data the
    container cannot hold; cover art beside the label's mdta tags), never silently; no
    message names a hidden temporary file."""
    from tests.media.test_video_io import write_extra_tracks

    monkeypatch.setenv("AIGC_MARK_KEY", KEY)
    source = write_extra_tracks(tmp_path / f"in.{suffix}", extra)
    out = tmp_path / "out"
    out.mkdir()
    fast = _fast_config(tmp_path)
    embedded, labelled = out / f"embed.{suffix}", out / f"label.{suffix}"
    runs = {  # verb: (its input, its output, the command line)
        "embed": (source, embedded, ["embed", "--x264-preset", "ultrafast"]),
        "label": (source, labelled, ["label", "--x264-preset", "ultrafast"]),
        "tag": (source, out / f"tag.{suffix}", ["tag", "--producer", PRODUCER]),
        "tag-embed": (embedded, out / f"te.{suffix}", ["tag", "--producer", PRODUCER]),
        "tag-label": (labelled, out / f"tl.{suffix}", ["tag", "--producer", PRODUCER]),
        "mark": (source, out / "marked" / f"in.{suffix}", ["mark", "--producer", PRODUCER,
                 "-j", "1", "--config", fast, "--no-progress"]),
    }  # fmt: skip
    messages = []
    for verb, (given, written, argv) in runs.items():
        target = written.parent if verb == "mark" else written
        code, stdout, stderr = _run_cli(capsys, argv[0], given, "-o", target, *argv[1:])
        messages.append(stdout + stderr)
        assert code == 0, (verb, stdout, stderr)
        expected, chapters, timecode = _tracks(given)
        got_kinds, got_chapters, got_timecode = _tracks(written)
        if extra == "data" and "data" in expected:  # no muxer stores an unknown codec
            expected.remove("data")
            assert "stream 2 (data, bin_data) not copied" in stdout + stderr, verb
        if "cover" in expected and verb in ("tag", "tag-embed", "tag-label", "mark"):
            expected.remove("cover")
            assert "not copied: cover art cannot be kept" in stdout + stderr, verb
        assert got_kinds == expected, verb
        assert got_chapters == chapters, verb
        assert got_timecode == timecode, verb
    outputs = {verb: written for verb, (_, written, _) in runs.items()}
    code, stdout, stderr = _run_cli(capsys, "verify", outputs["mark"])
    assert code == 0, stderr
    assert "metadata label" in stdout
    assert "watermark" in stdout
    assert "agree" in stdout or "mismatch" not in stdout
    code, stdout, stderr = _run_cli(capsys, "detect", outputs["embed"])
    assert code == 0, stdout + stderr
    assert "watermark found" in stdout
    assert not any(".part" in text or ".aigc-" in text for text in messages)
    hidden = [path for path in tmp_path.rglob(".*")]
    assert hidden == []


def _format_sample(name: str, folder: Path) -> Path:
    """A small file of the format table's ``name`` (see marking.media.sniffing.FORMATS)."""
    import av

    from tests.media.test_video_io import write_clip

    stem = folder / "sample"
    pictures = {"JPEG": ".jpg", "PNG": ".png", "WebP": ".webp", "TIFF": ".tif", "AVIF": ".avif"}
    if name in pictures:
        path = stem.with_suffix(pictures[name])
        make_natural_image(size=(256, 256)).save(path)
        return path
    if name in ("HEIF", "CR3"):  # Pillow writes neither; the first bytes are what is judged
        path = stem.with_suffix(".heic" if name == "HEIF" else ".cr3")
        brand = b"heic" if name == "HEIF" else b"crx "
        path.write_bytes(b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"\0" * 64)
        return path
    sounds = {
        "WAV": (".wav", "WAV", "PCM_16"),
        "RF64": (".rf64", "RF64", "PCM_16"),
        "Wave64": (".w64", "W64", "PCM_16"),
        "AIFF": (".aiff", "AIFF", "PCM_16"),
        "CAF": (".caf", "CAF", "PCM_16"),
        "FLAC": (".flac", "FLAC", "PCM_16"),
        "MP3": (".mp3", "MP3", "MPEG_LAYER_III"),
        "Ogg": (".ogg", "OGG", "VORBIS"),
    }
    speech = clip("speech", 2.0, RATE)
    if name in sounds:
        suffix, fmt, subtype = sounds[name]
        path = stem.with_suffix(suffix)
        # Vorbis at 16 kHz smears two seconds of mark too much to find; 3 s at 44.1 kHz
        # decoded at the edge (z 7.2-7.4 after mark's cue, missed once in CI): 5 s has room.
        if name == "Ogg":
            sf.write(path, clip("music", 5.0, 44_100), 44_100, format=fmt, subtype=subtype)
        else:
            sf.write(path, speech, RATE, format=fmt, subtype=subtype)
        return path
    if name == "M4A":
        path = stem.with_suffix(".m4a")
        with av.open(str(path), "w", format="ipod") as container:
            sound = container.add_stream("aac", rate=RATE)
            for start in range(0, len(speech) - 1024, 1024):
                block = np.ascontiguousarray(speech[start : start + 1024], np.float32)[None]
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = RATE, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
        return path
    videos = {"MP4": ".mp4", "MOV": ".mov", "MKV": ".mkv", "WebM": ".webm"}
    codec = "libvpx-vp9" if name == "WebM" else "libx264"
    return write_clip(  # write_clip's sound is AAC, which WebM cannot hold
        stem.with_suffix(videos[name]), size=(320, 256), seconds=0.4, codec=codec,
        audio=name != "WebM",
    )  # fmt: skip


def _sniffed(path: Path) -> str | None:
    from marking.media.sniffing import format_of_head

    with path.open("rb") as stream:
        found = format_of_head(stream.read(64))
    return None if found is None else found.name


#: Sound in MP4/M4A (AAC, ALAC) is not decoded: the watermark commands refuse it alike.
_NO_SOUND_DECODING = "MP4/M4A (AAC, ALAC) audio is not supported"


@pytest.mark.parametrize("name", [fmt.name for fmt in FORMATS])
def test_every_command_takes_the_same_formats(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """Each format of the one table: every command succeeds with an output in the format its
    name says (and verify reads the watermark of the outputs), or every command refuses it
    with the same line. A format without a place for the label (AIFF, CAF, Wave64, RF64)
    is refused by tag and mark's metadata step with the same line, and verify says so."""
    from marking.media.sniffing import label_refusal

    fmt = next(fmt for fmt in FORMATS if fmt.name == name)
    monkeypatch.setenv("AIGC_MARK_KEY", KEY)
    source = _format_sample(name, tmp_path)
    suffix = source.suffix
    out = tmp_path / "out"
    out.mkdir()
    fast = _fast_config(tmp_path)
    commands = {
        "embed": ["embed", source, "-o", out / f"embed{suffix}", "--x264-preset", "ultrafast"],
        "label": ["label", source, "-o", out / f"label{suffix}", "--x264-preset", "ultrafast"],
        "tag": ["tag", source, "-o", out / f"tag{suffix}", "--producer", PRODUCER],
        "mark": ["mark", source, "-o", out / "all", "--producer", PRODUCER, "-j", "1",
                 "--config", fast, "--no-progress"],
        "mark-no-label": ["mark", source, "-o", out / "some", "--steps", "label,watermark",
                          "-j", "1", "--config", fast, "--no-progress"],
        "verify": ["verify", source],
        "detect": ["detect", source],
    }  # fmt: skip
    if fmt.refused is not None or media_kind(source) != "video":
        for argv in (commands["embed"], commands["label"]):  # video encoder options
            del argv[-2:]
    results = {verb: _run_cli(capsys, *argv) for verb, argv in commands.items()}
    outputs = {
        "embed": out / f"embed{suffix}",
        "label": out / f"label{suffix}",
        "tag": out / f"tag{suffix}",
        "mark": out / "all" / source.name,
        "mark-no-label": out / "some" / source.name,
    }
    if fmt.refused is not None:
        for verb, (code, stdout, stderr) in results.items():
            assert code != 0, verb
            lines = [line for line in (stdout + stderr).splitlines() if fmt.refused in line]
            assert len(lines) == 1, (verb, stdout, stderr)
        assert list(out.rglob("*.*")) == []
        return
    refused: dict[str, str] = {}
    if not fmt.label:
        refused |= {"tag": label_refusal(fmt), "mark": label_refusal(fmt)}
    if name == "M4A":
        refused |= dict.fromkeys(("embed", "label", "mark", "mark-no-label"), _NO_SOUND_DECODING)
        refused["detect"] = _NO_SOUND_DECODING
    for verb, (code, stdout, stderr) in results.items():
        if verb in refused:
            assert code != 0, verb
            assert refused[verb] in stdout + stderr, (verb, stdout, stderr)
            if verb in outputs:
                assert not outputs[verb].exists()
        elif verb in outputs:
            assert code == 0, (verb, stdout, stderr)
            assert _sniffed(outputs[verb]) == name, verb
        else:  # verify and detect on an unmarked input: read, no mark found
            assert code == 1, (verb, stdout, stderr)
    marked = [outputs[verb] for verb in ("mark", "mark-no-label", "embed") if verb not in refused]
    if not marked:  # M4A: the label alone, which verify reads
        marked = [outputs["tag"]]
    code, stdout, stderr = _run_cli(capsys, "verify", marked[0])
    assert code == 0, stdout + stderr
    assert "AI-generated" in stdout
    if not fmt.label:
        assert label_refusal(fmt) in stdout  # said, and no "metadata was stripped"
        assert "stripped" not in stdout
    if "detect" not in refused:
        code, stdout, stderr = _run_cli(capsys, "detect", marked[0])
        assert code == 0, stdout + stderr


@pytest.mark.parametrize("verb", ["embed", "label", "tag"])
@pytest.mark.parametrize(
    ("name", "wrong"), [("PNG", ".wav"), ("PNG", ".mp4"), ("WAV", ".png"), ("WAV", ".mp4"),
                        ("MP4", ".wav"), ("MP4", ".jpg"), ("FLAC", ".mkv")],
)  # fmt: skip
def test_an_output_named_as_another_kind_of_media_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
    name: str,
    wrong: str,
) -> None:
    """A picture named .wav, a sound named .png or .mp4, a video named .wav: no command
    writes a file whose name says another format (usage error, no output)."""
    monkeypatch.setenv("AIGC_MARK_KEY", KEY)
    source = _format_sample(name, tmp_path)
    target = tmp_path / f"out{wrong}"
    extra = ["--producer", PRODUCER] if verb == "tag" else []
    code, stdout, stderr = _run_cli(capsys, verb, source, "-o", target, *extra)
    assert code == 2, (stdout, stderr)
    assert f"suffix {wrong}" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not target.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [source.name]


# --- honest manifests: the soft binding names the watermark in the file, or there is none ---


def _manifest(path: Path) -> Any:
    from marking.tags.c2pa_read import read_manifest

    report = read_manifest(path)
    assert report.state == "untrusted", report.reason  # intact; no trust anchors given
    return report


@pytest.mark.parametrize(
    ("kind", "schemes"),
    [("image", ("image",)), ("audio", ("audio",)), ("video", ("video", "audio"))],
)
def test_manifest_binds_the_watermark_this_run_embedded(
    media: dict[str, Path], tmp_path: Path, signing: Any, kind: str, schemes: tuple[str, ...]
) -> None:
    """One soft binding per scheme carrying the payload (a video's frames and its sound), a
    c2pa.watermarked action by the marking tool, and the generative system as the agent."""
    from dataclasses import replace

    from marking.pipeline.mark import mark_file
    from marking.tags.c2pa import SOFT_BINDING_ALGS, WATERMARKED_ACTION

    named = replace(signing, system_name="GenX", system_version="3.1")
    config = replace(FAST, steps=EVERY_STEP, signing=named)
    out = tmp_path / media[kind].name
    record = mark_file(media[kind], out, config, key=KEY)
    report = _manifest(out)
    assert report.soft_binding_algs == tuple(SOFT_BINDING_ALGS[name] for name in schemes)
    assert report.soft_binding_payload == record["payload"]
    assert [action["action"] for action in report.actions] == ["c2pa.created", WATERMARKED_ACTION]
    assert report.actions[1]["softwareAgent"]["name"] == "aigc-marking"
    assert report.software_agent == {"name": "GenX", "version": "3.1"}
    assert report.disclosure["systemName"] == "GenX"
    assert report.disclosure["systemVersion"] == "3.1"


def test_no_soft_binding_without_a_watermark_in_the_file(
    media: dict[str, Path], tmp_path: Path, signing: Any
) -> None:
    """mark without its watermark step, an M4A (never watermarked) and tag of an unmarked
    file sign manifests with neither a soft binding nor a c2pa.watermarked action."""
    from dataclasses import replace

    from marking.pipeline.mark import mark_file, tag_marked_file
    from marking.tags.aigc_label import AigcLabel

    signed = []
    config = replace(FAST, steps=frozenset({"metadata", "c2pa"}), signing=signing)
    mark_file(media["image"], tmp_path / "metadata-only.jpg", config, key=KEY)
    signed.append(tmp_path / "metadata-only.jpg")
    m4a = _format_sample("M4A", tmp_path)
    mark_file(m4a, tmp_path / "mark.m4a", config, key=KEY)
    signed.append(tmp_path / "mark.m4a")
    for source in (m4a, media["image"]):
        out = tmp_path / f"tag{source.suffix}"
        record = tag_marked_file(source, out, AigcLabel.create(PRODUCER), key=KEY, signing=signing)
        assert record["watermark"] is None
        signed.append(out)
    for path in signed:
        report = _manifest(path)
        assert report.soft_binding_algs == (), path
        assert [action["action"] for action in report.actions] == ["c2pa.created"], path


def test_mark_names_no_watermark_it_cannot_find_in_its_output(
    media: dict[str, Path], tmp_path: Path, signing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watermark is looked for in the output before signing: not found, no binding."""
    from dataclasses import replace

    import marking.pipeline.verify as verify
    from marking.pipeline.mark import mark_file

    monkeypatch.setattr(verify, "read_watermark", lambda *_: {"checked": True, "detected": False})
    config = replace(FAST, steps=EVERY_STEP, signing=signing)
    out = tmp_path / "photo.jpg"
    record = mark_file(media["image"], out, config, key=KEY)
    assert _manifest(out).soft_binding_algs == ()
    assert any("not found in the output before signing" in note for note in record["notes"])
