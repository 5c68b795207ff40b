"""What the public detection tool answers: a verify record cut down to system provenance by a
whitelist (no local path, no key, no signer's common name, nothing unknown), a safe display
name, the "about 1 in N" figure and the plain summaries in English and Chinese."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from marking.files.audio import embed_audio_file
from marking.files.image import embed_file
from marking.files.key_file import verification_keys
from marking.pipeline.inputs import Job
from marking.pipeline.jobs import verify_one
from marking.pipeline.verify import payload_for_label
from marking.schema import record_schema
from marking.scheme.keys import Key
from marking.server.records import (
    MAX_DISPLAY_NAME,
    one_in,
    one_in_zh,
    public_record,
    safe_display_name,
    summary,
)
from marking.tags.aigc_label import AigcLabel
from marking.tags.tagging import Signing, tag_file
from marking.tags.test_ca import TestCA, make_test_ca
from tests.conftest import make_natural_image
from tests.support.audio_clips import clip
from tests.support.sample_photos import SAMPLES

SECRET = "records-test-secret"
PRODUCER = "ExampleAI"
PHOTO = SAMPLES / "photo-dandelion-detail.jpg"
#: A temporary upload's name, as the server would make it.
UPLOAD_NAME = "upload-3f9a1c7e.jpg"


def verify_record(path: Path, **options: Any) -> dict[str, Any]:
    """``verify_one``'s record of ``path`` with the server's keys (public, then the secret)."""
    keys = verification_keys([Key(SECRET)])
    return verify_one(Job(str(path), size=path.stat().st_size), None, keys=keys, **options)


def assert_public(record: dict[str, Any], local: Path | None = None) -> None:
    """Valid against the schema's ``verify`` record; no path, secret or personal name in it."""
    jsonschema.validate(record, record_schema("verify"))
    text = json.dumps(record, ensure_ascii=False)
    assert SECRET not in text
    assert "signer_common_name" not in text
    assert "TEST ONLY" not in text
    assert "file" not in record
    assert "modality" not in record
    if local is not None:
        assert str(local.parent) not in text
        assert local.name not in text


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Marked (secret key), shipped (marked, labelled and signed), mismatched and unmarked
    pictures, and a marked recording; each under a temporary upload's kind of name."""
    folder = tmp_path_factory.mktemp("uploads")
    ca: TestCA = make_test_ca(folder / "ca")
    payload = payload_for_label(PRODUCER, "job-1")
    paths = {name: folder / name / UPLOAD_NAME for name in ("marked", "shipped", "copied")}
    for path in paths.values():
        path.parent.mkdir()
    embed_file(PHOTO, paths["marked"], key=SECRET, payload=payload)
    signing = Signing(ca.chain, ca.key, system_version="1.0", watermark_payload=payload)
    tag_file(
        paths["marked"], paths["shipped"], AigcLabel.create(PRODUCER, "job-1"), signing=signing
    )
    other = folder / "other.jpg"
    embed_file(PHOTO, other, key=SECRET, payload="1111111111111111")
    tag_file(other, paths["copied"], AigcLabel.create(PRODUCER, "job-1"))
    paths["plain"] = folder / "plain" / "upload-00000000.png"
    paths["plain"].parent.mkdir()
    make_natural_image(size=(320, 256)).save(paths["plain"])
    voice = folder / "voice.wav"
    sf.write(voice, np.asarray(clip("speech", 3.0, 16000)), 16000)
    paths["recording"] = folder / "recording" / "upload-5e5e5e5e.wav"
    paths["recording"].parent.mkdir()
    embed_audio_file(voice, paths["recording"], key=SECRET, payload=payload)
    paths["ca_root"] = Path(ca.root_cert)
    return paths


def test_shipped_picture_record_is_public_and_summarised(media: dict[str, Path]) -> None:
    record = verify_record(media["shipped"], trust_anchors=str(media["ca_root"]))
    assert record["c2pa"]["signer_common_name"]  # in the CLI record, not in the public one
    public = public_record(record, "holiday.jpg", local_path=str(media["shipped"]))
    assert_public(public, media["shipped"])
    assert public["input"] == "holiday.jpg"
    assert public["watermark"]["key"] == "provider"
    assert public["watermark"]["keys_tried"] == 2
    assert public["c2pa"]["state"] == "valid"
    assert public["c2pa"]["signer_organization"] == "Example AI Provider"
    assert "signer_common_name" not in public["c2pa"]
    assert public["trusted_signer"] == "Example AI Provider"
    assert public["aigc"]["ProduceID"] == "job-1"
    text = summary(public)
    assert text["en"].startswith("AI-generated: the file carries an invisible watermark (payload ")
    figure = public["watermark"]["false_alarm"]
    assert f"chance of a false alarm {one_in(figure)})" in text["en"]
    assert 'GB 45438 label naming "ExampleAI"' in text["en"]
    assert 'valid C2PA manifest signed by "Example AI Provider"' in text["en"]
    assert "matches what the trusted signer states" in text["en"]
    assert text["zh"].startswith("检测到人工智能生成标识：隐式水印（载荷 ")
    assert f"误报概率{one_in_zh(figure)}）" in text["zh"]
    assert "生成者：ExampleAI" in text["zh"]
    assert "可信签名者" in text["zh"]
    assert "\n" not in text["en"] + text["zh"]


def test_mismatch_and_unmarked_summaries(media: dict[str, Path]) -> None:
    copied = public_record(verify_record(media["copied"]), "copy.jpg", str(media["copied"]))
    assert_public(copied, media["copied"])
    assert copied["agreement"] == "mismatch"
    assert "the marks disagree" in summary(copied)["en"]
    assert "互相矛盾" in summary(copied)["zh"]
    plain = public_record(verify_record(media["plain"]), "cat.png", str(media["plain"]))
    assert_public(plain, media["plain"])
    assert plain["watermark"]["detected"] is False
    assert plain["watermark"]["key"] is None
    assert summary(plain) == {
        "en": "No AI mark was found. This does not prove the content is not AI-generated.",
        "zh": "未发现人工智能生成标识。这并不能证明该内容不是人工智能生成的。",
    }


def test_recording_record_keeps_only_the_watermark_fields(media: dict[str, Path]) -> None:
    record = verify_record(media["recording"])
    assert "offset" in record["watermark"]  # the CLI's record has more than a response shows
    public = public_record(record, "voice.wav", str(media["recording"]))
    assert_public(public, media["recording"])
    assert set(public["watermark"]) == {
        "checked",
        "detected",
        "payload",
        "false_alarm",
        "score",
        "key",
        "keys_tried",
    }
    assert "an invisible watermark (payload" in summary(public)["en"]


def test_video_record_keeps_its_parts_and_frame_counts(tmp_path: Path) -> None:
    from marking.files.video import embed_video_file
    from marking.media.video import EncoderSettings
    from tests.support.video_clips import clip_path

    source = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    marked = tmp_path / "upload-77777777.mp4"
    embed_video_file(source, marked, payload="0123456789abcdef", settings=EncoderSettings())
    public = public_record(verify_record(marked), "clip.mp4", str(marked))
    assert_public(public, marked)
    mark = public["watermark"]
    assert mark["key"] == "public"
    assert mark["frames_used"] > 0
    assert mark["frames_decoded"] > 0
    assert "transform" not in mark
    assert "start_s" not in mark
    assert set(mark["video"]) == {"detected", "payload", "false_alarm", "score"}
    assert mark["audio"] is None or "offset" not in mark["audio"]
    where = {
        ("video",): "in the frames",
        ("audio",): "in the sound",
        ("video", "audio"): "in the frames and the sound",
    }[tuple(mark["found_in"])]
    assert f"an invisible watermark {where} (payload 0123456789abcdef" in summary(public)["en"]
    assert "画面" in summary(public)["zh"] or "声音" in summary(public)["zh"]
    unmarked = public_record(verify_record(source), "clip.mp4", str(source))
    assert_public(unmarked)
    assert unmarked["watermark"]["detected"] is False
    assert summary(unmarked)["en"].startswith("No AI mark was found.")


# --- hand-made records: the whitelist, paths, personal names ----------------------------------

LOCAL = "/tmp/aigc-serve-x81k2/upload-a1b2c3d4.jpg"


def hand_made() -> dict[str, Any]:
    """A verify record with every field a response must not show, nested ones included."""
    return {
        "input": LOCAL,
        "file": LOCAL,
        "kind": "image",
        "modality": "image",
        "status": "verified",
        "bytes": 1000,
        "seconds": 0.1,
        "verdict": (
            'AI-generated (metadata label, C2PA manifest); all backed by trusted signer "Jane Doe"'
        ),
        "ai_marked": True,
        "aigc": {
            "Label": "2",
            "ContentProducer": "ExampleAI",
            "ProduceID": "job-9",
            "Owner": "Jane Doe",
        },
        "iptc_digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        "c2pa": {
            "state": "valid",
            "reason": f"read {LOCAL}: ok",
            "digital_source_type": None,
            "first_action": {
                "action": "c2pa.created",
                "softwareAgent": {"name": "Gen", "version": "2", "operator": "Jane Doe"},
                "actors": [{"name": "Jane Doe"}],
                "parameters": {"gps": "48.85,2.35"},
            },
            "aigc": {"Label": "2", "ContentProducer": "ExampleAI", "ProduceID": "job-9", "x": "1"},
            "soft_binding_payload": None,
            "signer_organization": None,
            "signer_common_name": "Jane Doe",
            "timestamped": False,
            "timestamp_time": None,
            "exif": {"BodySerialNumber": "123"},
        },
        "watermark": {
            "checked": True,
            "detected": False,
            "payload": None,
            "false_alarm": 1.0,
            "score": 1.2,
            "transform": {"period_x": 128.0},
            "key": None,
            "keys_tried": 2,
            "secret": SECRET,
        },
        "agreement": "n/a",
        "trusted_signer": "Jane Doe",
        "backed": ["metadata label", "C2PA manifest"],
        "notes": [
            f"{LOCAL}: damaged chunk read past",
            "metadata unreadable: /tmp/aigc-serve-x81k2/upload-a1b2c3d4.jpg.part: bad",
            'the C2PA signer "Jane Doe" is trusted',
        ],
        "gps": "48.85,2.35",
        "device_serial": "123",
    }


def test_whitelist_drops_unknown_and_personal_fields_at_every_level() -> None:
    record = hand_made()
    before = copy.deepcopy(record)
    public = public_record(record, "photo.jpg", local_path=LOCAL)
    assert record == before  # the record given is not changed
    assert_public(public)
    assert list(public) == [
        "input",
        "kind",
        "status",
        "bytes",
        "seconds",
        "verdict",
        "ai_marked",
        "aigc",
        "iptc_digital_source_type",
        "c2pa",
        "watermark",
        "agreement",
        "trusted_signer",
        "backed",
        "notes",
    ]
    assert public["aigc"] == {"Label": "2", "ContentProducer": "ExampleAI", "ProduceID": "job-9"}
    assert set(public["c2pa"]["aigc"]) == {"Label", "ContentProducer", "ProduceID"}
    assert public["c2pa"]["first_action"] == {
        "action": "c2pa.created",
        "softwareAgent": {"name": "Gen", "version": "2"},
    }
    assert "exif" not in public["c2pa"]
    assert "signer_common_name" not in public["c2pa"]
    assert set(public["watermark"]) == {
        "checked",
        "detected",
        "payload",
        "false_alarm",
        "score",
        "key",
        "keys_tried",
    }
    text = json.dumps(public)
    for private in ("Jane Doe", "48.85", "BodySerialNumber", SECRET, "/tmp/", "a1b2c3d4"):
        assert private not in text, private
    assert public["trusted_signer"] == ""
    assert public["verdict"].endswith("all backed by trusted signer (unnamed signer)")
    assert public["notes"][0] == "photo.jpg: damaged chunk read past"
    assert public["c2pa"]["reason"] == "read photo.jpg: ok"
    assert summary(public)["en"].startswith(
        "Possibly AI-generated: the file carries a GB 45438 label"
    )
    assert (
        "检测到人工智能生成标识（标注：可能为人工智能生成）：GB 45438 隐式标识"
        in summary(public)["zh"]
    )


def test_a_failed_record_is_public_too() -> None:
    failed = {
        "input": LOCAL,
        "file": LOCAL,
        "output": None,
        "kind": None,
        "status": "failed",
        "error": f"{LOCAL}: truncated (2 bytes of 9)",
        "bytes": 9,
        "seconds": 0.0,
    }
    public = public_record(failed, "a.jpg", LOCAL)
    assert_public(public)
    assert public["error"] == "a.jpg: truncated (2 bytes of 9)"
    assert "output" not in public
    assert summary(public) == {"en": "The file could not be checked.", "zh": "无法检查该文件。"}


def test_a_signer_common_name_that_is_a_common_word_spares_other_text() -> None:
    record = hand_made()
    record["c2pa"]["signer_common_name"] = "AI"
    record["verdict"] = 'AI-generated (C2PA manifest); all backed by trusted signer "AI"'
    record["trusted_signer"] = "AI"
    public = public_record(record, "photo.jpg", LOCAL)
    assert public["verdict"] == (
        "AI-generated (C2PA manifest); all backed by trusted signer (unnamed signer)"
    )
    assert public["trusted_signer"] == ""


def test_an_unchecked_watermark_is_said() -> None:
    record = hand_made() | {"ai_marked": False, "verdict": "no AI mark found"}
    record["watermark"] = {"checked": False, "reason": f"{LOCAL}: a recording under a second"}
    public = public_record(record, "x.wav", LOCAL)
    assert public["watermark"] == {"checked": False, "reason": "x.wav: a recording under a second"}
    assert "could not be looked for" in summary(public)["en"]
    assert "未能检测水印" in summary(public)["zh"]


def test_a_copy_in_another_folder_is_scrubbed_too(tmp_path: Path, media: dict[str, Path]) -> None:
    """The record's own path counts even when the caller gives none."""
    upload = tmp_path / "spool" / "upload-99999999.png"
    upload.parent.mkdir()
    shutil.copy(media["plain"], upload)
    public = public_record(verify_record(upload), "cat.png")
    assert_public(public, upload)


# --- display names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\jane\\Desktop\\cat.png", "cat.png"),
        ("/abs/path/clip.mp4/", "upload"),
        ("..", "upload"),
        (".", "upload"),
        ("...", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("   ", "upload"),
        ("a\x00b\x1b[31mc.png", "ab[31mc.png"),
        ("line\nbreak\r\ttab.jpg", "line break tab.jpg"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("\u2066x\u2069\u200b\u200fy.wav", "xy.wav"),
        ("a\u2028b.jpg", "a b.jpg"),
        ("\ud800lone.jpg", "lone.jpg"),
        ("  many    spaces  .jpg ", "many spaces .jpg"),
        ("照片 2026.jpg", "照片 2026.jpg"),
    ],
)
def test_safe_display_name(name: str | None, shown: str) -> None:
    assert safe_display_name(name) == shown


def test_long_display_names_are_cut_keeping_the_suffix() -> None:
    cut = safe_display_name("x" * 10_000 + ".jpeg")
    assert len(cut) == MAX_DISPLAY_NAME
    assert cut.endswith("….jpeg")
    no_suffix = safe_display_name("y" * 10_000)
    assert len(no_suffix) == MAX_DISPLAY_NAME
    assert no_suffix.endswith("…")
    assert safe_display_name("\x01" * 10_000, fallback="file") == "file"
    assert len(safe_display_name("z" * 500 + "." + "q" * 100)) == MAX_DISPLAY_NAME


# --- "about 1 in N" ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "en", "zh"),
    [
        (1 / 4.3e6, "about 1 in 4,300,000", "约430万分之一"),
        (2.3e-7, "about 1 in 4,300,000", "约430万分之一"),
        (2.4e-7, "about 1 in 4,200,000", "约420万分之一"),
        (1 / 12_345, "about 1 in 12,000", "约1.2万分之一"),
        (0.01, "about 1 in 100", "约100分之一"),
        (1 / 99.6, "about 1 in 100", "约100分之一"),
        (0.3, "about 1 in 3", "约三分之一"),
        (0.5, "about 1 in 2", "约二分之一"),
        (1.0, "about 1 in 2", "约二分之一"),
        (1e-10, "about 1 in 10,000,000,000", "约100亿分之一"),
        (4e-13, "about 1 in 2,500,000,000,000", "约2.5万亿分之一"),
        (1e-15, "about 1 in 1,000,000,000,000,000", "约1000万亿分之一"),
        (9e-16, "less than 1 in 1,000,000,000,000,000", "低于千万亿分之一"),
        (3.8e-61, "less than 1 in 1,000,000,000,000,000", "低于千万亿分之一"),
        (0.0, "less than 1 in 1,000,000,000,000,000", "低于千万亿分之一"),
        # What is not a probability is read as the worst case, never as reassurance.
        (float("nan"), "about 1 in 2", "约二分之一"),
        (-1e-9, "about 1 in 2", "约二分之一"),
        (float("inf"), "about 1 in 2", "约二分之一"),
    ],
)
def test_one_in(p: float, en: str, zh: str) -> None:
    assert one_in(p) == en
    assert one_in_zh(p) == zh
