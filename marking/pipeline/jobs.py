"""The work on one file of a batch, run in a worker: mark it, or verify it, and say how it
went in a record (a dict, JSON-ready), whatever happens: a failure is a record too, never
the end of the batch. Resuming lives here: a finished output is skipped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from marking.errors import OutputError, describe_failure
from marking.media.atomic import display_path
from marking.pipeline.inputs import Job

#: Record statuses (``detect``'s: FOUND, NOT_FOUND).
MARKED, SKIPPED, VERIFIED, FAILED = "marked", "skipped", "verified", "failed"
FOUND, NOT_FOUND = "found", "not found"


#: Keys records had before 0.2, each with the key that replaces it: emitted, as a copy of the
#: new one, by the verbs that had them, for one release (``input``: the path given; ``kind``:
#: image, audio or video, the same names in every verb's records).
OLD_KEYS = {"file": "input", "modality": "kind"}


def with_old_keys(record: dict[str, Any], *old: str) -> dict[str, Any]:
    """``record`` with the deprecated keys ``old`` (of :data:`OLD_KEYS`) copied in."""
    return record | {name: record.get(OLD_KEYS[name]) for name in old}


def failure_record(job: Job, error: BaseException | str, started: float, **fields: Any) -> dict:
    """The ``failed`` record of ``job``: ``error`` (an exception, or a message) in one line."""
    message = error if isinstance(error, str) else describe_failure(error, job.input)
    return {
        "input": job.input,
        "output": job.output,
        "kind": fields.pop("kind", None),
        "status": FAILED,
        "error": message,
        "bytes": job.size,
        "seconds": round(time.perf_counter() - started, 4),
        **fields,
    }


def missing_mark_fields(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every field of a ``mark`` record, those it lacks set to "none": the
    report's lines all have the same shape, including records made without :func:`mark_one`
    (a file whose worker process died)."""
    defaults: dict[str, Any] = {
        "kind": None,
        "status": None,
        "steps": [],
        "payload": None,
        "produce_id": None,
        "error": None,
        "bytes": 0,
        "seconds": 0.0,
        "timings": {},
        "notes": [],
    }
    full = record | {name: value for name, value in defaults.items() if name not in record}
    return with_old_keys(full, "modality")


def _mark_record(job: Job, **fields: Any) -> dict[str, Any]:
    return missing_mark_fields(
        {"input": job.input, "output": job.output, "bytes": job.size} | fields
    )


def _modality(path: str) -> str | None:
    from marking.media.sniffing import media_kind

    try:
        return media_kind(path)
    except Exception:
        return None


def output_is_complete(path: str, config: Any, key: Any, source: str | None = None) -> bool:
    """Whether an existing output is a finished one (for resuming a batch).

    Outputs only ever appear whole (they are renamed into place), so existence already means
    complete; this also reads the mark back: the metadata label when the batch writes one,
    else the watermark, else that the file still decodes as media. With ``source`` (the
    input), the label's ProduceID must also be the one the input's bytes give now: an input
    replaced since the output was made (a new render under the same name) is marked again.
    """
    from marking.pipeline.mark import METADATA, WATERMARK, content_id

    target = Path(path)
    if not target.is_file() or target.stat().st_size == 0:
        return False
    try:
        if METADATA in config.steps:
            from marking.tags.tagging import read_label

            label = read_label(target).label
            if label is None or label.content_producer != config.producer:
                return False
            return source is None or label.produce_id == content_id(source, config.producer)
        if WATERMARK in config.steps:
            from marking.pipeline.verify import read_watermark

            return bool(read_watermark(target, _modality(path) or "", key).get("detected"))
        return _modality(path) is not None
    except Exception:
        return False


def not_media(job: Job) -> bool:
    """A file met while walking a directory that is plainly not media (a README, a JSON
    sidecar): neither its name nor its content says picture, recording or video. Those are
    skipped; a named file, or one with a media suffix, is processed and fails if it is bad."""
    from marking.media.sniffing import MEDIA_SUFFIXES, media_kind

    if not job.found or Path(job.input).suffix.lower() in MEDIA_SUFFIXES:
        return False
    try:
        media_kind(job.input)
    except Exception:
        return True
    return False


NOT_MEDIA = "not a picture, recording or video"


def _make_output_directory(target: Path) -> None:
    """Make the directory ``target`` goes in (mirrored below OUTDIR); a failure names both."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"{display_path(target)}: cannot make directory {display_path(target.parent)}: "
            f"{error.strerror or error}"
        ) from None


def mark_one(
    job: Job, config: Any, key: Any, resume: bool = True, progress: Any = None
) -> dict[str, Any]:
    """Mark one file; a record whatever happens (exceptions become ``failed`` records).
    ``progress(done, total)`` hears of a video's frames and a recording's samples."""
    from marking.kernels.config import single_threaded
    from marking.pipeline.mark import mark_file

    started = time.perf_counter()
    if job.skip is not None:
        return _mark_record(job, status=SKIPPED, output=None, reason=job.skip)
    if job.problem is not None or job.output is None:
        return _mark_record(job, **failure_record(job, job.problem or "no output path", started))
    if not_media(job):
        return _mark_record(job, status=SKIPPED, output=None, reason=NOT_MEDIA)
    try:
        if resume and output_is_complete(job.output, config, key, job.input):
            return _mark_record(
                job,
                status=SKIPPED,
                kind=_modality(job.output),
                reason="output exists and carries the mark",
                seconds=round(time.perf_counter() - started, 4),
            )
        _make_output_directory(Path(job.output))
        with single_threaded():
            record = mark_file(job.input, job.output, config, key=key, progress=progress)
    except Exception as error:
        failure = failure_record(job, error, started, kind=_modality(job.input))
        return _mark_record(job, **failure)
    return _mark_record(
        job,
        status=MARKED,
        kind=record["kind"],
        steps=record["steps"],
        payload=record["payload"],
        produce_id=record["produce_id"],
        seconds=record["seconds"],
        timings=record["timings"],
        notes=record["notes"],
    )


def _unchecked_record(job: Job, started: float) -> dict[str, Any] | None:
    """The record of a job that is not looked at (a pattern that matched nothing fails, a file
    that is not media is skipped), or None for a file to check."""
    if job.problem is not None:
        return failure_record(job, job.problem, started)
    if job.skip is not None or not_media(job):
        return {
            "input": job.input,
            "kind": None,
            "status": SKIPPED,
            "reason": job.skip or NOT_MEDIA,
            "bytes": job.size,
            "seconds": 0.0,
        }
    return None


def verify_one(
    job: Job, key: Any, trust_anchors: str | None = None, keys: Any = None
) -> dict[str, Any]:
    """Verify one file; a record whatever happens. ``keys``: ``(label, key)`` pairs to try in
    turn instead of ``key`` (see :func:`~marking.pipeline.verify.verify_file`)."""
    from marking.kernels.config import single_threaded
    from marking.pipeline.verify import verify_file

    started = time.perf_counter()
    unchecked = _unchecked_record(job, started)
    if unchecked is not None:
        old = ("modality", "file") if unchecked["status"] == FAILED else ("modality",)
        return with_old_keys(unchecked, *old)
    try:
        with single_threaded():
            result = verify_file(job.input, key=key, keys=keys, trust_anchors=trust_anchors)
    except Exception as error:
        failure = failure_record(job, error, started, kind=_modality(job.input))
        return with_old_keys(failure, "modality", "file")
    return with_old_keys(verified_record(job, result, started), "modality", "file")


def verified_record(job: Job, result: Any, started: float) -> dict[str, Any]:
    """The ``verified`` record of a :class:`~marking.pipeline.verify.Verification` of
    ``job``'s file (the command line's and the server's, without 0.1's keys)."""
    return {
        "input": job.input,
        "kind": result.kind,
        "status": VERIFIED,
        "bytes": job.size,
        "seconds": round(time.perf_counter() - started, 4),
        **result.to_dict(),
    }


def watermark_kind(path: str) -> str:
    """``"image"``, ``"audio"`` or ``"video"``: which watermark a file takes, by its content.

    A file that cannot be opened at all, or whose content is not recognised but whose name is
    an image's (or has no suffix), goes to the image reader, which reports what is wrong as it
    always has.
    """
    from marking.errors import MarkingError, UnsupportedInputError
    from marking.media.atomic import input_file_problem
    from marking.media.sniffing import IMAGE, IMAGE_SUFFIX_FORMATS, media_kind

    try:
        return media_kind(path)
    except UnsupportedInputError:
        suffix = Path(path).suffix.lower()
        if not suffix or suffix in IMAGE_SUFFIX_FORMATS:
            return IMAGE
        raise
    except MarkingError:
        if input_file_problem(path) is not None:  # missing, empty, unreadable
            return IMAGE
        raise


def detect_watermark(path: str, key: Any, options: dict[str, Any], progress: Any = None) -> Any:
    """The detection result for one file, by the kind of media it holds. ``options``:
    ``speed_search`` (recordings and sound tracks) and, for video, ``every``, ``all_frames``,
    ``start``, ``seconds``, ``audio`` (see :func:`~marking.files.video.detect_video_file`)."""
    from marking.media.sniffing import AUDIO, VIDEO

    kind = watermark_kind(path)
    speed_search = options.get("speed_search", True)
    if kind == AUDIO:
        from marking.files.audio import detect_audio_file

        return detect_audio_file(path, key=key, speed_search=speed_search)
    if kind == VIDEO:
        from marking.files.video import detect_video_file

        video_options = ("every", "all_frames", "start", "seconds", "audio")
        chosen = {name: options[name] for name in video_options if name in options}
        return detect_video_file(
            path, key=key, speed_search=speed_search, progress=progress, **chosen
        )
    from marking.files.image import detect_file

    return detect_file(path, key=key)


def detect_one(job: Job, key: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Look for the watermark in one file (``aigc-mark detect``); a record whatever happens:
    the detection's own fields, ``input`` and ``kind``, and for the batch ``status`` (FOUND or
    NOT_FOUND), ``bytes`` and ``seconds``."""
    from marking.kernels.config import single_threaded
    from marking.scheme.results import as_json_record

    started = time.perf_counter()
    unchecked = _unchecked_record(job, started)
    if unchecked is not None:
        return unchecked
    try:
        with single_threaded():
            found = detect_watermark(job.input, key, options)
    except Exception as error:
        return failure_record(job, error, started, kind=_modality(job.input))
    kind = found.get("kind") or watermark_kind(job.input)
    return {
        **as_json_record(found, ("input",), input=job.input, kind=kind),
        "status": FOUND if found.detected else NOT_FOUND,
        "bytes": job.size,
        "seconds": round(time.perf_counter() - started, 4),
    }
