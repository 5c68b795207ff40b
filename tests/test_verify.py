"""``verify`` and ``tag`` end to end: every mark found, agreement checked, verdicts and exits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from marking.aigc_label import AigcLabel
from marking.audio_watermark_io import embed_audio_file
from marking.image_io import embed_file
from marking.tagging import Signing, tag_file
from marking.test_ca import TestCA, make_test_ca
from marking.verify import payload_for_label, verify_file
from tests.audio_clips import clip
from tests.sample_photos import SAMPLES
from tests.test_cli import assert_one_error_line, run_cli

KEY = "verify-test-key"
PRODUCER = "ExampleAI"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def full_pipeline(tmp_path: Path, ca: TestCA, produce_id: str = "job-1") -> Path:
    """Watermark with the label's payload, then tag and sign: what a provider ships."""
    payload = payload_for_label(PRODUCER, produce_id)
    marked = tmp_path / f"marked-{produce_id}.jpg"
    embed_file(SAMPLES / "photo-dandelion-detail.jpg", marked, key=KEY, payload=payload)
    shipped = tmp_path / f"shipped-{produce_id}.jpg"
    signing = Signing(ca.chain, ca.key, system_version="1.0", watermark_payload=payload)
    tag_file(marked, shipped, AigcLabel.create(PRODUCER, produce_id), signing=signing)
    return shipped


def test_every_mark_is_found_and_agrees(tmp_path: Path, ca: TestCA) -> None:
    shipped = full_pipeline(tmp_path, ca)
    result = verify_file(shipped, key=KEY, trust_anchors=ca.root_cert)
    record = result.to_dict()
    assert result.ai_marked
    assert record["aigc"]["ProduceID"] == "job-1"
    assert record["iptc_digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert record["c2pa"]["state"] == "valid"
    assert record["c2pa"]["first_action"]["action"] == "c2pa.created"
    assert record["watermark"]["detected"]
    assert record["watermark"]["payload"] == payload_for_label(PRODUCER, "job-1")
    assert record["agreement"] == "agree"
    assert "metadata label" in result.verdict
    assert "watermark" in result.verdict
    # Without the trust anchor the same manifest is intact but untrusted.
    assert verify_file(shipped, key=KEY).to_dict()["c2pa"]["state"] == "untrusted"


def test_stripped_metadata_still_verifies_through_the_watermark(tmp_path: Path, ca: TestCA) -> None:
    shipped = full_pipeline(tmp_path, ca)
    stripped = tmp_path / "stripped.jpg"
    with Image.open(shipped) as image:
        image.save(stripped, quality=90)  # Pillow writes no XMP and no C2PA
    result = verify_file(stripped, key=KEY)
    assert result.ai_marked
    assert result.aigc is None
    assert result.c2pa["state"] == "absent"
    assert result.agreement == "metadata missing"
    assert any("stripped" in note for note in result.notes)


def test_label_copied_onto_another_picture_is_a_mismatch(tmp_path: Path, ca: TestCA) -> None:
    other = tmp_path / "other.jpg"
    embed_file(SAMPLES / "photo-dandelion-detail.jpg", other, key=KEY, payload="1111111111111111")
    copied = tmp_path / "copied.jpg"
    tag_file(other, copied, AigcLabel.create(PRODUCER, "job-1"))
    result = verify_file(copied, key=KEY)
    assert result.ai_marked
    assert result.agreement == "mismatch"
    assert any("copied" in note for note in result.notes)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment bytes) of a JPEG's header segments, from SOI up to SOS."""
    assert data[:2] == b"\xff\xd8"
    segments, at = [], 2
    while data[at + 1] != 0xDA:
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segments.append((data[at + 1], data[at : at + 2 + length]))
        at += 2 + length
    return segments


def test_metadata_and_manifest_transplanted_onto_another_picture(
    tmp_path: Path, ca: TestCA
) -> None:
    """Every XMP and C2PA segment of a shipped picture pasted into another marked picture:
    the manifest no longer matches the pixels it signed, and the label not the watermark."""
    shipped = full_pipeline(tmp_path, ca)
    other = tmp_path / "other.jpg"
    embed_file(SAMPLES / "photo-dandelions.jpg", other, key=KEY, payload="2222222222222222")
    donated = [seg for marker, seg in jpeg_segments(shipped.read_bytes()) if marker in (0xE1, 0xEB)]
    assert any(seg[1] == 0xEB and seg[4:6] == b"JP" for seg in donated)  # C2PA's JUMBF
    body = other.read_bytes()
    transplanted = tmp_path / "transplanted.jpg"
    transplanted.write_bytes(body[:2] + b"".join(donated) + body[2:])
    result = verify_file(transplanted, key=KEY, trust_anchors=ca.root_cert)
    record = result.to_dict()
    assert record["aigc"]["ProduceID"] == "job-1"
    assert record["watermark"]["payload"] == "2222222222222222"
    assert result.agreement == "mismatch"
    assert result.c2pa["state"] == "invalid"
    done = run_cli("verify", transplanted, "--key", KEY, "--json")
    assert done.returncode == 0, done.stderr  # AI-marked, whatever else is wrong with it
    assert json.loads(done.stdout)["agreement"] == "mismatch"
    # Without --json the one line per file says why, too.
    line = run_cli("verify", transplanted, "--key", KEY).stdout.strip()
    assert line.startswith(f"{transplanted}: ")
    assert "\n" not in line
    assert "C2PA invalid" in line
    assert "label may have been copied" in line
    assert "C2PA manifest invalid: " in line


def test_tampered_signed_file_is_reported_invalid(tmp_path: Path, ca: TestCA) -> None:
    shipped = full_pipeline(tmp_path, ca)
    data = bytearray(shipped.read_bytes())
    data[-5000] ^= 0xFF  # inside the entropy-coded image data
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    result = verify_file(tampered, key=KEY, trust_anchors=ca.root_cert)
    assert result.c2pa["state"] == "invalid"
    assert any("invalid" in note for note in result.notes)


def test_audio_label_is_verified_from_metadata(tmp_path: Path) -> None:
    source = tmp_path / "voice.flac"
    sf.write(source, np.zeros((48000, 1), np.float32), 48000)
    tagged = tmp_path / "voice-tagged.flac"
    tag_file(source, tagged, AigcLabel.create(PRODUCER, "job-7"))
    result = verify_file(tagged)
    assert result.ai_marked
    assert result.aigc["ProduceID"] == "job-7"
    assert result.watermark["checked"] is True
    assert result.watermark["detected"] is False
    assert result.agreement == "watermark missing"


# --- audio: the watermark checked against the label, as for pictures ---------------------------


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    sf.write(path, clip("speech", 12.0, 44100), 44100, subtype="PCM_16")
    return path


def test_audio_every_mark_is_found_and_agrees(tmp_path: Path, ca: TestCA, speech_wav: Path) -> None:
    payload = payload_for_label(PRODUCER, "job-5")
    marked = tmp_path / "marked.wav"
    embed_audio_file(speech_wav, marked, key=KEY, payload=payload)
    shipped = tmp_path / "shipped.wav"
    signing = Signing(ca.chain, ca.key, watermark_payload=payload)
    tag_file(marked, shipped, AigcLabel.create(PRODUCER, "job-5"), signing=signing)

    result = verify_file(shipped, key=KEY, trust_anchors=ca.root_cert)

    assert result.kind == "audio"
    assert result.agreement == "agree"
    assert result.c2pa["state"] == "valid"
    assert result.verdict == (
        "AI-generated (metadata label, C2PA manifest, watermark); "
        'all backed by trusted signer "Example AI Provider"'
    )
    mark = result.watermark
    assert mark["checked"] is True
    assert mark["detected"] is True
    assert mark["payload"] == payload
    assert mark["false_alarm"] <= 1e-6
    assert mark["offset"] == pytest.approx(0.0, abs=0.05)
    # The marked copy without any metadata: the watermark alone says it was stripped.
    stripped = verify_file(marked, key=KEY)
    assert stripped.ai_marked
    assert stripped.agreement == "metadata missing"
    assert stripped.verdict == "AI-generated (watermark)"
    # Without the key the watermark is not found and the label stands alone.
    keyless = verify_file(shipped, trust_anchors=ca.root_cert)
    assert keyless.watermark["detected"] is False
    assert keyless.agreement == "watermark missing"


def test_audio_label_copied_onto_another_recording_is_a_mismatch(
    tmp_path: Path, speech_wav: Path
) -> None:
    other = tmp_path / "other.wav"
    embed_audio_file(speech_wav, other, key=KEY, payload="1111111111111111")
    copied = tmp_path / "copied.wav"
    tag_file(other, copied, AigcLabel.create(PRODUCER, "job-5"))
    result = verify_file(copied, key=KEY)
    assert result.ai_marked
    assert result.agreement == "mismatch"
    assert result.watermark["payload"] == "1111111111111111"


def test_video_label_copied_onto_another_clip_is_a_mismatch(tmp_path: Path) -> None:
    """The whole marking of one clip, then its metadata label put on another marked clip:
    verify reports the disagreement (the label was copied, or tampered with)."""
    from marking.pipeline import MarkConfig, mark_file
    from marking.video_io import EncoderSettings
    from tests.video_clips import clip_path

    config = MarkConfig(
        producer=PRODUCER, steps=frozenset({"watermark", "metadata"}),
        encoder=EncoderSettings(preset="ultrafast"),
    )  # fmt: skip
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    original = mark_file(clip_path("bbb", seconds=2.0), first, config, key=KEY)
    other = mark_file(clip_path("pan", seconds=2.0, fps=30), second, config, key=KEY)
    assert verify_file(second, key=KEY).agreement == "consistent"  # label only: unsigned
    copied = tmp_path / "copied.mp4"
    tag_file(second, copied, AigcLabel.create(PRODUCER, original["produce_id"]))
    result = verify_file(copied, key=KEY)
    assert result.ai_marked
    assert result.agreement == "mismatch"
    assert result.watermark["payload"] == other["payload"] != original["payload"]


def test_audio_libsndfile_cannot_decode_is_metadata_only(tmp_path: Path) -> None:
    """An AAC M4A: the label is read, the watermark reported as not checked (not a failure)."""
    import av

    source = tmp_path / "voice.m4a"
    with av.open(str(source), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=44100, layout="mono")
        tone = (0.1 * np.sin(np.arange(44100 * 2) * 0.05)).astype(np.float32)[None, :]
        for start in range(0, tone.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone[:, start : start + 1024]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    tagged = tmp_path / "voice-tagged.m4a"
    tag_file(source, tagged, AigcLabel.create(PRODUCER, "job-8"))
    result = verify_file(tagged, key=KEY)
    assert result.ai_marked
    assert result.aigc["ProduceID"] == "job-8"
    assert result.watermark["checked"] is False
    assert "not supported" in result.watermark["reason"]


def test_verify_command_on_audio(tmp_path: Path, speech_wav: Path) -> None:
    payload = payload_for_label(PRODUCER, "job-6")
    marked = tmp_path / "marked.wav"
    embed_audio_file(speech_wav, marked, key=KEY, payload=payload)
    tagged = tmp_path / "tagged.wav"
    tag_file(marked, tagged, AigcLabel.create(PRODUCER, "job-6"))
    result = run_cli("verify", tagged, speech_wav, "--json", "--key", KEY)
    assert result.returncode == 0, result.stderr
    found, plain = (json.loads(line) for line in result.stdout.splitlines())
    assert found["kind"] == "audio"
    assert found["agreement"] == "consistent"  # the label names the payload; nobody signed it
    assert found["trusted_signer"] is None
    assert found["backed"] == []
    assert found["watermark"]["payload"] == payload
    assert isinstance(found["watermark"]["offset"], float)
    assert plain["ai_marked"] is False
    assert plain["watermark"]["detected"] is False


# --- video: the frames' and the sound track's watermarks checked against the label -----------


@pytest.fixture(scope="module")
def video_clip() -> Path:
    from tests.video_clips import clip_path

    return clip_path("bbb", seconds=3.0)


def test_video_every_mark_is_found_and_agrees(tmp_path: Path, ca: TestCA, video_clip: Path) -> None:
    from marking.video_io import EncoderSettings
    from marking.video_watermark_io import embed_video_file

    payload = payload_for_label(PRODUCER, "job-v1")
    marked = tmp_path / "marked.mp4"
    settings = EncoderSettings(preset="ultrafast")
    embed_video_file(video_clip, marked, key=KEY, payload=payload, settings=settings)
    shipped = tmp_path / "shipped.mp4"
    signing = Signing(ca.chain, ca.key, watermark_payload=payload)
    tag_file(marked, shipped, AigcLabel.create(PRODUCER, "job-v1"), signing=signing)

    result = verify_file(shipped, key=KEY, trust_anchors=ca.root_cert)

    assert result.kind == "video"
    assert result.agreement == "agree"
    assert result.c2pa["state"] == "valid"
    assert result.verdict == (
        "AI-generated (metadata label, C2PA manifest, watermark); "
        'all backed by trusted signer "Example AI Provider"'
    )
    mark = result.watermark
    assert mark["checked"] is True
    assert mark["payload"] == payload
    assert mark["found_in"] == ["video", "audio"]
    assert mark["audio"]["payload"] == payload
    assert result.notes == []
    # The marked copy without metadata: the watermark alone says the metadata was stripped.
    stripped = verify_file(marked, key=KEY)
    assert stripped.agreement == "metadata missing"
    assert stripped.verdict == "AI-generated (watermark)"
    # A label copied onto another marked video: a mismatch.
    other = tmp_path / "other.mp4"
    embed_video_file(video_clip, other, key=KEY, payload="1111111111111111", settings=settings)
    copied = tmp_path / "copied.mp4"
    tag_file(other, copied, AigcLabel.create(PRODUCER, "job-v1"))
    assert verify_file(copied, key=KEY).agreement == "mismatch"
    # The command line: the unmarked clip has no AI mark of any kind.
    run = run_cli("verify", shipped, video_clip, "--json", "--key", KEY)
    assert run.returncode == 0, run.stderr
    found, plain = (json.loads(line) for line in run.stdout.splitlines())
    assert found["kind"] == "video"
    assert found["agreement"] == "consistent"  # no trust anchors given: the signer is unverified
    assert any("no trust anchors given" in note for note in found["notes"])
    assert plain["ai_marked"] is False
    assert plain["watermark"]["checked"] is True
    assert plain["watermark"]["detected"] is False


def test_video_frames_and_sound_with_different_payloads_are_noted() -> None:
    from marking.verify import Verification, _note_split_payloads

    result = Verification(file="clip.mp4", kind="video")
    result.watermark = {
        "checked": True,
        "detected": True,
        "payload": "00000000000000aa",
        "video": {"detected": True, "payload": "00000000000000aa"},
        "audio": {"checked": True, "detected": True, "payload": "00000000000000bb"},
    }
    _note_split_payloads(result)
    assert result.notes == [
        "the frames carry payload 00000000000000aa but the sound 00000000000000bb: one of the "
        "tracks was taken from another file"
    ]


def test_verify_command_exit_codes(tmp_path: Path, ca: TestCA) -> None:
    shipped = full_pipeline(tmp_path, ca)
    unmarked = SAMPLES / "photo-astronaut.png"
    result = run_cli(
        "verify", shipped, unmarked, "--json", "--key", KEY, "--trust-anchors", ca.root_cert
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ai_marked"] for r in records] == [True, False]
    assert records[0]["c2pa"]["state"] == "valid"
    assert run_cli("verify", unmarked).returncode == 1
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(shipped.read_bytes()[:500])
    result = run_cli("verify", broken, unmarked)
    assert "broken.jpg" in assert_one_error_line(result)


def test_tag_command(tmp_path: Path, ca: TestCA) -> None:
    output = tmp_path / "tagged.png"
    result = run_cli(
        "tag",
        SAMPLES / "photo-astronaut.png",
        "-o",
        output,
        "--producer",
        PRODUCER,
        "--produce-id",
        "job-9",
        "--c2pa-cert",
        ca.chain,
        "--c2pa-key",
        ca.key,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["label"]["ProduceID"] == "job-9"
    assert record["c2pa"] == "signed"
    assert verify_file(output, trust_anchors=ca.root_cert).c2pa["state"] == "valid"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--produce-id", "has space"], "ProduceID"),
        (["--c2pa-cert", "chain.pem"], "both"),
        (["--check-provider-code"], "provider"),
    ],
)
def test_tag_usage_errors(tmp_path: Path, extra: list[str], match: str) -> None:
    result = run_cli(
        "tag",
        SAMPLES / "photo-astronaut.png",
        "-o",
        tmp_path / "t.png",
        "--producer",
        PRODUCER,
        *extra,
    )
    assert match in assert_one_error_line(result, exit_code=2)
    assert not (tmp_path / "t.png").exists()


def test_test_ca_command(tmp_path: Path) -> None:
    result = run_cli("test-ca", tmp_path / "ca", "--organization", "Acme AI")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ca" / "chain.pem").exists()
    assert (tmp_path / "ca" / "signer.key").stat().st_mode & 0o077 == 0
