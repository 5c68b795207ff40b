"""One call that tells whether a file carries any AI mark, and what the marks say.

It gathers every kind of mark the toolkit writes: the GB 45438 metadata label, the IPTC digital
source type, the C2PA manifest and the invisible watermark; checks that they agree; and gives a
verdict. A label whose payload disagrees with the watermark suggests metadata copied from
another file or tampered with; a watermark without metadata means the metadata was stripped.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from marking.errors import (
    InputError,
    InputTooSmallError,
    MarkingError,
    UnsupportedInputError,
    UsageError,
)
from marking.source_types import AI_SOURCE_TYPES


def payload_for_label(producer: str, produce_id: str) -> str:
    """The 64-bit watermark payload that belongs to a metadata label (16 hex digits).

    The full pipeline embeds this payload, so a verifier can check that a file's metadata
    label and its watermark were made together, without any database.
    """
    digest = hashlib.blake2b(f"{producer}\x00{produce_id}".encode(), digest_size=8)
    return digest.hexdigest()


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
    truncated: str | None = field(default=None, repr=False)
    """Why the file looks truncated (videos), if it does: the verdict then says so."""

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
            "notes": self.notes,
        }


def verify_file(
    path: str | os.PathLike[str],
    *,
    key: Any = None,
    trust_anchors: str | os.PathLike[str] | None = None,
) -> Verification:
    """Read every mark in ``path``; raise InputError when the file cannot be read at all."""
    from marking.content_sniffing import VIDEO, media_kind

    kind = media_kind(path)
    result = Verification(file=os.fspath(path), kind=kind)
    _read_metadata(result, path, kind)
    _read_c2pa(result, path, trust_anchors)
    try:
        result.watermark = _read_watermark(path, kind, key)
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
    if kind == VIDEO and (result.watermark or {}).get("checked"):
        _note_truncation(result, path)
    _note_split_payloads(result)
    _conclude(result)
    return result


def _without_file(error: Exception, path: Any) -> str:
    """An error's one-line message without the file name it starts with."""
    from marking.atomic import display_path

    message = " ".join(str(error).split())
    for shown in dict.fromkeys((os.fspath(path), display_path(path))):
        if message.startswith(f"{shown}: "):
            return message[len(shown) + 2 :]
    return message


def _note_truncation(result: Verification, path: Any) -> None:
    """A video cut short (its index intact, as in a faststart MP4 cut inside its media data)
    is checked on the frames it holds; say so, since a watermark found nowhere in part of a
    file is weaker news than in all of it."""
    from marking.video_io import truncation

    try:
        problem = truncation(path)
    except MarkingError:
        return  # it decoded a moment ago; the watermark report stands
    if problem is not None:
        result.truncated = problem
        result.notes.append(f"truncated: {problem}; the marks were looked for in what is there")


def _read_watermark(path: Any, kind: str, key: Any) -> dict[str, Any]:
    """The watermark detector's report, with ``checked`` saying whether it could look."""
    from marking.content_sniffing import AUDIO, IMAGE, VIDEO

    if kind == IMAGE:
        from marking.image_io import detect_file

        notes: list[str] = []
        found = detect_file(path, key=key, notes=notes)
        return {"checked": True, **found.to_dict(), **({"notes": notes} if notes else {})}
    if kind == AUDIO:
        from marking.audio_watermark_io import detect_audio_file

        try:
            found = detect_audio_file(path, key=key)
        except (UnsupportedInputError, InputTooSmallError) as error:
            # M4A (libsndfile cannot decode it), rates outside 8-192 kHz, under a second:
            # the metadata still counts.
            return {"checked": False, "reason": str(error)}
        return {
            "checked": True,
            **{name: value for name, value in found.items() if name not in ("input", "kind")},
        }
    if kind == VIDEO:
        from marking.video_watermark_io import detect_video_file

        try:
            found = detect_video_file(path, key=key)
        except InputTooSmallError as error:  # frames under 96 px: the metadata still counts
            return {"checked": False, "reason": str(error)}
        return {
            "checked": True,
            **{name: value for name, value in found.items() if name not in ("input", "kind")},
        }
    return {"checked": False, "reason": f"no {kind} watermark detector yet"}


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
    from marking.content_sniffing import IMAGE

    try:
        if kind == IMAGE:
            from marking.image_tags import read_image_tags

            tags = read_image_tags(path)
            label, result.source_type = tags.label, tags.source_type
        else:
            from marking.av_tags import read_media_label

            label = read_media_label(path)
    except InputError:
        raise
    except MarkingError as error:
        result.notes.append(f"metadata unreadable: {error}")
        return
    if label is not None:
        result.aigc = label.to_dict()


def _read_c2pa(result: Verification, path: Any, trust_anchors: Any) -> None:
    from marking.c2pa_manifest import read_manifest

    anchors = None
    if trust_anchors is not None:
        try:
            with open(trust_anchors, "rb") as stream:  # noqa: PTH123 - str or PathLike
                anchors = stream.read()
        except OSError as error:
            raise UsageError(
                f"trust anchors {os.fspath(trust_anchors)}: {error.strerror}"
            ) from None
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


def _conclude(result: Verification) -> None:
    """Agreement between marks, and the verdict."""
    label_says_ai, iptc_says_ai, c2pa_says_ai = _metadata_marks(result)
    c2pa = result.c2pa or {}
    mark = result.watermark or {}
    watermark_found = bool(mark.get("detected"))

    expected = set()
    if result.aigc and result.aigc.get("ContentProducer") and result.aigc.get("ProduceID"):
        expected.add(payload_for_label(result.aigc["ContentProducer"], result.aigc["ProduceID"]))
    if c2pa.get("soft_binding_payload") and c2pa.get("state") in ("valid", "untrusted"):
        expected.add(c2pa["soft_binding_payload"])  # a broken manifest's claims count for nothing
    if watermark_found and expected:
        result.agreement = "agree" if mark.get("payload") in expected else "mismatch"
        if result.agreement == "mismatch":
            result.notes.append(
                "the watermark's payload does not match the metadata: the label may have been "
                "copied from another file or tampered with"
            )
    elif watermark_found:
        result.agreement = "metadata missing"
        result.notes.append("watermark found but no metadata label: the metadata was stripped")
    elif expected and mark.get("checked"):
        result.agreement = "watermark missing"
        result.notes.append("metadata label present but no watermark found")

    if c2pa.get("state") in ("invalid", "unreadable"):
        result.notes.append(f"C2PA manifest {c2pa['state']}: {c2pa.get('reason')}")
    found = [
        name
        for name, present in (
            ("metadata label", label_says_ai),
            ("IPTC source type", iptc_says_ai),
            ("C2PA manifest", c2pa_says_ai),
            ("watermark", watermark_found),
        )
        if present
    ]
    if found:
        result.verdict = "AI-generated (" + ", ".join(found) + ")"
        if result.aigc and result.aigc.get("Label") in ("2", "3"):
            level = "possibly" if result.aigc["Label"] == "2" else "suspected"
            result.verdict = f"AI-generated, {level} (" + ", ".join(found) + ")"
    elif result.truncated:
        result.verdict = f"no AI mark found in what the file holds (truncated: {result.truncated})"
