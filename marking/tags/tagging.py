"""The implicit label, end to end: metadata written without touching the media, then signed.

Order matters: the GB 45438 label and the IPTC source type go in first, and the C2PA manifest
is signed over the result, so the manifest's hash covers the label. Pixels and samples are
never decoded or re-encoded.
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


def tag_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    label: AigcLabel,
    *,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    signing: Signing | None = None,
) -> dict[str, Any]:
    """Write a copy of ``src`` carrying ``label`` (and, with ``signing``, a C2PA manifest).

    Images get XMP (``TC260:AIGC`` and ``Iptc4xmpExt:DigitalSourceType``); audio and video
    files get the label in their container's own tag. ``src`` is never modified.
    """
    from marking.media.sniffing import IMAGE, media_kind

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
            watermark_payload=signing.watermark_payload,
            digital_source_type=source_type,
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


def _version() -> str:
    from marking.version import __version__

    return __version__
