"""The pipeline's Python API: mark_file on every kind of media, mark_image, AudioMarker.

Real codecs on small real media: a 256 px photo, a few seconds of speech, a two-second
320x256 clip. Every mark is read back with the toolkit's own verifier.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import marking
from marking import CueSettings, EncoderSettings, MarkConfig
from marking.audio_cue import add_cue
from marking.content_sniffing import media_kind
from marking.errors import InputError, OutputError, UsageError
from marking.pipeline import content_id
from marking.verify import payload_for_label
from tests.audio_clips import clip
from tests.conftest import make_natural_image
from tests.video_clips import clip_path

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
