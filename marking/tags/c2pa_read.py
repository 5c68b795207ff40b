"""Reading C2PA content credentials: validate a file's manifest and pull out its AI facts.

:func:`read_manifest` validates the active manifest (signature, hashes and, against the trust
anchors the caller names, the signer's chain) and returns a :class:`ManifestReport`: a
verdict (valid, untrusted, invalid, unreadable, absent) and what the manifest says about AI
generation (the first action's digital source type, the GB 45438 label, the disclosure
fields, the watermark's soft binding). A damaged container that hides a manifest store is
"unreadable", never "absent". Building and signing are in :mod:`marking.tags.c2pa`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa

from marking.errors import InputError, UsageError
from marking.media.atomic import display_path, open_regular
from marking.tags.c2pa import (
    AIGC_LABEL_ALIASES,
    DISCLOSURE_ASSERTION_LABEL,
    MIME_TYPES,
    SOFT_BINDING_ALGS,
    c2pa_message,
)

__all__ = ["NO_TRUST_ANCHORS", "ManifestReport", "read_manifest"]

_UNTRUSTED_CODES = frozenset({"signingCredential.untrusted", "timeStamp.untrusted"})
#: The reason an intact manifest read without trust anchors gives: its signer is unverified.
NO_TRUST_ANCHORS = "no trust anchors given"


@dataclass(frozen=True)
class ManifestReport:
    """What a reader found: a validation verdict and the active manifest's AI-labelling facts.

    ``state`` is ``"valid"`` (intact and signed by a trusted chain), ``"untrusted"``
    (intact, but the signer chains to no given trust anchor), ``"invalid"`` (a manifest is
    there but a signature or hash check failed, or it cannot be decoded: ``reason`` says
    which), ``"unreadable"`` (the file around it could not be parsed, so whether it holds a
    manifest is unknown) or ``"absent"`` (no manifest).
    """

    state: str
    reason: str = ""
    failure_codes: tuple[str, ...] = ()
    manifest_label: str | None = None
    actions: tuple[dict[str, Any], ...] = ()
    digital_source_type: str | None = None
    software_agent: dict[str, Any] | None = None
    when: str | None = None
    aigc: dict[str, str] | None = None
    disclosure: dict[str, Any] | None = None
    soft_binding_alg: str | None = None
    soft_binding_payload: str | None = None
    soft_binding_algs: tuple[str, ...] = ()
    """Every soft binding's algorithm, in manifest order (``soft_binding_alg`` is the first
    of this toolkit's, else the first)."""
    signer_organization: str | None = None
    signer_common_name: str | None = None
    timestamped: bool = False
    timestamp_time: str | None = None
    ingredients: int = 0

    @property
    def first_action(self) -> dict[str, Any] | None:
        """The first action of the first actions assertion."""
        return self.actions[0] if self.actions else None


def _reader_settings(trust_anchors_pem: bytes | str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "verify": {"verify_trust": True, "ocsp_fetch": False, "remote_manifest_fetch": False}
    }
    if trust_anchors_pem:
        pem = (
            trust_anchors_pem.decode("ascii")
            if isinstance(trust_anchors_pem, bytes)
            else trust_anchors_pem
        )
        settings["trust"] = {"user_anchors": pem}
    return settings


def _aigc_from(data: Any) -> dict[str, str] | None:
    if isinstance(data, Mapping) and isinstance(data.get("AIGC"), Mapping):
        data = data["AIGC"]
    if isinstance(data, Mapping):
        return {str(k): str(v) for k, v in data.items()}
    return None


def _add_soft_binding(out: dict[str, Any], data: Mapping[str, Any]) -> None:
    """Note one soft-binding assertion; the first of this toolkit's schemes names the payload
    (else the first of any)."""
    alg = data.get("alg")
    out.setdefault("algs", []).append(str(alg))
    ours = alg in SOFT_BINDING_ALGS.values()
    if (ours and not out.get("ours")) or "soft_binding_alg" not in out:
        blocks = data.get("blocks") or []
        first = blocks[0] if blocks and isinstance(blocks[0], Mapping) else {}
        out["soft_binding_alg"] = alg
        out["soft_binding_payload"] = first.get("value")
        out["ours"] = out.get("ours") or ours


def _summarize(store: dict[str, Any]) -> dict[str, Any]:
    """Pull the AI-labelling facts out of a reader's manifest-store JSON."""
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label, {}) if label else {}
    out: dict[str, Any] = {"manifest_label": label}
    actions: list[dict[str, Any]] | None = None
    for assertion in manifest.get("assertions", []):
        name = assertion.get("label", "")
        data = assertion.get("data")
        base = re.sub(r"__\d+$", "", name)
        if base in ("c2pa.actions", "c2pa.actions.v2") and actions is None:
            actions = list(data.get("actions", [])) if isinstance(data, Mapping) else []
        elif base in AIGC_LABEL_ALIASES and "aigc" not in out:
            out["aigc"] = _aigc_from(data)
        elif base == DISCLOSURE_ASSERTION_LABEL and isinstance(data, Mapping):
            out["disclosure"] = dict(data)
        elif base == "c2pa.soft-binding" and isinstance(data, Mapping):
            _add_soft_binding(out, data)
    out["soft_binding_algs"] = tuple(out.pop("algs", ()))
    out.pop("ours", None)
    out["actions"] = tuple(actions or ())
    if actions:
        first = actions[0]
        out["digital_source_type"] = first.get("digitalSourceType")
        agent = first.get("softwareAgent")
        out["software_agent"] = agent if isinstance(agent, Mapping) else None
        out["when"] = first.get("when")
    signature = manifest.get("signature_info", {})
    out["signer_organization"] = signature.get("issuer")
    out["signer_common_name"] = signature.get("common_name")
    out["timestamp_time"] = signature.get("time")
    out["ingredients"] = len(manifest.get("ingredients", []))
    return out


#: The JUMBF description box that opens a C2PA manifest store: ``jumd``, the store's type
#: UUID (63327061-0011-0010-8000-00AA00389B71, "c2pa" and the ISO suffix).
_STORE_SIGNATURE = b"jumdc2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71"
#: Bytes searched for a stray store at each end of a file (formats keep it near one end).
_STRAY_WINDOW = 16 << 20


def _absent(source: Path, reason: str) -> ManifestReport:
    """``"absent"``, unless a manifest store's bytes are in the file after all.

    c2pa looks for the store only where the format keeps it; a damaged container (an ID3
    frame declaring too few bytes, a box size gone wrong) hides it there, and c2pa then
    answers "no manifest". A verifier must not call a damaged manifest absent, so the first
    and last 16 MiB are searched for the store's JUMBF signature.
    """
    try:
        with open_regular(source) as stream:
            head = stream.read(_STRAY_WINDOW)
            size = stream.seek(0, os.SEEK_END)
            tail = b""
            if size > len(head):
                stream.seek(max(len(head), size - _STRAY_WINDOW) - len(_STORE_SIGNATURE))
                tail = stream.read()
    except OSError:
        return ManifestReport(state="absent", reason=reason)
    if _STORE_SIGNATURE in head or _STORE_SIGNATURE in tail:
        return ManifestReport(
            state="unreadable",
            reason="the file holds a C2PA manifest store where c2pa does not find it "
            "(a damaged or misplaced container)",
        )
    return ManifestReport(state="absent", reason=reason)


def _is_asset_error(error: c2pa.C2paError) -> bool:
    """Whether c2pa failed on the file around the manifest, not on a manifest it found.

    "asset could not be parsed" (a box running past the end of a truncated MP4, a TIFF
    offset outside the file) leaves open whether there is a manifest at all: calling it an
    invalid one would claim more than was seen. Errors about a store c2pa did find
    (CBOR, COSE, JUMBF boxes, hashes) mean a manifest that is there and broken.
    """
    kinds = tuple(
        kind
        for kind in (getattr(c2pa.C2paError, name, None) for name in ("Io", "NotSupported"))
        if isinstance(kind, type)
    )
    if kinds and isinstance(error, kinds):
        return True
    other = getattr(c2pa.C2paError, "Other", None)
    return (
        isinstance(other, type)
        and isinstance(error, other)
        and "asset could not be parsed" in str(error)
    )


def read_manifest(
    path: str | os.PathLike[str], *, trust_anchors_pem: bytes | str | None = None
) -> ManifestReport:
    """Read and validate the C2PA manifest of ``path``.

    ``trust_anchors_pem``: root certificates (PEM) the caller trusts; without them a
    correctly signed file is reported ``"untrusted"`` (reason :data:`NO_TRUST_ANCHORS`),
    never ``"valid"``, whatever trust list c2pa itself may carry.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{display_path(source)}: no such file")
    mime = MIME_TYPES.get(source.suffix.lower())
    try:
        context = c2pa.Context.from_dict(_reader_settings(trust_anchors_pem))
    except c2pa.C2paError as error:
        raise UsageError(f"trust anchors: {c2pa_message(error)}") from None
    if mime is None:
        context.close()
        kind = f"{source.suffix.lower()} files" if source.suffix else "files without a suffix"
        return _absent(source, f"C2PA defines no embedding for {kind}")
    try:
        with context, open_regular(source) as stream:
            reader = c2pa.Reader.try_create(mime, stream, None, context)
            if reader is None:
                return _absent(source, "no C2PA manifest")
            with reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
    except c2pa.C2paError as error:
        state = "unreadable" if _is_asset_error(error) else "invalid"
        return ManifestReport(state=state, reason=c2pa_message(error))
    active = results.get("activeManifest", {}) if isinstance(results, Mapping) else {}
    failures = [item.get("code", "") for item in active.get("failure", [])]
    successes = {item.get("code", "") for item in active.get("success", [])}
    hard = [code for code in failures if code not in _UNTRUSTED_CODES]
    summary = _summarize(store)
    timestamped = any(code.startswith("timeStamp.") for code in (*failures, *successes)) or bool(
        summary.get("timestamp_time")
    )
    if hard or (state == "Invalid" and not failures):
        verdict, reason = "invalid", ", ".join(hard) or f"validation state {state}"
    elif state == "Trusted" and not failures and trust_anchors_pem:
        verdict, reason = "valid", ""
    elif not trust_anchors_pem:
        # Whatever trust list c2pa may carry, only anchors the caller names make a signer
        # trusted: without them an intact manifest is at most "untrusted".
        verdict = "untrusted"
        reason = ", ".join((*failures, NO_TRUST_ANCHORS))
    else:
        verdict = "untrusted"
        reason = ", ".join(failures) or "signer does not chain to a given trust anchor"
    return ManifestReport(
        state=verdict,
        reason=reason,
        failure_codes=tuple(failures),
        timestamped=timestamped,
        **summary,
    )
