"""``verify`` and ``tag`` end to end: every mark found, agreement checked, verdicts and exits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from marking.errors import UsageError
from marking.files.audio import embed_audio_file
from marking.files.image import embed_file
from marking.pipeline.verify import payload_for_label, verify_file
from marking.tags.aigc_label import FIELD_KEYS, AigcLabel
from marking.tags.tagging import Signing, tag_file
from marking.tags.test_ca import TestCA, make_test_ca
from tests.support.audio_clips import clip
from tests.support.commands import assert_one_error_line, run_cli
from tests.support.sample_photos import SAMPLES

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
    from marking.media.video import EncoderSettings
    from marking.pipeline.mark import MarkConfig, mark_file
    from tests.support.video_clips import clip_path

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
    from tests.support.video_clips import clip_path

    return clip_path("bbb", seconds=3.0)


def test_video_every_mark_is_found_and_agrees(tmp_path: Path, ca: TestCA, video_clip: Path) -> None:
    from marking.files.video import embed_video_file
    from marking.media.video import EncoderSettings

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
    from marking.pipeline.verify import Verification, _note_split_payloads

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


# --- trust: only a valid manifest from a trusted signer corroborates -----------------------------

#: A payload no file here carries.
OTHER_PAYLOAD = "00000000000000a1"
TRUST_FORMATS = ("jpg", "png", "wav", "mp4")
TRUST_ID = "job-t"
FORGER = "Forger Inc"
REAL_SIGNER = "Example AI Provider"


@dataclass(frozen=True)
class TrustCase:
    """How a watermarked file was tagged and signed, and what verify must say of it."""

    producer: str
    signer: str | None  # "real", "forger", "expired" or None (label only)
    binding: str | None  # "payload", "other" or None (no soft binding)
    agreement: str
    backed: tuple[str, ...]  # besides the IPTC source type of pictures, when signed
    note: str | None  # a fragment one note must contain


#: The class: who signed (trusted, untrusted, expired, nobody) times what the manifest names.
TRUST_CASES = {
    "forged": TrustCase("OtherAI", "forger", "payload", "consistent", (), f'signer "{FORGER}" does '
                        "not chain to the given trust anchors"),
    "untrusted-other": TrustCase(PRODUCER, "forger", "other", "mismatch", (),
                                 f'untrusted signer "{FORGER}" names {OTHER_PAYLOAD}'),
    "trusted-other": TrustCase(PRODUCER, "real", "other", "mismatch",
                               ("metadata label", "C2PA manifest"),
                               f'trusted signer "{REAL_SIGNER}" names {OTHER_PAYLOAD}'),
    "trusted": TrustCase(PRODUCER, "real", "payload", "agree",
                         ("metadata label", "C2PA manifest", "watermark"), None),
    "trusted-label": TrustCase(PRODUCER, "real", None, "agree",
                               ("metadata label", "C2PA manifest", "watermark"), None),
    "label": TrustCase(PRODUCER, None, None, "consistent", (), None),
    "expired": TrustCase(PRODUCER, "expired", "payload", "consistent", (),
                         "C2PA manifest invalid: signingCredential.expired"),
}  # fmt: skip


def _expiring_ca(directory: Path, seconds: float) -> TestCA:
    """A test CA whose signing certificate stops being valid ``seconds`` from now."""
    import datetime as dt

    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from marking.tags.test_ca import VALIDITY, _key_pem, _name, issue_leaf, make_root

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    root, root_key = make_root("Expiring Org", "Expiring Root (TEST ONLY)", now)
    leaf_start = now - VALIDITY + dt.timedelta(seconds=seconds)  # issue_leaf adds VALIDITY
    leaf, leaf_key = issue_leaf(
        root, root_key, _name("Expiring Org", "Expiring Signer"),
        ExtendedKeyUsageOID.EMAIL_PROTECTION, leaf_start,
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    ca = TestCA(directory / "root.pem", directory / "chain.pem", directory / "signer.key",
                directory / "root.key")  # fmt: skip
    ca.root_cert.write_bytes(root.public_bytes(pem))
    ca.chain.write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))
    ca.key.write_bytes(_key_pem(leaf_key))
    ca.root_key.write_bytes(_key_pem(root_key))
    return ca


def _watermarked(directory: Path, fmt: str, payload: str) -> Path:
    """A small file of format ``fmt`` carrying the watermark with ``payload``."""
    from tests.conftest import make_natural_image

    target = directory / f"marked.{fmt}"
    if fmt in ("jpg", "png"):
        source = directory / f"source.{fmt}"
        make_natural_image("RGB", (384, 320), seed=11).save(source)
        embed_file(source, target, key=KEY, payload=payload)
    elif fmt == "wav":
        source = directory / "source.wav"
        sf.write(source, clip("speech", 8.0, 44100), 44100, subtype="PCM_16")
        embed_audio_file(source, target, key=KEY, payload=payload)
    else:
        from marking.files.video import embed_video_file
        from marking.media.video import EncoderSettings
        from tests.support.video_clips import clip_path

        embed_video_file(
            clip_path("bbb", seconds=2.0, audio=False), target, key=KEY, payload=payload,
            settings=EncoderSettings(preset="ultrafast"),
        )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def trust_files(tmp_path_factory: pytest.TempPathFactory, ca: TestCA) -> dict[str, Any]:
    """Every TRUST_CASES variant of a watermarked file in each of TRUST_FORMATS.

    The expired signer's certificate runs out a few seconds after its files are signed (c2pa
    refuses to sign with an expired one); the fixture waits for that.
    """
    import datetime as dt
    import time

    from cryptography import x509

    root = tmp_path_factory.mktemp("trust")
    payload = payload_for_label(PRODUCER, TRUST_ID)
    forger = make_test_ca(root / "forger", organization=FORGER)
    bases = {}
    for fmt in TRUST_FORMATS:
        (root / fmt).mkdir()
        bases[fmt] = _watermarked(root / fmt, fmt, payload)
    cases: dict[str, dict[str, Path]] = {fmt: {} for fmt in TRUST_FORMATS}

    def make(name: str, case: TrustCase, signer_ca: TestCA | None) -> None:
        for fmt, base in bases.items():
            signing = None
            if signer_ca is not None:
                binding = {"payload": payload, "other": OTHER_PAYLOAD, None: None}[case.binding]
                signing = Signing(signer_ca.chain, signer_ca.key, watermark_payload=binding)
            out = root / fmt / f"{name}.{fmt}"
            tag_file(base, out, AigcLabel.create(case.producer, TRUST_ID), signing=signing)
            cases[fmt][name] = out

    signers = {"real": ca, "forger": forger, None: None}
    for name, case in TRUST_CASES.items():
        if case.signer != "expired":
            make(name, case, signers[case.signer])
    window = 5.0
    while True:  # a busy machine may take longer than the window to sign: widen it
        expiring = _expiring_ca(root / f"expiring-{window:g}", window)
        try:
            make("expired", TRUST_CASES["expired"], expiring)
            break
        except UsageError:
            window *= 2
            assert window < 200
    leaf = x509.load_pem_x509_certificates(expiring.chain.read_bytes())[0]
    while dt.datetime.now(dt.UTC) <= leaf.not_valid_after_utc + dt.timedelta(seconds=1):
        time.sleep(0.25)
    return {"cases": cases, "payload": payload, "forger": forger}


@pytest.mark.parametrize("fmt", TRUST_FORMATS)
@pytest.mark.parametrize("name", list(TRUST_CASES))
def test_only_a_trusted_signer_corroborates(
    trust_files: dict[str, Any], ca: TestCA, fmt: str, name: str
) -> None:
    """With the real root as trust anchor: a manifest corroborates the watermark ("agree")
    only when it is valid and from the trusted signer; a forger's manifest naming the right
    payload is only "consistent", and the note names the forger; a manifest naming another
    payload is a mismatch whoever signed it; an expired one counts for nothing."""
    case = TRUST_CASES[name]
    path = trust_files["cases"][fmt][name]
    result = verify_file(path, key=KEY, trust_anchors=ca.root_cert)
    record = result.to_dict()
    assert result.ai_marked
    assert record["watermark"]["payload"] == trust_files["payload"]
    assert record["agreement"] == case.agreement, record["notes"]
    state = {"real": "valid", "forger": "untrusted", "expired": "invalid", None: "absent"}
    assert record["c2pa"]["state"] == state[case.signer]
    found = ["metadata label"]
    if result.kind == "image":
        found.append("IPTC source type")
    if case.signer in ("real", "forger"):
        found.append("C2PA manifest")
    found.append("watermark")
    untrusted = case.signer == "forger"
    shown = [f"untrusted {m}" if untrusted and m == "C2PA manifest" else m for m in found]
    assert result.verdict.startswith(f"AI-generated ({', '.join(shown)})")
    if case.signer == "real":
        assert record["trusted_signer"] == REAL_SIGNER
        # The label and the IPTC source type are what the manifest signed; the watermark
        # only when the manifest names its payload.
        assert record["backed"] == [m for m in found if m in case.backed or m == "IPTC source type"]
        if case.agreement == "agree":
            assert result.verdict.endswith(f'; all backed by trusted signer "{REAL_SIGNER}"')
        else:
            assert result.verdict.endswith("; not backed: watermark")
    else:
        assert record["trusted_signer"] is None
        assert record["backed"] == []
        assert result.verdict.endswith("; not backed by a trusted signer")
    if case.signer == "forger":
        assert "untrusted C2PA manifest" in result.verdict
        assert record["c2pa"]["signer_organization"] == FORGER
        assert any(f'signer "{FORGER}" does not chain' in note for note in record["notes"])
    if case.note is not None:
        assert any(case.note in note for note in record["notes"]), record["notes"]
    if name == "forged":  # the label names another producer: said, with who vouches instead
        assert any("does not imply the watermark's payload" in n for n in record["notes"])
    if case.agreement == "agree":
        assert record["notes"] == []


@pytest.mark.parametrize("fmt", TRUST_FORMATS)
def test_without_trust_anchors_no_signer_is_trusted(trust_files: dict[str, Any], fmt: str) -> None:
    """The real signer's manifest read without trust anchors: untrusted, the signer named as
    unverified, the watermark only consistent with what the manifest says."""
    result = verify_file(trust_files["cases"][fmt]["trusted"], key=KEY)
    assert result.c2pa["state"] == "untrusted"
    assert "no trust anchors given" in result.c2pa["reason"]
    assert result.agreement == "consistent"
    assert result.trusted_signer is None
    assert result.backed == []
    assert result.verdict.endswith("; not backed by a trusted signer")
    assert "untrusted C2PA manifest" in result.verdict
    assert any(
        f'no trust anchors given: the C2PA signer "{REAL_SIGNER}" is unverified' in note
        for note in result.notes
    )


def test_forged_manifest_is_named_in_text_and_json(trust_files: dict[str, Any], ca: TestCA) -> None:
    """The issue's case on the command line, for every format: `verify --trust-anchors ROOT`
    says "consistent", never "agree", and names the untrusted signer in both outputs."""
    forged = [trust_files["cases"][fmt]["forged"] for fmt in TRUST_FORMATS]
    options = ["--key", KEY, "--trust-anchors", ca.root_cert, "-j", "1"]
    done = run_cli("verify", *forged, *options, "--json")
    assert done.returncode == 0, done.stderr
    records = {record["file"]: record for record in map(json.loads, done.stdout.splitlines())}
    assert set(records) == {str(path) for path in forged}
    for record in records.values():
        assert record["agreement"] == "consistent"
        assert record["trusted_signer"] is None
        assert record["backed"] == []
        assert record["c2pa"]["state"] == "untrusted"
        assert record["c2pa"]["signer_organization"] == FORGER
        assert any(f'signer "{FORGER}" does not chain' in note for note in record["notes"])
    done = run_cli("verify", *forged, *options)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(forged)
    for line in lines:
        assert "untrusted C2PA manifest" in line
        assert "not backed by a trusted signer" in line
        assert f'C2PA untrusted (signer "{FORGER}")' in line
        assert "; consistent; " in line
        assert f'the C2PA signer "{FORGER}" does not chain to the given trust anchors' in line
        assert "agree" not in line


@pytest.mark.parametrize("kind", ["missing", "empty", "not-pem", "key-only", "directory", "fifo",
                                  "device", "huge"])  # fmt: skip
def test_bad_trust_anchors_are_one_usage_error(tmp_path: Path, ca: TestCA, kind: str) -> None:
    """A trust-anchor file without a certificate would trust nobody while the output spoke of
    given anchors: refused once, on one line, before any file is read; a FIFO is not opened."""
    import os

    anchors = tmp_path / "anchors.pem"
    if kind == "empty":
        anchors.touch()
    elif kind == "not-pem":
        anchors.write_text("hello\n")
    elif kind == "key-only":
        anchors.write_bytes(ca.key.read_bytes())  # a private key, not a certificate
    elif kind == "directory":
        anchors.mkdir()
    elif kind == "fifo":
        os.mkfifo(anchors)
    elif kind == "device":
        anchors = Path(os.devnull)
    elif kind == "huge":
        with anchors.open("wb") as stream:
            stream.write(ca.root_cert.read_bytes())
            stream.truncate(5 << 20)  # sparse: cheap
    photo = SAMPLES / "photo-astronaut.png"
    done = run_cli("verify", photo, "--trust-anchors", anchors, "--json")
    line = assert_one_error_line(done, exit_code=2)
    assert "trust anchors" in line
    assert done.stdout == ""
    with pytest.raises(UsageError, match="trust anchors"):
        verify_file(photo, trust_anchors=anchors)


def test_untrusted_signer_notes_are_one_line_whatever_the_name() -> None:
    """A signer's name comes from a certificate anyone can make: a newline in it is escaped,
    a certificate without a name is "(unnamed)", and a manifest untrusted for another reason
    than its signer (its time stamp) says that reason."""
    from marking.pipeline.verify import Verification, _conclude
    from marking.tags.source_types import TRAINED_ALGORITHMIC_MEDIA

    payload = payload_for_label(PRODUCER, "job-n")
    for organization, reason, expected in [
        ("Evil\nCo", "signingCredential.untrusted", 'the C2PA signer "Evil\\nCo" does not chain'),
        (None, "signingCredential.untrusted", "the C2PA signer (unnamed) does not chain"),
        ("Acme", "timeStamp.untrusted", 'manifest of "Acme" is not trusted (timeStamp.untrusted)'),
    ]:
        result = Verification(file="x.jpg", kind="image", anchors_given=True)
        result.c2pa = {
            "state": "untrusted",
            "reason": reason,
            "digital_source_type": TRAINED_ALGORITHMIC_MEDIA,
            "soft_binding_payload": payload,
            "signer_organization": organization,
        }
        result.watermark = {"checked": True, "detected": True, "payload": payload}
        _conclude(result)
        assert result.agreement == "consistent"
        assert result.verdict == (
            "AI-generated (untrusted C2PA manifest, watermark); not backed by a trusted signer"
        )
        assert any(expected in note for note in result.notes), result.notes
        assert not any("\n" in note for note in result.notes)


# --- agreement by construction: every correct manual workflow agrees ----------------------------

MANUAL_PAYLOAD = "0123456789abcdef"
#: Steps of a manual workflow: embed (with --payload when first), tag, tag and sign.
WORKFLOWS = {
    "embed,tag": ("embed", "tag"),
    "embed,tag+c2pa": ("embed", "tag+c2pa"),
    "tag,embed": ("tag", "embed"),
    "tag,embed,tag+c2pa": ("tag", "embed", "tag+c2pa"),
}


@pytest.fixture(scope="module")
def manual_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import make_natural_image

    folder = tmp_path_factory.mktemp("manual")
    picture = folder / "picture.jpg"
    make_natural_image("RGB", (320, 256), seed=7).save(picture, quality=92)
    sound = folder / "sound.wav"
    sf.write(sound, clip("speech", 3.0, 16_000), 16_000, subtype="PCM_16")
    return {"image": picture, "audio": sound}


def run_workflow(source: Path, folder: Path, steps: tuple[str, ...], ca: TestCA) -> Path:
    """Run the verbs in order on the CLI, each on the previous one's output."""
    current = source
    for index, step in enumerate(steps):
        out = folder / f"{index}-{step.replace('+', '-')}{source.suffix}"
        if step == "embed":
            first = ["--payload", MANUAL_PAYLOAD] if index == 0 else []
            argv = ["embed", current, "-o", out, *first]
        else:
            argv = ["tag", current, "-o", out, "--producer", PRODUCER, "--produce-id", "job-m"]
            if step == "tag+c2pa":
                argv += ["--c2pa-cert", ca.chain, "--c2pa-key", ca.key]
        result = run_cli(*argv, "--key", KEY)
        assert result.returncode == 0, result.stderr
        current = out
    return current


@pytest.mark.parametrize(
    ("kind", "workflow"),
    [("image", name) for name in WORKFLOWS] + [("audio", "embed,tag+c2pa"), ("audio", "tag,embed")],
)
def test_manual_workflows_agree(
    tmp_path: Path, ca: TestCA, manual_inputs: dict[str, Path], kind: str, workflow: str
) -> None:
    """embed then tag, tag then embed, with or without C2PA: never a tamper warning. Signed by
    a trusted signer the marks agree; unsigned they are consistent (the label is unsigned)."""
    shipped = run_workflow(manual_inputs[kind], tmp_path, WORKFLOWS[workflow], ca)
    signed = workflow.endswith("c2pa")
    result = verify_file(shipped, key=KEY, trust_anchors=ca.root_cert if signed else None)
    assert result.agreement == ("agree" if signed else "consistent"), result.notes
    assert result.watermark["detected"]
    if workflow.startswith("embed"):
        assert result.watermark["payload"] == MANUAL_PAYLOAD
    assert not any("tamper" in note for note in result.notes)
    if signed:
        assert "all backed by trusted signer" in result.verdict


def test_manual_video_workflow_agrees(tmp_path: Path, ca: TestCA) -> None:
    """A video tagged, then watermarked (the label kept, the payload it names embedded in the
    frames and the sound), then signed: both schemes bound, and the marks agree."""
    from marking.tags.c2pa import SOFT_BINDING_ALGS
    from marking.tags.c2pa_read import read_manifest
    from tests.support.video_clips import clip_path

    source = clip_path("bbb", width=320, height=256, fps=10, seconds=2.0, preset="ultrafast")
    tagged, marked, shipped = (tmp_path / f"{name}.mp4" for name in ("t", "e", "s"))
    tag = ["--producer", PRODUCER, "--produce-id", "job-mv", "--key", KEY]
    assert run_cli("tag", source, "-o", tagged, *tag).returncode == 0
    result = run_cli("embed", tagged, "-o", marked, "--key", KEY, "--preset", "ultrafast")
    assert result.returncode == 0, result.stderr
    assert verify_file(marked, key=KEY).agreement == "consistent"
    signing = ["--c2pa-cert", ca.chain, "--c2pa-key", ca.key]
    assert run_cli("tag", marked, "-o", shipped, *tag, *signing).returncode == 0
    result = verify_file(shipped, key=KEY, trust_anchors=ca.root_cert)
    assert result.agreement == "agree", result.notes
    assert result.watermark["payload"] == payload_for_label(PRODUCER, "job-mv")
    wanted = (SOFT_BINDING_ALGS["video"], SOFT_BINDING_ALGS["audio"])
    assert read_manifest(shipped).soft_binding_algs == wanted


def test_a_bound_label_transplanted_is_still_a_mismatch(
    tmp_path: Path, manual_inputs: dict[str, Path]
) -> None:
    """The label tag bound to one file's watermark, copied onto a file with another
    watermark, names the first payload: a mismatch."""
    picture = manual_inputs["image"]
    first, second = tmp_path / "first.jpg", tmp_path / "second.jpg"
    embed_file(picture, first, key=KEY, payload=MANUAL_PAYLOAD)
    embed_file(picture, second, key=KEY, payload="1111111111111111")
    tagged = tmp_path / "tagged.jpg"
    result = run_cli("tag", first, "-o", tagged, "--producer", PRODUCER, "--key", KEY, "--json")
    assert result.returncode == 0, result.stderr
    bound = json.loads(result.stdout)["label"]
    assert bound["ReservedCode1"] == f"aigc-wm:{MANUAL_PAYLOAD}"
    assert verify_file(tagged, key=KEY).agreement == "consistent"
    copied = tmp_path / "copied.jpg"
    label = AigcLabel(**{attr: bound[name] for name, attr in FIELD_KEYS})
    tag_file(second, copied, label)  # the label verbatim, as a copying tool would
    result = verify_file(copied, key=KEY)
    assert result.agreement == "mismatch"
    assert any("tampered" in note for note in result.notes)


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("tag-unmarked-payload", "carries no watermark"),
        ("tag-other-payload", f"carries a watermark with payload {MANUAL_PAYLOAD}"),
        ("tag-reserved1", "ReservedCode1"),
        ("embed-other-payload", "carries a metadata label naming payload"),
        ("tag-system-name", "--system-name needs --c2pa-cert"),
        ("mark-system-version", "--system-version needs --c2pa-cert"),
    ],
)
def test_options_without_effect_are_usage_errors(
    tmp_path: Path, manual_inputs: dict[str, Path], case: str, match: str
) -> None:
    """An option the run could not honour is refused on one line, and nothing is written."""
    picture = manual_inputs["image"]
    marked, tagged = tmp_path / "marked.jpg", tmp_path / "tagged.jpg"
    embed_file(picture, marked, key=KEY, payload=MANUAL_PAYLOAD)
    tag_file(picture, tagged, AigcLabel.create(PRODUCER, "job-u"))
    out = tmp_path / "out.jpg"
    tag = ["tag", marked, "-o", out, "--producer", PRODUCER]
    argv = {
        "tag-unmarked-payload": ["tag", picture, "-o", out, "--producer", PRODUCER,
                                 "--watermark-payload", MANUAL_PAYLOAD],
        "tag-other-payload": [*tag, "--watermark-payload", "1111111111111111"],
        "tag-reserved1": [*tag, "--reserved1", "checksum"],
        "embed-other-payload": ["embed", tagged, "-o", out, "--payload", MANUAL_PAYLOAD],
        "tag-system-name": [*tag, "--system-name", "GenX"],
        "mark-system-version": ["mark", picture, "-o", tmp_path / "outdir", "--producer",
                                PRODUCER, "--system-version", "3"],
    }[case]  # fmt: skip
    assert match in assert_one_error_line(run_cli(*argv, "--key", KEY), exit_code=2)
    assert not out.exists()
    assert not (tmp_path / "outdir").exists()
