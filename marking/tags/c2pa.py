"""C2PA content credentials: build and sign a manifest for AI-generated media.

The manifest says, in a form anyone's C2PA reader understands, that the content was made
by an AI system: its first action is ``c2pa.created`` with the IPTC digital source type
``trainedAlgorithmicMedia``, the generating software and the time. Beside it go the
GB 45438 implicit-label fields, the latent-disclosure fields California's AI Transparency
Act asks for (provider, system name and version, creation time, unique id), and the
invisible watermark's payload as a soft-binding assertion (one per scheme that carries it,
named for it), so a copy stripped of its metadata can be traced back through its watermark;
a ``c2pa.watermarked`` action records a watermark the signing run embedded. Everything is
signed (ES256) with the provider's certificate chain, optionally time-stamped by an RFC 3161
authority.

Built on ``c2pa-python`` 0.38 (c2pa-rs 0.91): :class:`c2pa.Builder`, :class:`c2pa.Signer`,
:class:`c2pa.Reader`, each with a :class:`c2pa.Context`: the reader's carries the trust
settings, the builder's turns off c2pa's automatic claim thumbnail (or makes it a small JPEG).
Order is the caller's job: write the GB 45438 label and the IPTC digital source type into
the file first, then sign, so the manifest's hash covers them. Reading and validating a
manifest is :mod:`marking.tags.c2pa_read`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from marking.errors import InputError, MarkingError, UnsupportedInputError, UsageError
from marking.media.atomic import atomic_write, display_path, open_regular
from marking.tags.aigc_label import FIELD_KEYS
from marking.tags.source_types import TRAINED_ALGORITHMIC_MEDIA

__all__ = [
    "AIGC_ASSERTION_LABEL",
    "DISCLOSURE_ASSERTION_LABEL",
    "SOFT_BINDING_ALG",
    "SOFT_BINDING_ALGS",
    "TRAINED_ALGORITHMIC_MEDIA",
    "WATERMARKED_ACTION",
    "C2paError",
    "ManifestInfo",
    "build_manifest",
    "check_signable",
    "sign_file",
    "supported_suffixes",
]

#: Custom assertion holding the GB 45438 Annex E label (``{"AIGC": {...seven fields}}``).
#: Named after the TC260 XMP namespace (tc260.org.cn) so the key contains ``AIGC`` as the
#: standard asks; C2PA defines no label for it.
AIGC_ASSERTION_LABEL = "cn.org.tc260.aigc"
#: Labels readers also accept for the GB 45438 assertion (older spellings).
AIGC_LABEL_ALIASES = (AIGC_ASSERTION_LABEL, "cn.tc260.aigc")

#: Custom assertion with the latent-disclosure fields (California SB 942 / AB 853): C2PA and
#: CAWG define no assertion for them (``c2pa.metadata`` and ``cawg.metadata`` only admit
#: fixed XMP/schema.org vocabularies), so they get one of ours. System name and version and
#: the time are also in the standard ``c2pa.created`` action; the provider is also the
#: signing certificate's Organization.
DISCLOSURE_ASSERTION_LABEL = "org.aigc-marking.disclosure"

#: Soft-binding algorithm names, one per watermark scheme of this toolkit (not in the C2PA
#: soft-binding algorithm list, so they use our reverse-domain prefix): the picture's keyed
#: DCT tile, the sound's spectral patchwork, and the tile steady on every video frame. A video
#: whose sound is marked too carries two soft bindings, one per scheme.
IMAGE_SOFT_BINDING_ALG = "org.aigc-marking.image-dct-tile.1"
AUDIO_SOFT_BINDING_ALG = "org.aigc-marking.audio-spectral-patchwork.1"
VIDEO_SOFT_BINDING_ALG = "org.aigc-marking.video-frame-tile.1"
SOFT_BINDING_ALGS = {
    "image": IMAGE_SOFT_BINDING_ALG,
    "audio": AUDIO_SOFT_BINDING_ALG,
    "video": VIDEO_SOFT_BINDING_ALG,
}
#: The picture scheme's name (what :class:`ManifestInfo` names when given no algorithm).
SOFT_BINDING_ALG = IMAGE_SOFT_BINDING_ALG
#: The C2PA 2.2 action for the step that inserted an invisible watermark.
WATERMARKED_ACTION = "c2pa.watermarked"

GB45438_FIELDS = tuple(key for key, _ in FIELD_KEYS)

#: MIME type per file suffix for the formats signed and tested here: those every verb reads
#: (GIF, AVIF and HEIF, which c2pa could sign, are refused by every verb, so named nowhere).
MIME_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".qt": "video/quicktime",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".flac": "audio/flac",
}
#: Names, for messages, of the formats above, and of media formats C2PA defines no embedding
#: for (by suffix).
_SIGNABLE_NAMES = "JPEG, PNG, WebP, TIFF, MP4, MOV, M4A, MP3, WAV and FLAC"
_UNSIGNABLE_NAMES = {
    ".mkv": "MKV",
    ".webm": "WebM",
    ".ogg": "Ogg",
    ".oga": "Ogg",
    ".opus": "Ogg Opus",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF-C",
    ".caf": "CAF",
    ".w64": "Wave64",
    ".au": "AU",
}

_HEX16 = re.compile(r"[0-9a-f]{16}")


class C2paError(MarkingError):
    """Signing or reading a C2PA manifest failed (message never contains key material)."""


def supported_suffixes() -> tuple[str, ...]:
    """File suffixes :func:`sign_file` accepts."""
    return tuple(MIME_TYPES)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ManifestInfo:
    """What the manifest states about one piece of AI-generated content."""

    producer: str
    """Provider (service) name; GB 45438 ``ContentProducer`` defaults to it."""
    system_name: str
    """Name of the generating AI system (``softwareAgent.name``)."""
    system_version: str
    """Version of the generating AI system (``softwareAgent.version``)."""
    produce_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The provider's unique identifier of this content."""
    created: str = field(default_factory=_now_iso)
    """Creation time, ISO 8601 in UTC (``2026-01-02T03:04:05Z``)."""
    aigc_label: Mapping[str, str] | None = None
    """The seven GB 45438 fields; ``None`` derives them (Label "1", producer, produce id)."""
    watermark_payload: str | None = None
    """The invisible watermark's payload (16 lowercase hex digits), for the soft binding:
    give it only for a watermark detected in the file signed."""
    soft_binding_algs: tuple[str, ...] = ()
    """The schemes carrying that payload in the file (:data:`SOFT_BINDING_ALGS`), one soft
    binding each; empty: the picture scheme's."""
    watermarked: bool = False
    """Whether this signing's run embedded that watermark: adds a ``c2pa.watermarked``
    action (C2PA 2.2) after ``c2pa.created``."""
    watermark_key_id: str | None = None
    """Public identifier of the watermark key (never the key itself)."""
    digital_source_type: str = TRAINED_ALGORITHMIC_MEDIA
    """IPTC digital source type URI of the ``c2pa.created`` action."""
    title: str | None = None
    """Optional ``dc:title`` of the manifest (readers show it)."""

    def gb45438_fields(self) -> dict[str, str]:
        """The seven GB 45438 fields, checked: all present, all strings."""
        if self.aigc_label is None:
            return {
                "Label": "1",
                "ContentProducer": self.producer,
                "ProduceID": self.produce_id,
                "ReservedCode1": "",
                "ContentPropagator": self.producer,
                "PropagateID": self.produce_id,
                "ReservedCode2": "",
            }
        label = dict(self.aigc_label)
        if set(label) == {"AIGC"} and isinstance(label["AIGC"], Mapping):
            label = dict(label["AIGC"])
        missing = [name for name in GB45438_FIELDS if name not in label]
        extra = sorted(set(label) - set(GB45438_FIELDS))
        if missing or extra:
            raise UsageError(f"GB 45438 label: missing fields {missing}, unknown fields {extra}")
        if not all(isinstance(value, str) for value in label.values()):
            raise UsageError("GB 45438 label: every field value must be a string")
        return {name: label[name] for name in GB45438_FIELDS}


def build_manifest(info: ManifestInfo) -> dict[str, Any]:
    """The manifest definition (``c2pa.Builder`` JSON) for ``info``.

    The first action of the first actions assertion is ``c2pa.created`` with the digital
    source type, ``softwareAgent`` and ``when``, as the C2PA AI-labelling guidance asks.
    """
    if not _ISO_UTC.fullmatch(info.created):
        raise UsageError(f"created: not an ISO 8601 UTC time: {info.created!r}")
    if info.watermark_payload is not None and not _HEX16.fullmatch(info.watermark_payload):
        raise UsageError("watermark payload: expected 16 lowercase hex digits")
    agent = {"name": info.system_name, "version": info.system_version}
    created_action = {
        "action": "c2pa.created",
        "digitalSourceType": info.digital_source_type,
        "softwareAgent": agent,
        "when": info.created,
    }
    actions = [created_action]
    if info.watermarked:
        if info.watermark_payload is None:
            raise UsageError("watermarked: the manifest names no watermark payload")
        tool = {"name": "aigc-marking", "version": _package_version()}
        actions.append({"action": WATERMARKED_ACTION, "softwareAgent": tool, "when": info.created})
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions.v2", "data": {"actions": actions}},
        {"label": AIGC_ASSERTION_LABEL, "data": {"AIGC": info.gb45438_fields()}},
        {
            "label": DISCLOSURE_ASSERTION_LABEL,
            "data": {
                "provider": info.producer,
                "systemName": info.system_name,
                "systemVersion": info.system_version,
                "created": info.created,
                "identifier": info.produce_id,
            },
        },
    ]
    if info.watermark_payload is not None:
        for alg in info.soft_binding_algs or (SOFT_BINDING_ALG,):
            binding: dict[str, Any] = {
                "alg": alg,
                "blocks": [{"scope": {}, "value": info.watermark_payload}],
            }
            if info.watermark_key_id is not None:
                binding["alg_params"] = {"keyId": info.watermark_key_id}
            assertions.append({"label": "c2pa.soft-binding", "data": binding})
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": "aigc-marking", "version": _package_version()}],
        "assertions": assertions,
    }
    if info.title:
        manifest["title"] = info.title
    return manifest


_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)")


def _package_version() -> str:
    try:
        return version("aigc-marking")
    except PackageNotFoundError:
        return "0+unknown"


def _mime_type(path: Path) -> str:
    suffix = path.suffix.lower()
    mime = MIME_TYPES.get(suffix)
    if mime is None:
        if suffix in _UNSIGNABLE_NAMES:
            what = f"C2PA defines no way to embed a manifest in {_UNSIGNABLE_NAMES[suffix]} files"
        else:
            what = f"cannot sign {f'{suffix} files' if suffix else 'files without a suffix'}"
        raise UnsupportedInputError(
            f"{display_path(path)}: {what} (C2PA signing supports {_SIGNABLE_NAMES})"
        )
    return mime


def _load_chain(chain_pem: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as error:
        raise UsageError("certificate chain: not PEM certificates") from error
    if not certs:
        raise UsageError("certificate chain: empty")
    return certs


def _check_signer(chain_pem: bytes, key_pem: bytes) -> None:
    """Refuse, with a clear message, what the C2PA signer would reject less clearly.

    Checks: the key is a P-256 key matching the leaf certificate; the leaf is not
    self-signed (C2PA requires a CA-issued signer) and is valid now.
    """
    leaf = _load_chain(chain_pem)[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # Never chain the original error: its text could quote the key.
        raise UsageError(
            "signing key: not an unencrypted PEM private key (PKCS#8 expected)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UsageError("signing key: ES256 needs an EC P-256 key")
    if key.public_key() != leaf.public_key():
        raise UsageError("signing key does not match the first certificate of the chain")
    if leaf.issuer == leaf.subject:
        try:
            leaf.verify_directly_issued_by(leaf)
        except (ValueError, TypeError, InvalidSignature):
            pass
        else:
            raise UsageError(
                "signing certificate is self-signed: C2PA needs a certificate issued by a CA "
                "(make a test one with `aigc-mark test-ca DIR`)"
            )
    now = dt.datetime.now(dt.UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise UsageError("signing certificate is not valid at this time")


_PARENT_ID = "parent"

#: Long edge, in pixels, of the claim thumbnail :func:`sign_file` adds when asked to.
THUMBNAIL_LONG_EDGE = 256


def _builder_settings(thumbnail: bool) -> dict[str, Any]:
    """c2pa settings for signing: no claim thumbnail, or a small JPEG one.

    c2pa's default adds, to every picture, a claim thumbnail scaled (up, too) to 1024 pixels
    on the long edge, in the picture's own format: a signed 27 KB WebP grew to 990 KB (a
    lossless WebP thumbnail), a JPEG or PNG by 100 to 130 KB, whereas the
    manifest without it costs about 4.3 KB in every format. The thumbnail is optional in
    C2PA, repeats the picture the manifest is in, and costs c2pa another full decode of it.
    """
    if not thumbnail:
        return {"builder": {"thumbnail": {"enabled": False}}}
    return {
        "builder": {
            "thumbnail": {
                "enabled": True,
                "ignore_errors": True,
                "format": "jpeg",
                "long_edge": THUMBNAIL_LONG_EDGE,
                "quality": "low",
                "prefer_smallest_format": True,
            }
        }
    }


def check_signable(path: str | os.PathLike[str]) -> None:
    """Raise :class:`UnsupportedInputError` (naming ``path``) unless its suffix can be signed."""
    _mime_type(Path(path))


def _existing_manifest(mime: str, stream: BinaryIO) -> str | None:
    """``None`` without a C2PA manifest store, ``"readable"`` with one, ``"damaged"`` when
    c2pa fails to read what is there (a damaged store, or a file it cannot parse)."""
    try:
        reader = c2pa.Reader.try_create(mime, stream)
    except c2pa.C2paError:
        return "damaged"
    if reader is None:
        return None
    reader.close()
    return "readable"


def c2pa_message(error: Exception) -> str:
    """A one-line message for a c2pa error, with anything PEM-like cut out."""
    text = " ".join(str(error).split())
    return re.sub(r"-----BEGIN [^-]*-----.*?(-----END [^-]*-----|$)", "[PEM]", text)


def sign_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    info: ManifestInfo,
    cert_chain_pem: bytes,
    key_pem: bytes,
    *,
    tsa_url: str | None = None,
    existing: str = "refuse",
    thumbnail: bool = False,
) -> dict[str, Any]:
    """Sign ``src`` with a manifest for ``info`` and write the result to ``dst`` atomically.

    ``cert_chain_pem`` is the leaf certificate followed by its issuers (PEM); ``key_pem``
    the leaf's PKCS#8 private key. ``tsa_url`` adds an RFC 3161 timestamp. ``src`` is never
    modified. Returns the manifest definition that was signed.

    ``existing`` says what to do when ``src`` already has C2PA credentials (c2pa would
    otherwise silently replace them): ``"refuse"`` (default) raises; ``"replace"`` drops
    them and signs afresh; ``"update"`` keeps the signed original as the ``parentOf``
    ingredient, and the first action becomes ``c2pa.opened`` (C2PA forbids
    ``c2pa.created`` with a parent), still carrying the digital source type.

    The manifest carries no claim thumbnail unless ``thumbnail`` is true, and then (for
    pictures only) a JPEG of :data:`THUMBNAIL_LONG_EDGE` pixels on the long edge, about 8 KB:
    the manifest adds about 4 KB to a file without one, 12 KB with one.
    """
    if existing not in ("refuse", "replace", "update"):
        raise UsageError(f"existing: expected refuse, replace or update, not {existing!r}")
    source = Path(src)
    mime = _mime_type(source)
    if not source.is_file():
        raise InputError(f"{display_path(source)}: no such file")
    _check_signer(cert_chain_pem, key_pem)
    manifest = build_manifest(info)
    with open_regular(source) as stream:
        found = _existing_manifest(mime, stream)
    has_manifest = found is not None
    if has_manifest and existing == "refuse":
        raise C2paError(
            f"{display_path(source)}: already has C2PA content credentials; choose to "
            "replace them or to update (keep them as the parent ingredient)"
        )
    parent = has_manifest and existing == "update"
    if parent:
        first = manifest["assertions"][0]["data"]["actions"][0]
        first["action"] = "c2pa.opened"
        first["parameters"] = {"ingredientIds": [_PARENT_ID]}
    # Streams end to end, so a long video is signed without being held in memory.
    with open_regular(source) as original, atomic_write(dst, forbid=[source], readable=True) as out:
        try:
            signer_info = c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256, cert_chain_pem, key_pem, tsa_url
            )
            with (
                c2pa.Context.from_dict(_builder_settings(thumbnail)) as context,
                c2pa.Signer.from_info(signer_info) as signer,
                c2pa.Builder.from_json(manifest, context=context) as builder,
            ):
                if parent:
                    ingredient = {
                        "title": source.name,
                        "relationship": "parentOf",
                        "label": _PARENT_ID,
                    }
                    builder.add_ingredient(ingredient, mime, original)
                    original.seek(0)
                builder.sign(signer, mime, original, out)
        except c2pa.C2paError as error:
            if found == "damaged":
                raise C2paError(
                    f"{display_path(source)}: its C2PA manifest is damaged and c2pa cannot "
                    f"replace it: {c2pa_message(error)}"
                ) from None
            raise C2paError(
                f"{display_path(source)}: C2PA signing failed: {c2pa_message(error)}"
            ) from None
    return manifest
