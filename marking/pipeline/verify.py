"""One call that tells whether a file carries any AI mark, and what the marks say.

It gathers every kind of mark the toolkit writes: the GB 45438 metadata label, the IPTC digital
source type, the C2PA manifest and the invisible watermark; checks that they agree; and gives a
verdict. A label names a payload (bound in its ReservedCode1 by ``tag``, else implied by its
producer and ProduceID); one that disagrees with the watermark suggests metadata copied from
another file or tampered with; a watermark without metadata means the metadata was stripped.

Anyone can write a label, and anyone can sign a manifest with a certificate of their own making,
so only a valid manifest whose signer chains to a trust anchor the caller gives corroborates
anything: its payload matching the watermark's is ``agree``; a payload named only by the label
or by a manifest from an untrusted signer is ``consistent``, and the verdict says which marks a
trusted signer backs and which it does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marking.errors import (
    InputError,
    InputTooSmallError,
    MarkingError,
    UnsupportedInputError,
    UsageError,
)
from marking.media.atomic import display_path, read_small_file
from marking.scheme.limits import FALSE_ALARM_LIMIT
from marking.scheme.payload import payload_for_label  # noqa: F401 (importers use this path)
from marking.scheme.results import Unchecked, as_json_record
from marking.tags.aigc_label import label_payload
from marking.tags.source_types import AI_SOURCE_TYPES

#: ``agreement``: a valid manifest from a trusted signer names the watermark's payload.
AGREE = "agree"
#: ``agreement``: the watermark's payload is named only by unsigned metadata (the label, or a
#: manifest whose signer is not trusted), which anyone can write: consistent, not corroborated.
CONSISTENT = "consistent"
#: ``agreement``: the label or the manifest names another payload than the watermark carries.
MISMATCH = "mismatch"
#: Names of the marks, as the verdict lists them.
LABEL_MARK, IPTC_MARK, C2PA_MARK, WATERMARK_MARK = (
    "metadata label",
    "IPTC source type",
    "C2PA manifest",
    "watermark",
)


@dataclass
class Verification:
    """Everything found in one file, and the verdict."""

    file: str
    kind: str
    aigc: dict[str, str] | None = None
    source_type: str | None = None
    c2pa: dict[str, Any] | None = None
    watermark: dict[str, Any] | None = None
    agreement: str = "n/a"
    verdict: str = "no AI mark found"
    notes: list[str] = field(default_factory=list)
    trusted_signer: str | None = None
    """The signer of a valid manifest that chains to a trust anchor, if there is one."""
    backed: list[str] = field(default_factory=list)
    """The marks found that such a trusted signer vouches for (names as in the verdict)."""
    truncated: str | None = field(default=None, repr=False)
    """Why the file looks truncated (videos), if it does: the verdict then says so."""
    anchors_given: bool = field(default=False, repr=False)
    """Whether the caller gave trust anchors (without them no signer can be trusted)."""
    labelable: bool = field(default=True, repr=False)
    """Whether the format has a place for a metadata label (not AIFF, CAF, Wave64, RF64)."""

    @property
    def ai_marked(self) -> bool:
        return self.verdict.startswith("AI")

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "verdict": self.verdict,
            "ai_marked": self.ai_marked,
            "aigc": self.aigc,
            "iptc_digital_source_type": self.source_type,
            "c2pa": self.c2pa,
            "watermark": self.watermark,
            "agreement": self.agreement,
            "trusted_signer": self.trusted_signer,
            "backed": self.backed,
            "notes": self.notes,
        }


def verify_file(
    path: str | os.PathLike[str],
    *,
    key: Any = None,
    keys: Sequence[tuple[str, Any]] | None = None,
    trust_anchors: str | os.PathLike[str] | None = None,
) -> Verification:
    """Read every mark in ``path``; raise InputError when the file cannot be read at all.

    The watermark is looked for with ``key``, or with each of ``keys`` (``(label, key)``
    pairs, label "public" or "provider") in turn until one finds it: see
    :func:`read_watermark_keys` for how the false-alarm figure then counts the keys tried.
    """
    from marking.media.sniffing import VIDEO, media_kind

    if keys is not None and (key is not None or not keys):
        raise UsageError("give one key or a non-empty list of keys, not both")
    kind = media_kind(path)
    result = Verification(file=os.fspath(path), kind=kind, anchors_given=trust_anchors is not None)
    _read_metadata(result, path, kind)
    _read_c2pa(result, path, trust_anchors)
    try:
        if keys is None:
            result.watermark = read_watermark(path, kind, key)
        else:
            result.watermark = read_watermark_keys(path, kind, keys)
        result.notes += result.watermark.pop("notes", [])
    except InputError as error:
        # Pixels or samples that cannot be decoded (a damaged chunk the picture decoder
        # refuses, a truncated stream) hide the watermark, not the marks already read: a file
        # whose label says AI is reported as such. With no other mark, the answer would be
        # "no AI mark found" without having looked, so the error stands.
        if not _other_marks(result):
            raise
        reason = _without_file(error, path)
        result.watermark = {"checked": False, "reason": reason}
        result.notes.append(f"the watermark could not be looked for: {reason}")
    else:
        if not result.watermark.get("checked"):  # M4A sound, a recording under a second
            reason = _without_file(result.watermark.get("reason") or "", path)
            result.notes.append(f"the watermark could not be looked for: {reason}")
    result.notes.extend((result.watermark or {}).pop("notes", None) or [])
    if kind == VIDEO and (result.watermark or {}).get("checked"):
        _note_truncation(result, path)
    _note_split_payloads(result)
    _conclude(result)
    return result


def _without_file(error: Exception, path: Any) -> str:
    """An error's one-line message without the file name it starts with."""
    message = " ".join(str(error).split())
    for shown in dict.fromkeys((os.fspath(path), display_path(path))):
        if message.startswith(f"{shown}: "):
            return message[len(shown) + 2 :]
    return message


def _note_truncation(result: Verification, path: Any) -> None:
    """A video cut short (its index intact, as in a faststart MP4 cut inside its media data)
    is checked on the frames it holds; say so, since a watermark found nowhere in part of a
    file is weaker news than in all of it."""
    from marking.media.video import truncation

    try:
        problem = truncation(path)
    except MarkingError:
        return  # it decoded a moment ago; the watermark report stands
    if problem is not None:
        result.truncated = problem
        result.notes.append(f"truncated: {problem}; the marks were looked for in what is there")


def read_watermark(path: Any, kind: str, key: Any) -> dict[str, Any]:
    """The watermark detector's report, with ``checked`` saying whether it could look.

    Damage read past goes into ``notes`` (left out when there is none).
    """
    return next(_watermark_records(path, kind, [key]))


def _watermark_records(path: Any, kind: str, keys: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """:func:`read_watermark`'s report with each of ``keys`` in turn, lazily (a video's
    frames decoded once for all); a file the detector cannot look at gives one unchecked
    report."""
    from marking.media.sniffing import AUDIO, VIDEO

    # Refusals that leave the metadata to speak: M4A (libsndfile cannot decode it), rates
    # outside 8-192 kHz and recordings under a second; frames under 96 px.
    tolerated = {AUDIO: (UnsupportedInputError, InputTooSmallError), VIDEO: (InputTooSmallError,)}
    try:
        for found, notes in _detections(path, kind, keys):
            yield _watermark_record(found, notes)
    except tolerated.get(kind, ()) as error:
        yield _watermark_record(Unchecked(str(error)), [])


def _watermark_record(found: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """A detector's result as a plain record: ``checked`` first, ``notes`` last if any."""
    notes = notes or list(found.get("notes") or [])
    checked = {} if isinstance(found, Unchecked) else {"checked": True}
    record = as_json_record(found, ("input", "kind", "notes"), **checked)
    return {**record, **({"notes": notes} if notes else {})}


def read_watermark_keys(path: Any, kind: str, keys: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """:func:`read_watermark` with each of ``keys`` (``(label, key)`` pairs) in turn, stopping
    at the first that finds the mark.

    Trying k keys gives an unmarked file k chances of a false alarm, so every figure is
    multiplied by k (the union bound, capped at 1) and a detection counts only if that figure
    is still at most :data:`~marking.scheme.limits.FALSE_ALARM_LIMIT`; a video's frames and
    sound follow the same rule. The record says which key found the mark (``key``: its label,
    never the secret; None when none did) and ``keys_tried`` (k). Without a detection it is
    the attempt with the lowest figure.
    """
    tried = len(keys)
    best: dict[str, Any] | None = None
    records = _watermark_records(path, kind, [key for _, key in keys])
    for (label, _), record in zip(keys, records, strict=False):
        if not record.get("checked"):
            return record  # the file cannot be looked at (too short, M4A): no key can
        corrected = with_keys_tried(record, tried)
        if corrected.get("detected"):
            return {**corrected, "key": label, "keys_tried": tried}
        if best is None or _figure(corrected) < _figure(best):
            best = corrected
    assert best is not None  # keys is not empty
    return {**best, "key": None, "keys_tried": tried}


def with_keys_tried(record: Mapping[str, Any], tried: int) -> dict[str, Any]:
    """A detection record's false-alarm figures multiplied by the number of keys ``tried``
    (capped at 1), each detection whose figure then exceeds the limit withdrawn (with a note);
    a video's verdict made again from its frames' and its sound's, corrected so."""
    video = record.get("video")
    if "found_in" not in record or not isinstance(video, Mapping):
        return _corrected_detection(record, tried)
    corrected = dict(record)
    notes = list(record.get("notes") or [])
    for name in ("video", "audio"):
        part = record.get(name)
        if isinstance(part, Mapping) and "false_alarm" in part:
            corrected[name] = _corrected_detection(part, tried)
            notes += corrected[name].pop("notes", [])
    video, sound = corrected["video"], corrected.get("audio") or {}
    found_in = [name for name, part in (("video", video), ("audio", sound)) if part.get("detected")]
    reported = video if video.get("detected") or not found_in else sound
    corrected.update(
        detected=bool(found_in),
        payload=reported.get("payload"),
        false_alarm=reported.get("false_alarm"),
        found_in=found_in,
    )
    corrected.pop("notes", None)
    return corrected | ({"notes": notes} if notes else {})


def _figure(record: Mapping[str, Any]) -> float:
    """A detection record's false-alarm figure (1 when it has none)."""
    figure = record.get("false_alarm")
    return 1.0 if figure is None else float(figure)


def _corrected_detection(record: Mapping[str, Any], tried: int) -> dict[str, Any]:
    """One detection's figure times ``tried``; a detection no longer under the limit dropped."""
    corrected = dict(record)
    if corrected.get("false_alarm") is None:
        return corrected
    corrected["false_alarm"] = min(1.0, tried * corrected["false_alarm"])
    if corrected.get("detected") and corrected["false_alarm"] > FALSE_ALARM_LIMIT:
        corrected.update(detected=False, payload=None)
        notes = list(corrected.get("notes") or [])
        notes.append(
            f"a watermark was decoded but not reported: with {tried} keys tried its chance of "
            f"a false alarm, {corrected['false_alarm']:.1e}, is above {FALSE_ALARM_LIMIT:.0e}"
        )
        corrected["notes"] = notes
    return corrected


def found_watermark(path: Any, kind: str, key: Any, *, embedded_here: bool = False) -> Any:
    """The watermark in ``path`` as a :class:`~marking.tags.tagging.FoundWatermark` (payload
    and the schemes carrying it: a video's frames, its sound, or both), ``None`` if none is
    detected. Raises what :func:`read_watermark` raises."""
    from marking.tags.c2pa import SOFT_BINDING_ALGS
    from marking.tags.tagging import FoundWatermark

    record = read_watermark(path, kind, key)
    payload = record.get("payload")
    if not (record.get("detected") and payload):
        return None
    parts = [name for name in ("video", "audio") if isinstance(record.get(name), Mapping)]
    schemes = [
        name
        for name in parts
        if record[name].get("detected") and record[name].get("payload") == payload
    ] or [kind]
    algorithms = tuple(SOFT_BINDING_ALGS[name] for name in schemes)
    return FoundWatermark(payload, algorithms, embedded_here=embedded_here)


def _detections(
    path: Any, kind: str, keys: Sequence[Any]
) -> Iterator[tuple[Mapping[str, Any], list[str]]]:
    """The detector's result for a file of this kind with each key, lazily, and the damage
    a picture reader read past (``notes``). A video's frames are averaged once for all."""
    from marking.media.sniffing import AUDIO, IMAGE, VIDEO

    if kind == VIDEO:
        from marking.files.video import detect_video_file_keys

        yield from ((found, []) for found in detect_video_file_keys(path, keys))
        return
    for key in keys:
        notes: list[str] = []
        if kind == IMAGE:
            from marking.files.image import detect_file

            yield detect_file(path, key=key, notes=notes), notes
        elif kind == AUDIO:
            from marking.files.audio import detect_audio_file

            yield detect_audio_file(path, key=key), notes
        else:
            yield Unchecked(f"no {kind} watermark detector yet"), notes


def _note_split_payloads(result: Verification) -> None:
    """A video whose frames and sound carry different payloads: one of them was replaced."""
    mark = result.watermark or {}
    video, sound = mark.get("video") or {}, mark.get("audio") or {}
    if video.get("detected") and sound.get("detected") and video["payload"] != sound["payload"]:
        result.notes.append(
            f"the frames carry payload {video['payload']} but the sound {sound['payload']}: "
            "one of the tracks was taken from another file"
        )


def _read_metadata(result: Verification, path: Any, kind: str) -> None:
    from marking.media.sniffing import NoLabelPlaceError
    from marking.tags.tagging import read_label

    try:
        found = read_label(path, notes=result.notes, kind=kind)
        label, result.source_type = found.label, found.source_type
    except NoLabelPlaceError as error:
        # Nothing to read, and nothing missing: only the watermark can mark such a file.
        result.labelable = False
        result.notes.append(f"{_without_file(error, path)}: only the watermark is checked")
        return
    except InputError:
        raise
    except MarkingError as error:
        result.notes.append(f"metadata unreadable: {error}")
        return
    if label is not None:
        result.aigc = label.to_dict()


#: Largest trust-anchor file read: a few hundred root certificates take well under 1 MiB.
MAX_TRUST_ANCHORS_BYTES = 4 << 20


def read_trust_anchors(trust_anchors: str | os.PathLike[str]) -> bytes:
    """The PEM root certificates in ``trust_anchors``; a usage error unless it is a regular
    file of at most :data:`MAX_TRUST_ANCHORS_BYTES` holding at least one certificate (a file
    without one would silently trust no signer while the output spoke of given anchors)."""
    from cryptography import x509

    shown = display_path(trust_anchors)
    try:
        anchors = read_small_file(trust_anchors, MAX_TRUST_ANCHORS_BYTES)
    except OSError as error:
        raise UsageError(f"trust anchors {shown}: {error.strerror}") from None
    try:
        x509.load_pem_x509_certificates(anchors)
    except ValueError:
        raise UsageError(f"trust anchors {shown}: no PEM certificate in it") from None
    return anchors


def _read_c2pa(result: Verification, path: Any, trust_anchors: Any) -> None:
    from marking.tags.c2pa_read import read_manifest

    anchors = None if trust_anchors is None else read_trust_anchors(trust_anchors)
    try:
        report = read_manifest(path, trust_anchors_pem=anchors)
    except UsageError:
        raise
    except MarkingError as error:
        result.c2pa = {"state": "unreadable", "reason": str(error)}
        return
    result.c2pa = {
        "state": report.state,
        "reason": report.reason or None,
        "digital_source_type": report.digital_source_type,
        "first_action": report.first_action,
        "aigc": report.aigc,
        "soft_binding_payload": report.soft_binding_payload,
        "signer_organization": report.signer_organization,
        "signer_common_name": report.signer_common_name,
        "timestamped": report.timestamped,
        "timestamp_time": report.timestamp_time,
    }


def _metadata_marks(result: Verification) -> tuple[bool, bool, bool]:
    """Whether the label, the IPTC source type and the C2PA manifest each say AI."""
    label_says_ai = bool(result.aigc) and result.aigc.get("Label") in ("1", "2", "3")
    iptc_says_ai = result.source_type in AI_SOURCE_TYPES
    c2pa = result.c2pa or {}
    c2pa_says_ai = (
        c2pa.get("state") in ("valid", "untrusted")
        and c2pa.get("digital_source_type") in AI_SOURCE_TYPES
    )
    return label_says_ai, iptc_says_ai, c2pa_says_ai


def _other_marks(result: Verification) -> bool:
    """Whether any mark besides the watermark says AI."""
    return any(_metadata_marks(result))


def signer_name(c2pa: dict[str, Any]) -> str:
    """A manifest's signer for a one-line message: its certificate's Organization (else its
    common name) quoted, control characters escaped; ``(unnamed)`` when it has neither."""
    name = c2pa.get("signer_organization") or c2pa.get("signer_common_name")
    return f'"{display_path(str(name))}"' if name else "(unnamed)"


def _label_payload(label: dict[str, str] | None) -> str | None:
    """The payload a GB 45438 label names: bound in ReservedCode1 by ``tag``, else implied by
    its producer and ProduceID (:func:`~marking.tags.aigc_label.label_payload`)."""
    return label_payload(label)


def _note_untrusted_signer(result: Verification) -> None:
    """Say whose claims an intact but untrusted manifest makes, and why they are not backed."""
    c2pa = result.c2pa or {}
    signer = signer_name(c2pa)
    if not result.anchors_given:
        result.notes.append(
            f"no trust anchors given: the C2PA signer {signer} is unverified, so nothing "
            "the manifest states is backed"
        )
    elif "signingCredential.untrusted" in (c2pa.get("reason") or ""):
        result.notes.append(
            f"the C2PA signer {signer} does not chain to the given trust anchors: it is not "
            "trusted, so nothing the manifest states is backed"
        )
    else:  # the signer chains, something else (its time stamp's authority) does not
        result.notes.append(
            f"the C2PA manifest of {signer} is not trusted ({c2pa.get('reason')}), so nothing "
            "it states is backed"
        )


def _compare_payloads(result: Verification) -> None:
    """``agreement`` between the watermark's payload and the payloads the metadata names.

    A manifest's soft binding (or, without one, the payload its own GB 45438 assertion
    implies) is the manifest's claim; only a valid manifest from a trusted signer makes a
    match ``agree``. Without a manifest claim the label's payload is compared: a match is
    ``consistent`` (unsigned), a difference a ``mismatch``.
    """
    c2pa = result.c2pa or {}
    mark = result.watermark or {}
    trusted = c2pa.get("state") == "valid"
    manifest_claim = None
    if c2pa.get("state") in ("valid", "untrusted"):  # a broken manifest's claims count for nothing
        manifest_claim = c2pa.get("soft_binding_payload") or _label_payload(c2pa.get("aigc"))
    label_claim = _label_payload(result.aigc)
    payload = mark.get("payload")
    if not mark.get("detected"):
        if (manifest_claim or label_claim) and mark.get("checked"):
            result.agreement = "watermark missing"
            result.notes.append("metadata label present but no watermark found")
        return
    if manifest_claim is not None:
        signer = f"{'trusted' if trusted else 'untrusted'} signer {signer_name(c2pa)}"
        if manifest_claim != payload:
            result.agreement = MISMATCH
            result.notes.append(
                f"the watermark carries payload {payload} but the C2PA manifest of the {signer} "
                f"names {manifest_claim}: the manifest was made for another watermark"
            )
        elif trusted:
            result.agreement = AGREE
        else:
            result.agreement = CONSISTENT
            if label_claim is not None and label_claim != payload:
                producer = display_path(result.aigc["ContentProducer"])  # type: ignore[index]
                result.notes.append(
                    f'the label (ContentProducer "{producer}") does not imply the watermark\'s '
                    f"payload; only the manifest of the {signer} names it"
                )
    elif label_claim is not None:
        result.agreement = CONSISTENT if label_claim == payload else MISMATCH
        if result.agreement == MISMATCH:
            result.notes.append(
                "the watermark's payload does not match the metadata: the label may have been "
                "copied from another file or tampered with"
            )
    elif result.labelable:
        result.agreement = "metadata missing"
        result.notes.append("watermark found but no metadata label: the metadata was stripped")


def _backed_marks(result: Verification, found: list[str]) -> list[str]:
    """Which of the ``found`` marks a valid manifest from a trusted signer vouches for: itself,
    a label and an IPTC source type equal to what it signed, a watermark whose payload it
    names."""
    c2pa = result.c2pa or {}
    if c2pa.get("state") != "valid":
        return []
    vouched = {
        C2PA_MARK: True,
        LABEL_MARK: result.aigc is not None and result.aigc == c2pa.get("aigc"),
        IPTC_MARK: result.source_type == c2pa.get("digital_source_type"),
        WATERMARK_MARK: result.agreement == AGREE,
    }
    return [name for name in found if vouched[name]]


def _conclude(result: Verification) -> None:
    """Agreement between marks, what a trusted signer backs, and the verdict."""
    label_says_ai, iptc_says_ai, c2pa_says_ai = _metadata_marks(result)
    c2pa = result.c2pa or {}
    watermark_found = bool((result.watermark or {}).get("detected"))
    if c2pa.get("state") == "untrusted":
        _note_untrusted_signer(result)
    _compare_payloads(result)
    if c2pa.get("state") in ("invalid", "unreadable"):
        result.notes.append(f"C2PA manifest {c2pa['state']}: {c2pa.get('reason')}")
    found = [
        name
        for name, present in (
            (LABEL_MARK, label_says_ai),
            (IPTC_MARK, iptc_says_ai),
            (C2PA_MARK, c2pa_says_ai),
            (WATERMARK_MARK, watermark_found),
        )
        if present
    ]
    result.backed = _backed_marks(result, found)
    if c2pa.get("state") == "valid":
        name = c2pa.get("signer_organization") or c2pa.get("signer_common_name")
        result.trusted_signer = str(name) if name else ""
    if found:
        shown = [
            f"untrusted {name}" if name == C2PA_MARK and c2pa.get("state") == "untrusted" else name
            for name in found
        ]
        result.verdict = "AI-generated (" + ", ".join(shown) + ")"
        if result.aigc and result.aigc.get("Label") in ("2", "3"):
            level = "possibly" if result.aigc["Label"] == "2" else "suspected"
            result.verdict = f"AI-generated, {level} (" + ", ".join(shown) + ")"
        result.verdict += _backing(result, found)
    elif result.truncated:
        result.verdict = f"no AI mark found in what the file holds (truncated: {result.truncated})"


def _backing(result: Verification, found: list[str]) -> str:
    """The verdict's tail: which marks a trusted signer backs, and which it does not.

    Nothing is said of a watermark found alone: it makes no claim for a signer to back.
    """
    if found == [WATERMARK_MARK]:
        return ""
    if not result.backed:
        return "; not backed by a trusted signer"
    signer = signer_name(result.c2pa or {})
    if result.backed == found:
        return f"; all backed by trusted signer {signer}"
    others = [name for name in found if name not in result.backed]
    return (
        f"; backed by trusted signer {signer}: {', '.join(result.backed)}; "
        f"not backed: {', '.join(others)}"
    )
