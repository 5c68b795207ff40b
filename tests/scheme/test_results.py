"""The result types (marking.scheme.results): one dataclass per operation, read as attributes and,
as the dicts of 0.1 were, as a read-only mapping whose keys, order and JSON are the old ones."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from typing import Any

import pytest

from marking.scheme.results import (
    AudioDetection,
    AudioEmbedding,
    AudioFileDetection,
    AudioLabeling,
    Detection,
    ImageDetection,
    ImageEmbedding,
    ImageLabeling,
    Record,
    SoundDetection,
    Unchecked,
    VideoDetection,
    VideoEmbedding,
    VideoFileDetection,
    VideoLabeling,
    as_json_record,
)
from tests.support.records import AUDIO_EMBEDDING_KEYS, VIDEO_EMBEDDING_KEYS

TRANSFORM = {"period_x": 128.0, "period_y": 128.0, "origin_x": 1.5, "origin_y": 2.5}
SOUND = SoundDetection(True, "ab" * 8, 1e-20, 9.0, 0.25, 1.0, 3.0)
VIDEO_FILE = VideoFileDetection(
    True,
    "ab" * 8,
    1e-30,
    20.0,
    input="clip.mp4",
    transform=TRANSFORM,
    frames=50,
    frames_decoded=50,
    every=1,
    start_s=0.0,
    duration_s=2.0,
    found_in=["video", "audio"],
    video=Detection(True, "ab" * 8, 1e-30, 20.0),
    audio=SOUND,
)

#: Each result type, an instance, and the keys (in order) the 0.1 dict of that operation had.
CASES: list[tuple[Record, list[str]]] = [
    (
        ImageDetection(True, "ab" * 8, 1e-9, 12.0, TRANSFORM),
        ["detected", "payload", "false_alarm", "score", "transform"],
    ),
    (
        AudioDetection(False, None, 1.0, 2.0, None, 1.0, 3.0),
        ["detected", "payload", "false_alarm", "score", "offset", "speed", "duration_s"],
    ),
    (
        VideoDetection(True, "ab" * 8, 1e-9, 12.0, 12, TRANSFORM),
        ["detected", "payload", "false_alarm", "score", "frames_used", "transform"],
    ),
    (
        AudioFileDetection(True, "ab" * 8, 1e-9, 8.0, 0.5, 1.01, 4.0, input="a.wav"),
        [
            "input",
            "kind",
            "detected",
            "payload",
            "false_alarm",
            "score",
            "offset",
            "speed",
            "duration_s",
            "notes",
        ],
    ),
    (
        SOUND,
        [
            "checked",
            "detected",
            "payload",
            "false_alarm",
            "score",
            "offset",
            "speed",
            "duration_s",
        ],
    ),
    (Unchecked("too short"), ["checked", "reason"]),
    (
        VIDEO_FILE,
        [
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
        ],
    ),
    (
        ImageEmbedding(
            input="a.png",
            output="b.png",
            payload="ab" * 8,
            psnr=42.5,
            width=512,
            height=256,
            format="PNG",
        ),
        ["input", "output", "payload", "psnr", "width", "height", "format"],
    ),
    (
        ImageLabeling(
            input="a.png",
            output="b.png",
            format="PNG",
            width=512,
            height=256,
            label={"box": [1, 2, 3, 4], "text_height": 18, "contrast": 5.7},
        ),
        ["input", "output", "format", "width", "height", "box", "text_height", "contrast"],
    ),
    (
        AudioEmbedding(
            input="a.wav",
            output="b.wav",
            payload="ab" * 8,
            snr_db=None,
            format="WAV",
            subtype="PCM_16",
            sample_rate=44100,
            channels=2,
            duration_s=3.0,
        ),
        AUDIO_EMBEDDING_KEYS,
    ),
    (
        AudioLabeling(
            input="a.wav",
            output="b.wav",
            format="WAV",
            subtype="PCM_16",
            sample_rate=44100,
            channels=2,
            frames_in=10,
            frames_out=20,
            duration_in_s=1.0,
            duration_out_s=2.0,
            cue={"kind": "morse"},
            placements=[[0.0, 1.0]],
        ),
        [
            "input",
            "output",
            "format",
            "subtype",
            "sample_rate",
            "channels",
            "frames_in",
            "frames_out",
            "duration_in_s",
            "duration_out_s",
            "cue",
            "placements",
        ],
    ),
    (
        VideoLabeling(
            input="a.mp4",
            output="b.mp4",
            frames=50,
            frames_labeled=50,
            intervals=[[0.0, 2.0]],
            duration_s=2.0,
            text="AI",
            encoder="libx264",
            pix_fmt="yuv420p",
            copied_streams=[],
            skipped_streams=[],
            notes=[],
            corrupt_frames=0,
            seconds=1.0,
            layout={"box": [1, 2, 3, 4], "rotation": 0},
        ),
        [
            "input",
            "output",
            "frames",
            "frames_labeled",
            "intervals",
            "duration_s",
            "text",
            "encoder",
            "pix_fmt",
            "copied_streams",
            "skipped_streams",
            "notes",
            "corrupt_frames",
            "seconds",
            "box",
            "rotation",
        ],
    ),
]


def case_id(case: tuple[Record, list[str]]) -> str:
    return type(case[0]).__name__


@pytest.mark.parametrize(("result", "keys"), CASES, ids=[case_id(case) for case in CASES])
def test_records_read_as_the_old_dicts(result: Record, keys: list[str]) -> None:
    """Same keys in the same order, by key and by attribute, and the same JSON text."""
    assert list(result) == keys
    assert list(result.keys()) == keys
    assert len(result) == len(keys)
    plain = result.to_dict()
    assert type(plain) is dict
    assert list(plain) == keys
    assert plain == result
    assert result == plain
    assert {**result} == plain
    assert dict(result.items()) == plain
    assert json.dumps(result) == json.dumps(plain)
    assert result.get("payload", "absent") == plain.get("payload", "absent")
    assert "no such key" not in result
    assert result.get("no such key") is None
    for key in keys:
        assert result[key] == plain[key]


def test_video_embedding_keys() -> None:
    values: dict[str, Any] = {name: None for name in VIDEO_EMBEDDING_KEYS if name != "kind"}
    record = VideoEmbedding(**values)
    assert list(record) == VIDEO_EMBEDDING_KEYS
    assert record["kind"] == record.kind == "video"


def test_renamed_keys_keep_their_attribute_names() -> None:
    sound = AudioDetection(True, "ab" * 8, 1e-9, 8.0, 0.5, 1.0, 3.0)
    assert sound.seconds == sound["duration_s"] == 3.0
    video = VideoDetection(True, "ab" * 8, 1e-9, 12.0, 12, TRANSFORM)
    assert video.frames == video["frames_used"] == 12
    assert VIDEO_FILE.frames == VIDEO_FILE["frames_used"] == 50


def test_optional_keys_are_left_out_when_none() -> None:
    """An embedding without the audible cue has no ``cue`` or ``placements`` key, as in 0.1."""
    plain = AudioEmbedding(**{**dataclasses.asdict(CASES[9][0])})
    assert "cue" not in plain
    assert "placements" not in plain
    with_cue = dataclasses.replace(plain, cue={"kind": "morse"}, placements=[[0.0, 1.0]])
    assert list(with_cue)[-2:] == ["cue", "placements"]


@pytest.mark.parametrize(("result", "keys"), CASES, ids=[case_id(case) for case in CASES])
def test_records_are_read_only(result: Record, keys: list[str]) -> None:
    changes = [
        lambda: result.__setitem__("payload", "x"),
        lambda: result.__delitem__(keys[0]),
        lambda: result.pop(keys[0]),
        lambda: result.popitem(),
        lambda: result.setdefault("new", 1),
        lambda: result.update(payload="x"),
        lambda: result.clear(),
    ]
    for change in changes:
        with pytest.raises(TypeError, match="read-only"):
            change()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.payload = "x"  # type: ignore[misc]
    assert list(result) == keys


@pytest.mark.parametrize(("result", "keys"), CASES, ids=[case_id(case) for case in CASES])
def test_records_survive_pickle_and_copy(result: Record, keys: list[str]) -> None:
    """Batch workers send results to the parent by pickle."""
    for again in (pickle.loads(pickle.dumps(result)), copy.copy(result), copy.deepcopy(result)):
        assert type(again) is type(result)
        assert again == result
        assert list(again) == keys


def test_replace_makes_a_changed_copy_with_its_items() -> None:
    found = ImageDetection(False, None, 1.0, 3.0, TRANSFORM)
    moved = dataclasses.replace(found, transform={"origin_x": 0.0})
    assert moved["transform"] == {"origin_x": 0.0}
    assert found["transform"] == TRANSFORM


def test_nested_records_become_plain_dicts() -> None:
    plain = VIDEO_FILE.to_dict()
    assert type(plain["video"]) is dict
    assert type(plain["audio"]) is dict
    assert plain["video"] == {
        "detected": True,
        "payload": "ab" * 8,
        "false_alarm": 1e-30,
        "score": 20.0,
    }
    assert plain["audio"]["checked"] is True
    assert plain["audio"]["duration_s"] == 3.0


def test_detections_share_one_base() -> None:
    for result, _ in CASES:
        if "detected" in result and not isinstance(result, Unchecked):
            assert isinstance(result, Detection)
            assert (result.detected, result.payload) == (result["detected"], result["payload"])


def test_one_function_makes_the_json_record() -> None:
    record = as_json_record(CASES[3][0], ("input",), file="a.wav")
    assert list(record)[:3] == ["file", "kind", "detected"]
    assert "input" not in record
    record = as_json_record(VIDEO_FILE, ("input", "kind"), checked=True)
    assert list(record)[:2] == ["checked", "detected"]
    assert type(record["audio"]) is dict
    json.dumps(record)


def test_public_names_are_the_result_types() -> None:
    import marking
    from marking.watermark import audio, image, video

    assert marking.ImageDetection is image.ImageDetection is ImageDetection
    assert marking.AudioDetection is audio.AudioDetection is AudioDetection
    assert marking.VideoDetection is video.VideoDetection is VideoDetection
