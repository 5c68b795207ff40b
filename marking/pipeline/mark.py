"""The whole marking of one file: explicit label, invisible watermark, metadata, C2PA.

:func:`mark_file` is what the batch command runs on every file, and what a pipeline calls on
one. The steps run in the order the rules imply: the visible label (or audio cue) first, so
the watermark covers the final pixels and samples; then the metadata label, written without
re-encoding; then the C2PA manifest, signed over the result. The watermark carries the payload
derived from the metadata label (:func:`marking.scheme.payload.payload_for_label`), so a
verifier can tell that label and watermark were made together without any database.

Pictures are decoded and encoded once (label and watermark in memory); recordings and videos
stream through each step in constant memory (a video's label and watermark share one
transcode). Intermediate files live next to the output as hidden ``.<name>.aigc-*`` files and
are removed whatever happens; the output appears atomically or not at all.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from marking.errors import MarkingError, UnsupportedInputError, UsageError
from marking.media.atomic import check_output_path, display_path, open_regular, scratch_files
from marking.media.temporaries import SCRATCH_MARK
from marking.scheme.limits import check_strength
from marking.tags.aigc_label import AigcLabel
from marking.tags.source_types import TRAINED_ALGORITHMIC_MEDIA

StrPath = str | os.PathLike[str]

LABEL, WATERMARK, METADATA, C2PA = "label", "watermark", "metadata", "c2pa"
#: Every step, in the order they run.
STEPS = (LABEL, WATERMARK, METADATA, C2PA)
DEFAULT_STEPS = frozenset({LABEL, WATERMARK, METADATA})
#: What marks the hidden intermediate files next to an output (made and recognised by
#: :mod:`marking.media.temporaries`).
TEMP_MARK = SCRATCH_MARK


@dataclass(frozen=True)
class MarkConfig:
    """What :func:`mark_file` does to a file, for every kind of media.

    ``steps``: a subset of ``label``, ``watermark``, ``metadata`` and ``c2pa`` (the last needs
    ``signing``; ``metadata`` and ``c2pa`` need ``producer``). ``label_level``: the GB 45438
    Label field ("1" AI-generated, "2" possibly, "3" suspected). ``image_style``: the picture
    label's look; ``video_label``: the video label's look and span; ``cue``: the audio cue.
    ``encoder``: the video encoder (its ``match_size`` holds the watermarked video to the bytes
    of a plain re-encode); ``copy_audio``: copy a video's sound instead of
    watermarking it. ``quality``: JPEG/WebP quality of re-encoded pictures.
    """

    steps: frozenset[str] = DEFAULT_STEPS
    producer: str | None = None
    label_level: str = "1"
    source_type: str = TRAINED_ALGORITHMIC_MEDIA
    strength: float = 1.0
    quality: int = 95
    image_style: Any = None  # marking.labels.visible.LabelStyle; None: the default look
    video_label: Any = None  # marking.labels.video_label.VideoLabelSettings
    cue: Any = None  # marking.labels.audio_cue.CueSettings
    encoder: Any = None  # marking.media.video.EncoderSettings
    copy_audio: bool = False
    signing: Any = None  # marking.tags.tagging.Signing
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        steps = frozenset(self.steps)
        object.__setattr__(self, "steps", steps)
        unknown = sorted(steps - set(STEPS))
        if unknown:
            raise UsageError(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEPS)}")
        if not steps:
            raise UsageError("no steps to run: give at least one of " + ", ".join(STEPS))
        if steps & {METADATA, C2PA} and not self.producer:
            raise UsageError("the metadata label needs a producer (--producer or [mark] producer)")
        if C2PA in steps and self.signing is None:
            raise UsageError("the c2pa step needs a signing certificate chain and key")
        if self.label_level not in ("1", "2", "3"):
            raise UsageError(f"label level must be 1, 2 or 3, got {self.label_level!r}")
        check_strength(self.strength)
        if not 1 <= self.quality <= 100:
            raise UsageError(f"quality must be between 1 and 100, got {self.quality}")

    def ordered_steps(self) -> list[str]:
        return [step for step in STEPS if step in self.steps]


def content_id(path: StrPath, producer: str) -> str:
    """A ProduceID derived from the file's bytes and the producer (32 hex digits).

    Unique per content, and the same on every run: marking a file twice, on one machine or on
    a cluster, gives the same label, payload and (codecs permitting) the same output bytes.
    """
    import hashlib

    digest = hashlib.blake2b(digest_size=16, person=b"aigc-produce-id")
    digest.update(producer.encode("utf-8") + b"\x00")  # producers are printable ASCII
    with open_regular(path) as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _label_for(config: MarkConfig, source: Path, produce_id: str | None) -> AigcLabel | None:
    if not config.steps & {METADATA, C2PA}:
        return None
    producer = config.producer or ""
    if produce_id is None:
        produce_id = content_id(source, producer)
    return AigcLabel.create(producer, produce_id=produce_id, label=config.label_level)


def _check_steps(config: MarkConfig, source: Path, target: Path, kind: str) -> None:
    """Refuse, on one line and before any decoding, steps the file's format cannot take.

    The c2pa step needs an output format C2PA embeds manifests in (not MKV, WebM, Ogg, AIFF
    and the like); the metadata step, and the c2pa step that signs over the label, need a
    sound format with a place for the GB 45438 label (not AIFF, CAF, Wave64, RF64). Pictures
    (JPEG, PNG, WebP, TIFF) and the video containers written take both. Caught here, such a
    file fails at once (a batch moves on) instead of after its whole watermarking.
    """
    from marking.media.sniffing import AUDIO, NoLabelPlaceError

    def reason(error: Exception, path: Path) -> str:
        return str(error).removeprefix(f"{display_path(path)}: ")

    cannot: set[str] = set()
    reasons: list[str] = []
    labelled = config.steps & {METADATA, C2PA}
    if labelled and kind == AUDIO:  # the sound keeps its format through the marking
        from marking.tags.containers import detect_format

        try:
            detect_format(source)
        except UnsupportedInputError as error:
            cannot |= labelled
            why = reason(error, source)
            if isinstance(error, NoLabelPlaceError):
                pass  # the format table's own words, as tag gives them
            elif why.startswith("not a supported"):
                why = "the GB 45438 label goes only into WAV, MP3, FLAC, Ogg, M4A, MP4, MOV, "
                why += "MKV and WebM files"
            else:
                why = f"no GB 45438 label can be written: {why}"
            reasons.append(why)
    if C2PA in config.steps:
        from marking.tags.c2pa import check_signable

        try:
            check_signable(target)
        except UnsupportedInputError as error:
            cannot.add(C2PA)
            reasons.append(reason(error, target))
    if not cannot:
        return
    names = [step for step in STEPS if step in cannot]
    rest = [step for step in STEPS if step in config.steps and step not in cannot]
    if cannot == {C2PA}:
        advice = "leave the c2pa step out for such files (no --c2pa-cert and --c2pa-key)"
    elif rest:
        signing = ", no --c2pa-cert and --c2pa-key" if C2PA in cannot else ""
        them = "them" if len(names) > 1 else "it"
        advice = f"leave {them} out for such files (--steps {','.join(rest)}{signing})"
    else:
        advice = "such files take the label and watermark steps only"
    plural = "s" if len(names) > 1 else ""
    raise UnsupportedInputError(
        f"{display_path(source)}: cannot do the {' and '.join(names)} step{plural} for this "
        f"file: {'; '.join(reasons)}; {advice}"
    )


def mark_file(
    src: StrPath,
    dst: StrPath,
    config: MarkConfig | None = None,
    *,
    key: Any = None,
    payload: bytes | str | int | None = None,
    produce_id: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Apply ``config``'s steps to ``src`` and write the result to ``dst`` (atomically).

    ``src`` is never modified. The watermark's payload is the metadata label's
    (:func:`~marking.scheme.payload.payload_for_label` of producer and ProduceID) when the metadata
    step runs, else ``payload`` (default random). ``produce_id`` defaults to
    :func:`content_id` (a digest of the file's bytes and the producer). Returns a record:
    ``input``, ``output``, ``kind``, ``steps`` (those done, in order), ``payload``,
    ``produce_id``, ``timings`` (seconds per step), ``seconds``, ``details`` (each step's
    own record) and ``notes`` (what changed on the way that a user should know, from every
    step: a stream the container cannot hold, 4:4:4 chroma for an odd video size). A step the
    file's format cannot take (c2pa for MKV, WebM or Ogg; the metadata
    label for AIFF) is refused with :class:`~marking.errors.UnsupportedInputError` before any
    work.
    """
    from marking.media.sniffing import AUDIO, IMAGE, VIDEO, media_kind
    from marking.scheme.payload import parse_payload_option, payload_for_label, random_payload

    config = config or MarkConfig(steps=frozenset({LABEL, WATERMARK}))
    source, target = Path(src), Path(dst)
    check_output_path(target, forbid=[source])
    started = time.perf_counter()
    kind = media_kind(source)
    _check_steps(config, source, target, kind)  # before hashing, decoding or writing
    label = _label_for(config, source, produce_id)
    if label is not None:
        payload_hex = payload_for_label(label.content_producer, label.produce_id)
    else:
        chosen = random_payload() if payload is None else parse_payload_option(payload)
        payload_hex = chosen.hex()
    run = {IMAGE: _mark_image_file, AUDIO: _mark_audio_file, VIDEO: _mark_video_file}[kind]
    if kind != IMAGE:  # ``progress(done, total)``: a video's frames, a recording's samples
        run = functools.partial(run, progress=progress)
    timings: dict[str, float] = {}
    details: dict[str, Any] = {}
    with scratch_files(target) as scratch:
        media_out = target if not config.steps & {METADATA, C2PA} else scratch(target.suffix)
        current = run(source, media_out, config, key, payload_hex, timings, details)
        if label is not None:
            from marking.tags.tagging import tag_file

            signing = config.signing if C2PA in config.steps else None
            watermark = None
            if signing is not None:
                signing = replace(signing, watermark_payload=None)  # only what is found
                watermark = _embedded_watermark(current, kind, key, payload_hex, config, details)
            began = time.perf_counter()
            details["metadata"] = tag_file(
                current,
                target,
                label,
                source_type=config.source_type,
                signing=signing,
                watermark=watermark,
            )
            timings[METADATA if signing is None else "metadata+c2pa"] = time.perf_counter() - began
    return {
        "input": os.fspath(src),
        "output": os.fspath(dst),
        "kind": kind,
        "steps": config.ordered_steps(),
        "payload": payload_hex if WATERMARK in config.steps or label is not None else None,
        "produce_id": label.produce_id if label is not None else None,
        "timings": {name: round(value, 4) for name, value in timings.items()},
        "seconds": round(time.perf_counter() - started, 4),
        "details": details,
        "notes": list(
            dict.fromkeys(
                note
                for step in details.values()
                if isinstance(step, dict)
                for note in step.get("notes") or ()
            )
        ),
    }


def _embedded_watermark(
    path: Path, kind: str, key: Any, payload_hex: str, config: MarkConfig, details: dict[str, Any]
) -> Any:
    """The watermark this run embedded, as detected in ``path`` before signing: what the
    manifest's soft binding and ``c2pa.watermarked`` action may name. ``None`` (with a note)
    when the watermark step did not run or its payload is not found there (an M4A's sound,
    silence, a picture too small): a manifest never names a watermark the file lacks."""
    from marking.pipeline.verify import found_watermark

    if WATERMARK not in config.steps:
        return None
    try:
        found = found_watermark(path, kind, key, embedded_here=True)
    except MarkingError:
        found = None
    if found is None or found.payload != payload_hex:
        details.setdefault("c2pa", {}).setdefault("notes", []).append(
            "the watermark was not found in the output before signing: the C2PA manifest "
            "names no watermark"
        )
        return None
    return found


def tag_marked_file(
    src: StrPath,
    dst: StrPath,
    label: AigcLabel,
    *,
    key: Any = None,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    signing: Any = None,
    watermark_payload: str | None = None,
) -> dict[str, Any]:
    """:func:`~marking.tags.tagging.tag_file`, bound to the watermark already in ``src``.

    The watermark is looked for with ``key``; when found, the label names its payload
    (:meth:`~marking.tags.aigc_label.AigcLabel.bound_to`) and a manifest carries a soft
    binding to it, so ``embed`` then ``tag`` verifies as agreeing. ``watermark_payload``, when
    given, must be the payload found (a :class:`UsageError` otherwise: the caller expected a
    watermark that is not there). A file whose pixels or samples cannot be decoded is tagged
    unbound, with a note. The record adds ``watermark`` (the payload bound, or ``None``).
    """
    from marking.media.sniffing import media_kind
    from marking.pipeline.verify import found_watermark
    from marking.scheme.payload import parse_payload_option
    from marking.tags.tagging import tag_file

    check_output_path(dst, forbid=[src])
    kind = media_kind(src)
    notes: list[str] = []
    try:
        found = found_watermark(src, kind, key)
    except MarkingError as error:
        found = None
        reason = str(error).removeprefix(f"{display_path(src)}: ")
        notes.append(f"the watermark could not be looked for ({reason}): the label is not bound")
    if watermark_payload is not None:
        expected = parse_payload_option(watermark_payload).hex()
        if found is None or found.payload != expected:
            has = "no watermark" if found is None else f"a watermark with payload {found.payload}"
            raise UsageError(
                f"--watermark-payload {expected}: {display_path(src)} carries {has} (with this "
                "key); tag binds to the watermark it finds"
            )
    record = tag_file(src, dst, label, source_type=source_type, signing=signing, watermark=found)
    record["watermark"] = found.payload if found is not None else None
    if notes:
        record["notes"] = [*record.get("notes", []), *notes]
    return record


def _timed(timings: dict[str, float], name: str, began: float) -> None:
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def _mark_image_file(
    source: Path,
    target: Path,
    config: MarkConfig,
    key: Any,
    payload_hex: str,
    timings: dict[str, float],
    details: dict[str, Any],
) -> Path:
    """Label and watermark a picture in memory: one decode, one encode."""
    from marking.media.image import DEFAULT_MAX_PIXELS, memory_guard
    from marking.media.image_write import open_for_rewrite, write_image

    if not config.steps & {LABEL, WATERMARK}:
        return source
    with memory_guard(source, "mark"):
        began = time.perf_counter()
        image, info = open_for_rewrite(source, target, "marked", max_pixels=DEFAULT_MAX_PIXELS)
        _timed(timings, "read", began)
        marked, found = mark_image(
            image,
            key=key,
            payload=payload_hex,
            strength=config.strength,
            style=config.image_style,
            label=LABEL in config.steps,
            watermark=WATERMARK in config.steps,
            timings=timings,
            release_input=True,
        )
        details.update(found)
        began = time.perf_counter()
        details["format"] = write_image(
            marked, target, info, quality=config.quality, forbid=[source]
        )
        _timed(timings, "write", began)
    return target


def mark_image(
    image: Any,
    *,
    key: Any = None,
    payload: bytes | str | int | None = None,
    strength: float = 1.0,
    style: Any = None,
    label: bool = True,
    watermark: bool = True,
    timings: dict[str, float] | None = None,
    release_input: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The visible label and the invisible watermark on a picture (array or PIL image).

    ``release_input`` closes a PIL ``image`` as soon as it is no longer needed (the caller
    will not use it again): the peak then holds one picture fewer.

    Returns the marked copy (same type, shape, dtype and mode) and a record: ``payload`` (hex,
    when watermarked), ``psnr`` (luma, of the watermark alone) and ``label`` (the label's box,
    text height and contrast, when labeled). The label goes on first, so the watermark covers
    the final pixels.
    """
    from marking.scheme.payload import parse_payload_option, random_payload
    from marking.watermark.image import embed_with_psnr

    timings = {} if timings is None else timings
    record: dict[str, Any] = {}
    if label:
        from marking.labels.visible import label_image

        began = time.perf_counter()
        labeled, result = label_image(image, style)
        if release_input and labeled is not image and hasattr(image, "close"):  # PIL
            image.close()
        image, release_input = labeled, True  # the labeled copy is ours to release
        record["label"] = result.to_dict()
        _timed(timings, LABEL, began)
    if watermark:
        chosen = random_payload() if payload is None else parse_payload_option(payload)
        began = time.perf_counter()
        marked, psnr = embed_with_psnr(
            image, key=key, payload=chosen, strength=strength, release_input=release_input
        )
        record["payload"] = chosen.hex()
        record["psnr"] = float(psnr)
        image = marked
        _timed(timings, WATERMARK, began)
    return image, record


def _mark_audio_file(
    source: Path,
    target: Path,
    config: MarkConfig,
    key: Any,
    payload_hex: str,
    timings: dict[str, float],
    details: dict[str, Any],
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """The audio cue, then the watermark over the whole recording: one streamed pass."""
    if WATERMARK in config.steps:
        from marking.files.audio import embed_audio_file
        from marking.labels.audio_cue import CueSettings

        cue = (config.cue or CueSettings()) if LABEL in config.steps else None
        began = time.perf_counter()
        details["watermark"] = embed_audio_file(
            source,
            target,
            key=key,
            payload=payload_hex,
            strength=config.strength,
            cue=cue,
            progress=progress,
        )
        _timed(timings, "label+watermark" if cue is not None else WATERMARK, began)
        return target
    if LABEL in config.steps:
        from marking.files.audio import label_audio_file

        began = time.perf_counter()
        details["cue"] = label_audio_file(source, target, config.cue)
        _timed(timings, LABEL, began)
        return target
    return source


def _mark_video_file(
    source: Path,
    target: Path,
    config: MarkConfig,
    key: Any,
    payload_hex: str,
    timings: dict[str, float],
    details: dict[str, Any],
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Label and watermark a video in one transcode (its sound carries the audio watermark)."""
    from marking.kernels.config import single_threaded
    from marking.labels.video_label import VideoLabelSettings

    labeled = LABEL in config.steps
    settings = config.video_label or VideoLabelSettings()
    if WATERMARK in config.steps:
        from marking.files.video import embed_video_file

        began = time.perf_counter()
        with single_threaded():  # the encoder has the cores
            details["watermark"] = embed_video_file(
                source,
                target,
                key=key,
                payload=payload_hex,
                strength=config.strength,
                settings=config.encoder,
                copy_audio=config.copy_audio,
                label=settings if labeled else None,
                progress=progress,
            )
        _timed(timings, "label+watermark" if labeled else WATERMARK, began)
        return target
    if labeled:
        from marking.files.video import label_video

        began = time.perf_counter()
        details["label"] = label_video(source, target, settings, encoder=config.encoder)
        _timed(timings, LABEL, began)
        return target
    return source


class AudioMarker:
    """The audio marking for streams: chunks in, marked chunks out (cue, then watermark).

    For pipelines that make sound themselves (text-to-speech, music generators): push float
    chunks of shape ``(n, channels)`` (or ``(n,)`` mono) as they come, then :meth:`finish`.
    With ``cue`` (True for the default Morse "AI", or :class:`~marking.labels.audio_cue.CueSettings`
    placed at the start or end, since the total length is unknown) the audible label goes in
    first; the watermark covers everything. Output lags input by about 2.5 s (the watermark's
    informed segment); joining all outputs gives exactly what :func:`~marking.embed_audio`
    gives on the cued signal. Memory stays constant however long the stream.
    """

    def __init__(
        self,
        *,
        rate: int,
        channels: int,
        payload: bytes | str | int | None = None,
        key: Any = None,
        strength: float = 1.0,
        cue: Any = False,
    ) -> None:
        from marking.labels.audio_cue import CueSettings, CueWriter
        from marking.scheme.payload import parse_payload_option, random_payload
        from marking.watermark.audio import AudioEmbedder

        chosen = random_payload() if payload is None else parse_payload_option(payload)
        self.payload = chosen.hex()
        self.channels = int(channels)
        self._embedder = AudioEmbedder(
            rate=rate, channels=channels, payload=chosen, key=key, strength=strength
        )
        self._cue = None
        if cue:
            settings = CueSettings() if cue is True else cue
            self._cue = CueWriter(rate, self.channels, settings)
        self._mono: bool | None = None

    def _shape(self, chunk: Any) -> Any:
        import numpy as np

        block = np.asarray(chunk)
        if block.dtype.kind != "f":  # PCM integers would pass as samples of +-32768
            raise TypeError(f"samples must be floating point in [-1, 1], got {block.dtype}")
        block = block.astype(np.float32, copy=False)
        mono = block.ndim == 1
        if self._mono is None:
            self._mono = mono
        elif mono != self._mono:
            raise UsageError("chunks must all be mono (n,) or all (n, channels)")
        return block[:, None] if mono else block

    def _out(self, blocks: list[Any]) -> Any:
        import numpy as np

        marked = [self._embedder.push(block) for block in blocks]
        joined = (
            np.concatenate(marked) if marked else np.zeros((0, self.channels), dtype=np.float32)
        )
        return joined[:, 0] if self._mono else joined

    def push(self, chunk: Any) -> Any:
        """Marked samples ready so far (possibly none), float32, in the input's layout."""
        block = self._shape(chunk)
        blocks = self._cue.feed(block) if self._cue is not None else [block]
        return self._out([b.copy() for b in blocks])

    def finish(self) -> Any:
        """The rest of the marked samples (call once, at the end of the stream)."""
        import numpy as np

        blocks = self._cue.finish() if self._cue is not None else []
        head = self._out([b.copy() for b in blocks])
        tail = self._embedder.finish()
        if self._mono and tail.ndim == 2:
            tail = tail[:, 0]
        return np.concatenate([head, tail])
