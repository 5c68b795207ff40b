"""C2PA content credentials: signing, reading, validation verdicts and a loopback TSA."""

from __future__ import annotations

import datetime as dt
import stat
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from marking.cli.test_ca import main
from marking.errors import UnsupportedInputError, UsageError
from marking.tags.c2pa import (
    AIGC_ASSERTION_LABEL,
    DISCLOSURE_ASSERTION_LABEL,
    SOFT_BINDING_ALG,
    TRAINED_ALGORITHMIC_MEDIA,
    C2paError,
    ManifestInfo,
    build_manifest,
    sign_file,
)
from marking.tags.c2pa_read import read_manifest
from marking.tags.test_ca import TestCA, make_root, make_test_ca
from tests.conftest import make_natural_image
from tests.support.tsa_server import TimeStampAuthority, start_tsa

PAYLOAD = "0123456789abcdef"
AIGC = {
    "Label": "1",
    "ContentProducer": "001191110102MAD55U9H0F10002",
    "ProduceID": "img-0001",
    "ReservedCode1": "",
    "ContentPropagator": "001191110102MAD55U9H0F10002",
    "PropagateID": "img-0001",
    "ReservedCode2": "",
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def info() -> ManifestInfo:
    return ManifestInfo(
        producer="Example AI Provider",
        system_name="ExampleGen",
        system_version="2.1",
        produce_id="img-0001",
        created="2026-01-02T03:04:05Z",
        aigc_label=AIGC,
        watermark_payload=PAYLOAD,
        watermark_key_id="public-v1",
    )


def _image(path: Path) -> Path:
    make_natural_image(size=(96, 64)).save(path)
    return path


def _wav(path: Path) -> Path:
    samples = (np.sin(np.arange(8000) * 0.05) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(8000)
        stream.writeframes(samples.tobytes())
    return path


def _video(path: Path, container: str) -> Path:
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(5):
            pixels = np.full((64, 64, 3), index * 40, dtype=np.uint8)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        output.mux(stream.encode())
    return path


def _audio(path: Path, container: str, codec: str) -> Path:
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=44100, layout="mono")
        fmt = stream.codec_context.format.name
        samples = (np.sin(np.arange(44100) * 0.05) * 0.3).astype(np.float32)[None, :]
        if fmt.startswith("s16"):
            samples = (samples * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            samples = (samples * 2**31 - 1).astype(np.int32)
        frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
        frame.sample_rate = 44100
        output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path


MAKERS: dict[str, Callable[[Path], Path]] = {
    "jpg": _image,
    "png": _image,
    "webp": _image,
    "tif": _image,
    "wav": _wav,
    "mp4": lambda p: _video(p, "mp4"),
    "mov": lambda p: _video(p, "mov"),
    "m4a": lambda p: _audio(p, "ipod", "aac"),
    "mp3": lambda p: _audio(p, "mp3", "libmp3lame"),
    "flac": lambda p: _audio(p, "flac", "flac"),
}


def _sign(
    tmp_path: Path, ca: TestCA, info: ManifestInfo, ext: str = "jpg", tsa_url: str | None = None
) -> Path:
    """Make a small ``ext`` file and sign it with the test CA; return the signed copy."""
    src = MAKERS[ext](tmp_path / f"in.{ext}")
    dst = tmp_path / f"out.{ext}"
    sign_file(src, dst, info, ca.chain.read_bytes(), ca.key.read_bytes(), tsa_url=tsa_url)
    return dst


# --- the test CA -------------------------------------------------------------------------


def test_test_ca_files(ca: TestCA) -> None:
    chain = x509.load_pem_x509_certificates(ca.chain.read_bytes())
    assert len(chain) == 2
    leaf, root = chain
    assert root == x509.load_pem_x509_certificate(ca.root_cert.read_bytes())
    org = leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert org == "Example AI Provider"
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ExtendedKeyUsageOID.EMAIL_PROTECTION in usage
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    leaf.verify_directly_issued_by(root)
    assert leaf.not_valid_before_utc < dt.datetime.now(dt.UTC)
    for key in (ca.key, ca.root_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_test_ca_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "demo"), "--organization", "Demo Org"]) == 0
    assert "trust anchor" in capsys.readouterr().out
    assert (tmp_path / "demo" / "chain.pem").is_file()


# --- the manifest definition -----------------------------------------------------------


def test_build_manifest_first_action_is_created(info: ManifestInfo) -> None:
    manifest = build_manifest(info)
    actions = manifest["assertions"][0]
    assert actions["label"] == "c2pa.actions.v2"
    first = actions["data"]["actions"][0]
    assert first == {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": "ExampleGen", "version": "2.1"},
        "when": "2026-01-02T03:04:05Z",
    }
    labels = [assertion["label"] for assertion in manifest["assertions"]]
    assert labels[1:] == [AIGC_ASSERTION_LABEL, DISCLOSURE_ASSERTION_LABEL, "c2pa.soft-binding"]


def test_build_manifest_defaults_and_checks() -> None:
    info = ManifestInfo(producer="P", system_name="G", system_version="1")
    fields = build_manifest(info)["assertions"][1]["data"]["AIGC"]
    assert fields["Label"] == "1"
    assert fields["ProduceID"] == info.produce_id
    assert len(info.produce_id) == 32
    with pytest.raises(UsageError, match="missing fields"):
        build_manifest(ManifestInfo("P", "G", "1", aigc_label={"Label": "1"}))
    with pytest.raises(UsageError, match="16 lowercase hex"):
        build_manifest(ManifestInfo("P", "G", "1", watermark_payload="xyz"))
    with pytest.raises(UsageError, match="ISO 8601"):
        build_manifest(ManifestInfo("P", "G", "1", created="yesterday"))
    wrapped = ManifestInfo("P", "G", "1", aigc_label={"AIGC": AIGC})
    assert build_manifest(wrapped)["assertions"][1]["data"]["AIGC"] == AIGC


# --- signing and reading -----------------------------------------------------------------


@pytest.mark.parametrize("ext", list(MAKERS))
def test_sign_and_read_trusted(tmp_path: Path, ca: TestCA, info: ManifestInfo, ext: str) -> None:
    out = _sign(tmp_path, ca, info, ext)
    report = read_manifest(out, trust_anchors_pem=ca.root_cert.read_bytes())
    assert report.state == "valid", report.reason
    first = report.first_action
    assert first is not None
    assert first["action"] == "c2pa.created"
    assert report.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.software_agent == {"name": "ExampleGen", "version": "2.1"}
    assert report.when == "2026-01-02T03:04:05Z"
    assert report.aigc == AIGC
    assert report.disclosure == {
        "provider": "Example AI Provider",
        "systemName": "ExampleGen",
        "systemVersion": "2.1",
        "created": "2026-01-02T03:04:05Z",
        "identifier": "img-0001",
    }
    assert report.soft_binding_alg == SOFT_BINDING_ALG
    assert report.soft_binding_payload == PAYLOAD
    assert report.signer_organization == "Example AI Provider"
    assert not report.timestamped


def test_source_never_modified(tmp_path: Path, ca: TestCA, info: ManifestInfo) -> None:
    src = _image(tmp_path / "in.png")
    before = src.read_bytes()
    sign_file(src, tmp_path / "out.png", info, ca.chain.read_bytes(), ca.key.read_bytes())
    assert src.read_bytes() == before
    assert read_manifest(src).state == "absent"
    with pytest.raises(Exception, match="refusing to overwrite the input"):
        sign_file(src, src, info, ca.chain.read_bytes(), ca.key.read_bytes())
    assert src.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_without_anchor_is_untrusted_not_invalid(
    tmp_path: Path, ca: TestCA, info: ManifestInfo
) -> None:
    out = _sign(tmp_path, ca, info, "png")
    report = read_manifest(out)
    assert report.state == "untrusted"
    assert "signingCredential.untrusted" in report.reason
    assert report.soft_binding_payload == PAYLOAD
    other = make_test_ca(tmp_path / "other", organization="Someone Else")
    assert read_manifest(out, trust_anchors_pem=other.root_cert.read_bytes()).state == "untrusted"


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_flipped_byte_is_invalid(tmp_path: Path, ca: TestCA, info: ManifestInfo, ext: str) -> None:
    out = _sign(tmp_path, ca, info, ext)
    data = bytearray(out.read_bytes())
    # Flip a byte of the compressed pixel data, outside the manifest.
    marker = b"IDAT" if ext == "png" else b"\xff\xda"
    data[data.rindex(marker) + 20] ^= 0x01
    out.write_bytes(bytes(data))
    for anchors in (ca.root_cert.read_bytes(), None):
        report = read_manifest(out, trust_anchors_pem=anchors)
        assert report.state == "invalid"
        assert "assertion.dataHash.mismatch" in report.reason


def test_absent_and_unsupported(tmp_path: Path, ca: TestCA, info: ManifestInfo) -> None:
    assert read_manifest(_image(tmp_path / "plain.jpg")).state == "absent"
    odd = tmp_path / "file.xyz"
    odd.write_bytes(b"hello")
    with pytest.raises(UnsupportedInputError, match="C2PA signing supports"):
        sign_file(odd, tmp_path / "o.xyz", info, ca.chain.read_bytes(), ca.key.read_bytes())


@pytest.mark.parametrize(("ext", "other"), [("jpg", "jfif"), ("jpg", "jpe"), ("wav", "wave")])
def test_other_suffixes_of_signed_formats(
    tmp_path: Path, ca: TestCA, info: ManifestInfo, ext: str, other: str
) -> None:
    src = MAKERS[ext](tmp_path / f"in.{other}")
    out = tmp_path / f"out.{other}"
    sign_file(src, out, info, ca.chain.read_bytes(), ca.key.read_bytes())
    assert read_manifest(out, trust_anchors_pem=ca.root_cert.read_bytes()).state == "valid"


@pytest.mark.parametrize(("ext", "name"), [("mkv", "MKV"), ("webm", "WebM"), ("ogg", "Ogg")])
def test_formats_without_an_embedding_are_named(
    tmp_path: Path, ca: TestCA, info: ManifestInfo, ext: str, name: str
) -> None:
    src = tmp_path / f"in.{ext}"
    src.write_bytes(b"not read")
    with pytest.raises(UnsupportedInputError) as caught:
        sign_file(src, tmp_path / f"o.{ext}", info, ca.chain.read_bytes(), ca.key.read_bytes())
    assert f"C2PA defines no way to embed a manifest in {name} files" in str(caught.value)
    assert "C2PA signing supports JPEG, PNG" in str(caught.value)


def test_self_signed_leaf_refused(tmp_path: Path, info: ManifestInfo) -> None:
    cert, key = make_root("Self Org", "self-signed", dt.datetime.now(dt.UTC))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    src = _image(tmp_path / "in.jpg")
    with pytest.raises(UsageError, match="self-signed") as caught:
        sign_file(src, tmp_path / "out.jpg", info, pem, key_pem)
    assert b"PRIVATE" not in str(caught.value).encode()
    assert not (tmp_path / "out.jpg").exists()


def _pem_body(pem: bytes) -> bytes:
    return b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))


def test_private_key_never_leaks(tmp_path: Path, ca: TestCA, info: ManifestInfo) -> None:
    key_pem = ca.key.read_bytes()
    body = _pem_body(key_pem)
    der = serialization.load_pem_private_key(key_pem, None).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    scalar = serialization.load_pem_private_key(key_pem, None).private_numbers().private_value
    for ext in ("jpg", "png"):
        out = _sign(tmp_path, ca, info, ext).read_bytes()
        assert body not in out
        assert body[:40] not in out
        assert der not in out
        assert scalar.to_bytes(32, "big") not in out
    # A key that does not match the chain, and a damaged key: refused, key not quoted.
    other = make_test_ca(tmp_path / "other")
    src = _image(tmp_path / "k.jpg")
    for bad in (other.key.read_bytes(), key_pem[:-60] + b"\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(UsageError, match="signing key") as caught:
            sign_file(src, tmp_path / "k-out.jpg", info, ca.chain.read_bytes(), bad)
        message = str(caught.value)
        assert _pem_body(bad)[:20].decode() not in message
        assert "PRIVATE KEY" not in message
        assert caught.value.__cause__ is None


def test_resign_signed_file(tmp_path: Path, ca: TestCA, info: ManifestInfo) -> None:
    """A signed file is not silently re-signed: refuse, replace, or update with a parent."""
    first = _sign(tmp_path, ca, info, "jpg")
    chain, key = ca.chain.read_bytes(), ca.key.read_bytes()
    anchors = ca.root_cert.read_bytes()
    again = ManifestInfo("Example AI Provider", "ExampleGen", "2.2", watermark_payload=PAYLOAD)
    with pytest.raises(C2paError, match="already has C2PA content credentials"):
        sign_file(first, tmp_path / "refused.jpg", again, chain, key)
    assert not (tmp_path / "refused.jpg").exists()

    sign_file(first, tmp_path / "replaced.jpg", again, chain, key, existing="replace")
    replaced = read_manifest(tmp_path / "replaced.jpg", trust_anchors_pem=anchors)
    assert replaced.state == "valid"
    assert replaced.ingredients == 0
    assert replaced.software_agent == {"name": "ExampleGen", "version": "2.2"}
    assert [a["action"] for a in replaced.actions] == ["c2pa.created"]

    sign_file(first, tmp_path / "updated.jpg", again, chain, key, existing="update")
    updated = read_manifest(tmp_path / "updated.jpg", trust_anchors_pem=anchors)
    assert updated.state == "valid", updated.reason
    assert updated.ingredients == 1
    assert updated.first_action is not None
    assert updated.first_action["action"] == "c2pa.opened"
    assert updated.digital_source_type == TRAINED_ALGORITHMIC_MEDIA

    with pytest.raises(UsageError, match="existing"):
        sign_file(first, tmp_path / "x.jpg", again, chain, key, existing="merge")


# --- what a manifest costs ----------------------------------------------------------------

#: Bytes a manifest may add to a file. Measured: about 4.3 KB in every format with the test
#: CA's two-certificate chain (c2pa's default claim thumbnail, 1024 pixels in the picture's
#: own format, added 100 KB to a JPEG and about 1 MB to a small WebP); the rest is room for a
#: longer chain and a time stamp.
MANIFEST_BUDGET = 16 * 1024
#: What the optional claim thumbnail may add (a 256-pixel low-quality JPEG, measured 8 KB).
THUMBNAIL_BUDGET = 16 * 1024
_PICTURES = ("jpg", "png", "webp", "tif")


def _claim_thumbnail(path: Path) -> str | None:
    """The media type of the active manifest's claim thumbnail, ``None`` without one."""
    import json

    import c2pa

    from marking.tags.c2pa import MIME_TYPES

    with path.open("rb") as stream, c2pa.Reader(MIME_TYPES[path.suffix], stream) as reader:
        store = json.loads(reader.json())
    thumbnail = store["manifests"][store["active_manifest"]].get("thumbnail")
    return thumbnail["format"] if thumbnail else None


@pytest.mark.parametrize("ext", list(MAKERS))
def test_manifest_adds_a_few_kilobytes(
    tmp_path: Path, ca: TestCA, info: ManifestInfo, ext: str
) -> None:
    src = MAKERS[ext](tmp_path / f"in.{ext}")
    chain, key, anchors = ca.chain.read_bytes(), ca.key.read_bytes(), ca.root_cert.read_bytes()
    plain, small = tmp_path / f"plain.{ext}", tmp_path / f"thumb.{ext}"
    sign_file(src, plain, info, chain, key)
    sign_file(src, small, info, chain, key, thumbnail=True)
    before = src.stat().st_size
    assert plain.stat().st_size - before < MANIFEST_BUDGET
    assert _claim_thumbnail(plain) is None
    assert small.stat().st_size - before < MANIFEST_BUDGET + THUMBNAIL_BUDGET
    assert _claim_thumbnail(small) == ("image/jpeg" if ext in _PICTURES else None)
    for out in (plain, small):
        report = read_manifest(out, trust_anchors_pem=anchors)
        assert report.state == "valid", report.reason


def test_update_keeps_the_manifest_small(tmp_path: Path, ca: TestCA, info: ManifestInfo) -> None:
    """Keeping the signed original as parent adds its manifest, and no ingredient thumbnail."""
    chain, key = ca.chain.read_bytes(), ca.key.read_bytes()
    first = _sign(tmp_path, ca, info, "webp")
    updated = tmp_path / "updated.webp"
    sign_file(first, updated, info, chain, key, existing="update")
    assert updated.stat().st_size - first.stat().st_size < 2 * MANIFEST_BUDGET
    report = read_manifest(updated, trust_anchors_pem=ca.root_cert.read_bytes())
    assert report.state == "valid", report.reason
    assert report.ingredients == 1


# --- RFC 3161 time-stamping ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimeStampAuthority]:
    authority = start_tsa(tmp_path_factory.mktemp("tsa"))
    yield authority
    authority.stop()


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_timestamped_signature(
    tmp_path: Path, ca: TestCA, info: ManifestInfo, tsa: TimeStampAuthority, ext: str
) -> None:
    assert tsa.url.startswith("http://127.0.0.1:")
    before = tsa.requests
    out = _sign(tmp_path, ca, info, ext, tsa_url=tsa.url)
    assert tsa.requests > before
    report = read_manifest(out, trust_anchors_pem=ca.root_cert.read_bytes())
    assert report.state == "valid", report.reason
    assert report.timestamped
    assert report.timestamp_time is not None
    stamped = dt.datetime.fromisoformat(report.timestamp_time)
    assert abs(stamped - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)


def test_unreachable_tsa_fails_cleanly(tmp_path: Path, ca: TestCA, info: ManifestInfo) -> None:
    import socket

    with socket.socket() as sock:  # a free port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    src = _image(tmp_path / "in.jpg")
    with pytest.raises(C2paError, match="C2PA signing failed") as caught:
        sign_file(
            src,
            tmp_path / "out.jpg",
            info,
            ca.chain.read_bytes(),
            ca.key.read_bytes(),
            tsa_url=f"http://127.0.0.1:{port}/",
        )
    assert "PRIVATE" not in str(caught.value)
    assert not (tmp_path / "out.jpg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.jpg"]


def test_thumbnail_option_of_tag_mark_and_the_config(tmp_path: Path, ca: TestCA) -> None:
    """``tag --c2pa-thumbnail``, ``mark --c2pa-thumbnail`` and ``[c2pa] thumbnail = true`` ask
    for the small JPEG claim thumbnail; without them there is none."""
    from tests.support.commands import run_cli

    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    make_natural_image("RGB", (320, 256), seed=4).save(photo)
    creds = ["--c2pa-cert", str(ca.chain), "--c2pa-key", str(ca.key)]
    plain, thumbed = tmp_path / "plain.png", tmp_path / "thumbed.png"
    for out, extra in ((plain, []), (thumbed, ["--c2pa-thumbnail"])):
        done = run_cli("tag", photo, "-o", out, "--producer", "ExampleAI", *creds, *extra)
        assert done.returncode == 0, done.stderr
    assert _claim_thumbnail(plain) is None
    assert _claim_thumbnail(thumbed) == "image/jpeg"
    refused = run_cli("tag", photo, "-o", tmp_path / "x.png", "--producer", "E", "--c2pa-thumbnail")
    assert refused.returncode == 2
    assert "--c2pa-thumbnail needs --c2pa-cert" in refused.stderr

    config = tmp_path / "thumb.toml"
    config.write_text(
        f'[c2pa]\ncert_chain = "{ca.chain}"\nkey = "{ca.key}"\nthumbnail = true\n'
        '[mark]\nsteps = ["metadata", "c2pa"]\nproducer = "ExampleAI"\n',
        encoding="utf-8",
    )
    runs = {
        "flag": ["--steps", "metadata,c2pa", "--producer", "ExampleAI", *creds, "--c2pa-thumbnail"],
        "config": ["--config", str(config)],
    }
    for name, options in runs.items():
        outdir = tmp_path / f"out-{name}"
        done = run_cli("mark", photo.parent, "-o", outdir, "--no-progress", *options)
        assert done.returncode == 0, (name, done.stderr)
        assert _claim_thumbnail(outdir / "photo.png") == "image/jpeg", name


# --- honest manifests: the scheme named, the watermarking step recorded, only real formats ---


def test_soft_binding_per_scheme_and_the_watermarked_action(info: ManifestInfo) -> None:
    from dataclasses import replace

    from marking.tags.c2pa import SOFT_BINDING_ALGS, WATERMARKED_ACTION

    video = replace(
        info,
        soft_binding_algs=(SOFT_BINDING_ALGS["video"], SOFT_BINDING_ALGS["audio"]),
        watermarked=True,
    )
    assertions = build_manifest(video)["assertions"]
    bindings = [item["data"] for item in assertions if item["label"] == "c2pa.soft-binding"]
    assert [binding["alg"] for binding in bindings] == [
        "org.aigc-marking.video-frame-tile.1",
        "org.aigc-marking.audio-spectral-patchwork.1",
    ]
    assert all(binding["blocks"][0]["value"] == PAYLOAD for binding in bindings)
    actions = assertions[0]["data"]["actions"]
    assert [action["action"] for action in actions] == ["c2pa.created", WATERMARKED_ACTION]
    assert actions[0]["softwareAgent"]["name"] == "ExampleGen"  # the generative system
    assert actions[1]["softwareAgent"]["name"] == "aigc-marking"  # the tool that marked it
    assert len(set(SOFT_BINDING_ALGS.values())) == 3
    unbound = replace(info, watermark_payload=None)
    assert not any(
        item["label"] == "c2pa.soft-binding" for item in build_manifest(unbound)["assertions"]
    )
    with pytest.raises(UsageError, match="no watermark payload"):
        build_manifest(replace(unbound, watermarked=True))


def test_signed_video_reads_back_both_soft_bindings(
    tmp_path: Path, ca: TestCA, info: ManifestInfo
) -> None:
    from dataclasses import replace

    from marking.tags.c2pa import SOFT_BINDING_ALGS

    algs = (SOFT_BINDING_ALGS["video"], SOFT_BINDING_ALGS["audio"])
    out = _sign(tmp_path, ca, replace(info, soft_binding_algs=algs, watermarked=True), "mp4")
    report = read_manifest(out, trust_anchors_pem=ca.root_cert.read_bytes())
    assert report.state == "valid", report.reason
    assert report.soft_binding_algs == algs
    assert report.soft_binding_payload == PAYLOAD
    assert [action["action"] for action in report.actions] == ["c2pa.created", "c2pa.watermarked"]


@pytest.mark.parametrize("suffix", [".gif", ".avif", ".heic", ".heif"])
def test_formats_no_verb_reads_are_not_offered_for_signing(tmp_path: Path, suffix: str) -> None:
    """GIF, AVIF and HEIF are refused by every verb: signing neither takes nor names them."""
    from marking.tags.c2pa import check_signable, supported_suffixes

    assert suffix not in supported_suffixes()
    with pytest.raises(UnsupportedInputError) as caught:
        check_signable(tmp_path / f"x{suffix}")
    message = str(caught.value)
    assert "JPEG, PNG, WebP, TIFF, MP4, MOV, M4A, MP3, WAV and FLAC" in message
    assert not any(name in message for name in ("GIF", "AVIF", "HEIF"))
