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
from marking.audio_cue import add_cue
from marking.content_sniffing import media_kind
from marking.errors import InputError, OutputError, UnsupportedInputError, UsageError
from marking.pipeline import content_id
from marking.verify import payload_for_label
from tests.audio_clips import clip
from tests.conftest import make_natural_image
from tests.video_clips import clip_path
from tests.wall_clock import bound, time_of

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
    assert found.agreement == "agree"
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
    import marking.pipeline
    import marking.tagging

    def started(*args: object, **kwargs: object) -> None:
        raise WorkStarted

    for name in ("content_id", "_mark_image_file", "_mark_audio_file", "_mark_video_file"):
        monkeypatch.setattr(marking.pipeline, name, started)
    monkeypatch.setattr(marking.tagging, "tag_file", started)


@pytest.fixture(scope="module")
def odd_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Media in formats C2PA has no embedding for (MKV, WebM, Ogg Vorbis, Ogg Opus) or the
    GB 45438 label no place in (AIFF), beside ones that take both (FLAC, WAV, MOV)."""
    from tests.test_video_io import write_clip

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
    from marking.tagging import Signing
    from marking.test_ca import make_test_ca

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
    # machine's load, from the time a look at the format takes now (tests/wall_clock.py).
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
        assert "GB 45438 label goes only into" in message
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
