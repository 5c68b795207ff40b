"""The implicit label, end to end: metadata written without touching the media, then signed.

Order matters: the GB 45438 label and the IPTC source type go in first, and the C2PA manifest
is signed over the result, so the manifest's hash covers the label. Pixels and samples are
never decoded or re-encoded here; a watermark already in the file, found by the caller
(:func:`marking.pipeline.mark.tag_marked_file`), binds label and manifest to its payload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marking.errors import UsageError
from marking.media.atomic import check_output_path
from marking.media.temporaries import tagged_name
from marking.tags.aigc_label import AigcLabel
from marking.tags.source_types import TRAINED_ALGORITHMIC_MEDIA

#: Largest certificate chain or key file read (a PEM chain is a few KB).
PEM_FILE_LIMIT = 1 << 20


@dataclass(frozen=True)
class Signing:
    """A C2PA signing identity: certificate chain (leaf first) and PKCS#8 key, as PEM files."""

    cert_chain: str | os.PathLike[str]
    key: str | os.PathLike[str]
    system_name: str = "aigc-marking"
    system_version: str = ""
    tsa_url: str | None = None
    watermark_payload: str | None = None
    #: A 256-pixel JPEG claim thumbnail in pictures' manifests (about 12 KB more); off, a
    #: manifest adds about 4 KB.
    thumbnail: bool = False

    def read(self) -> tuple[bytes, bytes]:
        from marking.media.atomic import display_path, read_small_file

        try:
            return (
                read_small_file(self.cert_chain, PEM_FILE_LIMIT),
                read_small_file(self.key, PEM_FILE_LIMIT),
            )
        except OSError as error:
            where = display_path(error.filename or "")
            raise UsageError(f"C2PA credentials: {where}: {error.strerror}") from None


@dataclass(frozen=True)
class FoundWatermark:
    """A watermark detected in the file about to be tagged: what the label and the manifest
    bind to. Found by the caller (the detectors sit above this layer)."""

    payload: str
    """Its payload, 16 lowercase hex digits."""
    algorithms: tuple[str, ...]
    """The schemes that carry it (:data:`marking.tags.c2pa.SOFT_BINDING_ALGS` values)."""
    embedded_here: bool = False
    """Whether the caller's run embedded it (a ``c2pa.watermarked`` action says so)."""


def tag_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    label: AigcLabel,
    *,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    signing: Signing | None = None,
    watermark: FoundWatermark | None = None,
) -> dict[str, Any]:
    """Write a copy of ``src`` carrying ``label`` (and, with ``signing``, a C2PA manifest).

    Images get XMP (``TC260:AIGC`` and ``Iptc4xmpExt:DigitalSourceType``); audio and video
    files get the label in their container's own tag. ``src`` is never modified.

    ``watermark``, the one detected in ``src``, binds both: the label names its payload
    (:meth:`AigcLabel.bound_to`) and the manifest carries a soft binding per scheme (and
    ``c2pa.watermarked`` if ``embedded_here``). Without it the manifest has neither, unless
    the caller's ``signing.watermark_payload`` names one (the picture scheme's, by default).
    """
    from marking.media.sniffing import IMAGE, media_kind

    if watermark is not None:
        label = label.bound_to(watermark.payload)
    label.validate()
    check_output_path(dst, forbid=[src])
    kind = media_kind(src)
    if signing is None:
        return {"kind": kind, **_tag(kind == IMAGE, src, dst, label, source_type)}
    from marking.errors import MarkingError
    from marking.media.atomic import name_in_error
    from marking.tags.c2pa import ManifestInfo, check_signable, sign_file

    try:
        check_signable(dst)  # before any work: MKV, WebM and Ogg have no C2PA embedding
    except MarkingError as error:
        name_in_error(error, [dst], src, count=1)
        raise
    chain, key = signing.read()
    directory = Path(dst).resolve().parent
    # Tag into a temporary file beside the output, then sign it into place.
    temporary = tagged_name(directory, Path(dst).suffix)
    try:
        record = _tag(kind == IMAGE, src, temporary, label, source_type)
        info = ManifestInfo(
            producer=label.content_producer,
            system_name=signing.system_name,
            system_version=signing.system_version or _version(),
            produce_id=label.produce_id,
            aigc_label=label.to_dict(),
            digital_source_type=source_type,
            **_binding(signing, watermark),
        )
        sign_file(
            temporary,
            dst,
            info,
            chain,
            key,
            tsa_url=signing.tsa_url,
            existing="replace",
            thumbnail=signing.thumbnail,
        )
    except MarkingError as error:
        # The signer names the file it read, the hidden intermediate gone by now: name the
        # input the user gave instead.
        name_in_error(error, [temporary], src)
        raise
    finally:
        Path(temporary).unlink(missing_ok=True)
    return {"kind": kind, **record, "output": os.fspath(dst), "c2pa": "signed"}


def _binding(signing: Signing, watermark: FoundWatermark | None) -> dict[str, Any]:
    """The manifest's soft-binding fields: the watermark found, else the caller's payload."""
    if watermark is None:
        return {"watermark_payload": signing.watermark_payload}
    return {
        "watermark_payload": watermark.payload,
        "soft_binding_algs": watermark.algorithms,
        "watermarked": watermark.embedded_here,
    }


def _tag(is_image: bool, src: Any, dst: Any, label: AigcLabel, source_type: str) -> dict[str, Any]:
    if is_image:
        from marking.tags.image_tags import tag_image

        return tag_image(src, dst, label, source_type=source_type)
    from marking.tags.containers import tag_media

    return tag_media(src, dst, label)


@dataclass(frozen=True)
class FileLabel:
    """What a file's metadata says: the GB 45438 label and, for a picture, the IPTC digital
    source type in its XMP (``None`` where absent)."""

    label: AigcLabel | None
    source_type: str | None = None


def read_label(
    path: str | os.PathLike[str], *, notes: list[str] | None = None, kind: str | None = None
) -> FileLabel:
    """The metadata label of any file: a picture's from its XMP, a recording's or a video's
    from its container's own tag. The one place that rule is written.

    ``kind`` (``"image"``, ``"audio"``, ``"video"``), when the caller has it, spares sniffing
    the file again. ``notes``: see :func:`marking.tags.containers.read_media_label` (a damaged
    label container is then salvaged with a note instead of refused). Raises what the readers
    raise: :class:`~marking.errors.InputError` for a missing or damaged file,
    :class:`~marking.media.sniffing.NoLabelPlaceError` for a format with no place for a label.
    """
    from marking.media.sniffing import IMAGE, media_kind

    if (kind or media_kind(path)) == IMAGE:
        from marking.tags.image_tags import read_image_tags

        tags = read_image_tags(path)
        return FileLabel(tags.label, tags.source_type)
    from marking.tags.containers import read_media_label

    return FileLabel(read_media_label(path, notes=notes))


def embedding_payload(path: str | os.PathLike[str], payload: str | None) -> str | None:
    """The payload to embed in ``path``: the one its metadata label names, if it has one.

    A label that names a payload (:func:`~marking.tags.aigc_label.label_payload`) fixes it, so
    tagging first and watermarking after agree; ``payload``, when given, must be that one (a
    :class:`UsageError` otherwise). A file without a label, or whose label cannot be read (the
    embedder then reports what is wrong with the file), keeps ``payload``.
    """
    from marking.errors import MarkingError
    from marking.media.atomic import display_path
    from marking.scheme.payload import parse_payload_option
    from marking.tags.aigc_label import label_payload

    try:
        found = read_label(path).label
    except MarkingError:
        return payload
    named = label_payload(found.to_dict()) if found is not None else None
    if named is None:
        return payload
    if payload is not None and parse_payload_option(payload).hex() != named:
        raise UsageError(
            f"--payload {payload}: {display_path(path)} carries a metadata label naming payload "
            f"{named}: leave --payload out to embed that one"
        )
    return named


def _version() -> str:
    from marking.version import __version__

    return __version__


def carry_label(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> bool:
    """Give ``dst`` (a freshly written marked copy of ``src``) the metadata label ``src``
    carries, when the copy lost it (a re-encoded recording or video keeps no label).

    Whether it was carried. The label was valid where it was read; ``dst`` is replaced
    atomically by a tagged copy. A label that cannot be read or is not valid is left behind.
    """
    from marking.errors import MarkingError

    try:
        found = read_label(src)
        if found.label is None or read_label(dst).label is not None:
            return False
        found.label.validate()
    except MarkingError:
        return False
    target = Path(dst)
    temporary = tagged_name(target.resolve().parent, target.suffix)
    try:
        tag_file(
            dst, temporary, found.label, source_type=found.source_type or TRAINED_ALGORITHMIC_MEDIA
        )
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return True
