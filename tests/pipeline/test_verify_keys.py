"""Verification with several keys (the server's public key plus a provider's secret keys):
the mark is found with whichever key made it, the false-alarm figure counts every key tried
(union bound), the record names the key by its label only, and a keys file is read safely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from marking.errors import UsageError
from marking.files.image import embed_file
from marking.files.key_file import (
    KEY_FILE_LIMIT,
    PROVIDER_KEY_LABEL,
    PUBLIC_KEY_LABEL,
    load_keys,
    verification_keys,
)
from marking.pipeline.inputs import Job
from marking.pipeline.jobs import verify_one
from marking.pipeline.verify import verify_file, with_keys_tried
from marking.scheme.keys import Key
from marking.scheme.limits import FALSE_ALARM_LIMIT
from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.sample_photos import SAMPLES

SECRET = "provider-secret-7f3a9c"
OTHER_SECRET = "someone-elses-secret"
PAYLOAD = "0123456789abcdef"
PHOTO = SAMPLES / "photo-dandelion-detail.jpg"


def two_keys() -> list[tuple[str, Key]]:
    return verification_keys([Key(SECRET)])


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same photo marked with the secret key, the public key and a key not tried."""
    folder = tmp_path_factory.mktemp("marked")
    paths = {}
    for name, key in (("secret", SECRET), ("public", None), ("other", OTHER_SECRET)):
        paths[name] = folder / f"{name}.jpg"
        embed_file(PHOTO, paths[name], key=key, payload=PAYLOAD)
    return paths


def test_secret_mark_is_found_with_the_provider_key(marked: dict[str, Path]) -> None:
    single = verify_file(marked["secret"], key=SECRET).watermark
    mark = verify_file(marked["secret"], keys=two_keys()).watermark
    assert mark["detected"]
    assert mark["payload"] == PAYLOAD
    assert mark["key"] == PROVIDER_KEY_LABEL
    assert mark["keys_tried"] == 2
    assert mark["false_alarm"] == 2 * single["false_alarm"]
    assert mark["false_alarm"] <= FALSE_ALARM_LIMIT


def test_public_mark_is_found_with_the_public_key(marked: dict[str, Path]) -> None:
    single = verify_file(marked["public"]).watermark
    result = verify_file(marked["public"], keys=two_keys())
    assert result.ai_marked
    assert result.watermark["key"] == PUBLIC_KEY_LABEL
    assert result.watermark["keys_tried"] == 2
    assert result.watermark["false_alarm"] == 2 * single["false_alarm"]


def test_mark_under_a_key_not_tried_is_not_found(marked: dict[str, Path]) -> None:
    result = verify_file(marked["other"], keys=two_keys())
    assert not result.ai_marked
    assert result.watermark["detected"] is False
    assert result.watermark["payload"] is None
    assert result.watermark["key"] is None
    assert result.watermark["keys_tried"] == 2


def test_one_key_records_are_unchanged(marked: dict[str, Path]) -> None:
    """``key=`` alone keeps the record of before: no ``key`` or ``keys_tried`` field."""
    mark = verify_file(marked["secret"], key=SECRET).watermark
    assert mark["detected"]
    assert "key" not in mark
    assert "keys_tried" not in mark


def test_key_and_keys_together_are_refused(marked: dict[str, Path]) -> None:
    with pytest.raises(UsageError):
        verify_file(marked["secret"], key=SECRET, keys=two_keys())
    with pytest.raises(UsageError):
        verify_file(marked["secret"], keys=[])


def test_the_secret_never_appears_in_the_record(marked: dict[str, Path]) -> None:
    keys = [*two_keys(), (PROVIDER_KEY_LABEL, Key(OTHER_SECRET))]
    for path in marked.values():
        path_job = Job(str(path), size=path.stat().st_size)
        record = verify_one(path_job, None, keys=keys)
        assert record["status"] == "verified"
        text = json.dumps(record)
        assert SECRET not in text
        assert OTHER_SECRET not in text
        assert repr(Key(SECRET)) not in text


def unmarked_media(folder: Path) -> list[Path]:
    """Several unmarked pictures and recordings, small."""
    paths = []
    for seed in range(3):
        paths.append(folder / f"natural-{seed}.png")
        make_natural_image(size=(320, 256), seed=seed).save(paths[-1])
    paths.append(SAMPLES / "photo-dandelions.jpg")
    for kind in ("speech", "music", "noise"):
        paths.append(folder / f"{kind}.wav")
        sf.write(paths[-1], np.asarray(clip(kind, 3.0, 16000)), 16000)
    return paths


def test_unmarked_media_give_no_detection_with_three_keys(tmp_path: Path) -> None:
    keys = verification_keys([Key(SECRET), Key(OTHER_SECRET)])
    assert len(keys) == 3
    for path in unmarked_media(tmp_path):
        result = verify_file(path, keys=keys)
        mark = result.watermark
        assert not result.ai_marked, path.name
        assert mark["detected"] is False, path.name
        assert mark["key"] is None, path.name
        assert mark["keys_tried"] == 3
        assert 0 <= mark["false_alarm"] <= 1


# --- the correction itself, on hand-made records ----------------------------------------------


def test_a_detection_too_weak_for_the_keys_tried_is_withdrawn() -> None:
    weak = {"checked": True, "detected": True, "payload": PAYLOAD, "false_alarm": 4e-7}
    assert with_keys_tried(weak, 2)["detected"] is True
    withdrawn = with_keys_tried(weak, 3)
    assert withdrawn["detected"] is False
    assert withdrawn["payload"] is None
    assert withdrawn["false_alarm"] == pytest.approx(1.2e-6)
    assert "3 keys tried" in withdrawn["notes"][0]
    assert with_keys_tried({**weak, "detected": False, "false_alarm": 0.6}, 3)["false_alarm"] == 1


def video_record(video_p: float, sound_p: float) -> dict[str, Any]:
    return {
        "checked": True,
        "detected": True,
        "payload": "1111111111111111",
        "false_alarm": video_p,
        "score": 9.0,
        "frames_used": 12,
        "found_in": ["video", "audio"],
        "video": {"detected": True, "payload": "1111111111111111", "false_alarm": video_p},
        "audio": {"checked": True, "detected": True, "payload": PAYLOAD, "false_alarm": sound_p},
    }


def test_a_videos_frames_and_sound_are_corrected_each() -> None:
    both = with_keys_tried(video_record(1e-9, 1e-10), 2)
    assert both["found_in"] == ["video", "audio"]
    assert both["video"]["false_alarm"] == 2e-9
    assert both["audio"]["false_alarm"] == 2e-10
    assert both["false_alarm"] == 2e-9
    assert both["payload"] == "1111111111111111"
    # The frames' mark no longer counts: the sound's is reported.
    sound_only = with_keys_tried(video_record(4e-7, 1e-10), 3)
    assert sound_only["found_in"] == ["audio"]
    assert sound_only["detected"] is True
    assert sound_only["payload"] == PAYLOAD
    assert sound_only["false_alarm"] == 3e-10
    assert sound_only["video"]["detected"] is False
    assert len(sound_only["notes"]) == 1
    # Neither counts: nothing found, the frames' figure reported.
    neither = with_keys_tried(video_record(4e-7, 5e-7), 3)
    assert neither["detected"] is False
    assert neither["payload"] is None
    assert neither["found_in"] == []
    assert neither["false_alarm"] == pytest.approx(1.2e-6)
    unchecked_sound = video_record(1e-9, 0)
    unchecked_sound["audio"] = {"checked": False, "reason": "no sound"}
    assert with_keys_tried(unchecked_sound, 2)["audio"] == {"checked": False, "reason": "no sound"}


def test_a_marked_clip_is_found_with_the_provider_key(tmp_path: Path) -> None:
    from marking.files.video import embed_video_file
    from marking.media.video import EncoderSettings
    from tests.support.video_clips import clip_path

    source = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    marked_clip = tmp_path / "marked.mp4"
    settings = EncoderSettings(preset="ultrafast")
    embed_video_file(source, marked_clip, key=SECRET, payload=PAYLOAD, settings=settings)
    single = verify_file(marked_clip, key=SECRET).watermark
    mark = verify_file(marked_clip, keys=two_keys()).watermark
    assert mark["detected"]
    assert mark["key"] == PROVIDER_KEY_LABEL
    assert mark["keys_tried"] == 2
    assert mark["found_in"] == single["found_in"]
    assert mark["video"]["false_alarm"] == min(1.0, 2 * single["video"]["false_alarm"])
    assert mark["false_alarm"] == 2 * single["false_alarm"]
    if single["audio"] and "false_alarm" in single["audio"]:
        assert mark["audio"]["false_alarm"] == min(1.0, 2 * single["audio"]["false_alarm"])
    plain = verify_file(source, keys=two_keys()).watermark
    assert plain["detected"] is False
    assert plain["found_in"] == []


# --- the keys file ----------------------------------------------------------------------------


def write_keys(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "keys"
    path.write_bytes(content)
    path.chmod(0o600)
    return path


def test_keys_file_skips_comments_blank_lines_and_repeats(tmp_path: Path) -> None:
    text = f"# provider keys\n\n  {SECRET}  \r\n   \n#{OTHER_SECRET}\n{OTHER_SECRET}\n{SECRET}\n"
    keys = load_keys(write_keys(tmp_path, text.encode()))
    assert [key.digest("t") for key in keys] == [
        Key(SECRET).digest("t"),
        Key(OTHER_SECRET).digest("t"),
    ]


def test_verification_keys_put_the_public_key_first_once() -> None:
    keys = verification_keys([Key(), Key(SECRET)])
    assert [label for label, _ in keys] == [PUBLIC_KEY_LABEL, PROVIDER_KEY_LABEL]
    assert keys[0][1].is_default
    assert [label for label, _ in verification_keys()] == [PUBLIC_KEY_LABEL]


@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        (b"", ValueError, "no key in it"),
        (b"\n   \n\t\n", ValueError, "no key in it"),
        (f"# {SECRET}\n#\n".encode(), ValueError, "no key in it"),
        (SECRET.encode() * (KEY_FILE_LIMIT // len(SECRET) + 1), OSError, "larger than"),
    ],
    ids=["empty", "blank-lines", "comments-only", "huge"],
)
def test_bad_keys_files_are_one_line_errors_without_the_key(
    tmp_path: Path, content: bytes, error: type[Exception], words: str
) -> None:
    path = write_keys(tmp_path, content)
    with pytest.raises(error) as raised:
        load_keys(path)
    message = str(raised.value)
    assert message.startswith(f"keys file {path}: ")
    assert words in message
    assert "\n" not in message
    assert SECRET not in message


def test_missing_or_odd_keys_files_are_one_line_errors(tmp_path: Path) -> None:
    for path, words in (
        (tmp_path / "missing", "No such file"),
        (tmp_path, "directory"),
    ):
        with pytest.raises(OSError, match=r"^keys file ") as raised:
            load_keys(path)
        message = str(raised.value)
        assert words in message, message
        assert "\n" not in message
        assert "Errno" not in message


def test_a_clip_is_decoded_once_for_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frames' average needs no key: several keys cost one decode, not one each."""
    from marking.files import video as video_files
    from tests.support.video_clips import clip_path

    source = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    calls = []
    average = video_files._average_frames

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return average(*args, **kwargs)

    monkeypatch.setattr(video_files, "_average_frames", counted)
    mark = verify_file(source, keys=verification_keys([Key(SECRET), Key(OTHER_SECRET)])).watermark
    assert mark["keys_tried"] == 3
    assert mark["detected"] is False
    assert len(calls) == 1
