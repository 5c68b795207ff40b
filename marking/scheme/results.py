"""The result types: what detection, embedding and labeling report, one dataclass per operation.

Every result is a frozen dataclass built on :class:`Record`, so it reads both ways: by attribute
(``found.detected``) and, as the dicts of release 0.1 did, by key (``found["detected"]``,
``found.get(...)``, ``{**found}``, ``json.dumps(found)``). The keys and their order come from
the dataclass fields (a field's metadata may give its key, leave it out when ``None``, or spread
a dict of its own into the record), so :meth:`Record.to_dict` is written once, not per kind. A
record is read-only: ``dataclasses.replace`` makes a changed copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, NoReturn

#: Field metadata (``dataclasses.field(metadata=...)``) saying how a field shows in the record:
#: placed before the fields inherited from the base classes,
LEAD = {"lead": True}
#: left out of the record when ``None``,
OMIT_NONE = {"omit_none": True}
#: or a dict whose items are the record's own (a nested report whose keys are not known here).
SPREAD = {"spread": True}


def record_key(name: str) -> dict[str, str]:
    """Field metadata: the record's name for the field (default: the field's own name)."""
    return {"key": name}


def _plain(value: Any) -> Any:
    """``value`` with every record, dict, list and tuple in it copied as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def fields_of(record: Record) -> dict[str, Any]:
    """A record's fields by name (to build a record of a subclass from it)."""
    return {each.name: getattr(record, each.name) for each in dataclasses.fields(record)}


def _rebuild(cls: type[Record], values: dict[str, Any]) -> Record:
    """A record from its fields' values (unpickling)."""
    return cls(**values)


class Record(dict):  # type: ignore[type-arg]
    """Base of the result dataclasses: a read-only dict of their fields, made once.

    The dict's items are filled from the fields when the record is made (so ``json.dumps`` and
    ``{**record}`` see them as they are); the dict cannot be changed afterwards.
    """

    def __post_init__(self) -> None:
        dict.update(self, self._items())

    def _items(self) -> Iterable[tuple[str, Any]]:
        """(key, value) of every field, in record order: lead fields first."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        ordered = [f for f in fields if f.metadata.get("lead")] + [
            f for f in fields if not f.metadata.get("lead")
        ]
        for each in ordered:
            value = getattr(self, each.name)
            if each.metadata.get("spread"):
                yield from (value or {}).items()
            elif value is not None or not each.metadata.get("omit_none"):
                yield each.metadata.get("key", each.name), value

    def to_dict(self) -> dict[str, Any]:
        """The record as plain dicts and lists (nested records and dicts copied)."""
        return _plain(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle (batch workers, copy) by the fields: the read-only dict refuses item-setting.
        return _rebuild, (type(self), fields_of(self))

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only; use dataclasses.replace")

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]
    __ior__ = _read_only  # type: ignore[assignment]


def as_json_record(result: Mapping[str, Any], leave_out: Iterable[str] = (), **first: Any) -> dict:
    """The one way a result becomes a JSON object: ``first`` items, then the result's items
    except ``leave_out``, as plain dicts and lists (for the command line and ``verify``)."""
    skipped = set(leave_out)
    rest = {key: value for key, value in result.items() if key not in skipped}
    return _plain({**first, **rest})


# --- detection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection(Record):
    """What blind detection found: shared by pictures, recordings and videos.

    ``false_alarm`` is the probability that an unmarked input scores at least as high; it is at
    most the false-alarm limit (:data:`marking.scheme.limits.FALSE_ALARM_LIMIT`) whenever
    ``detected`` is true. ``score`` is the sync correlation in standard deviations.
    """

    detected: bool
    payload: str | None
    false_alarm: float
    score: float


@dataclass(frozen=True)
class ImageDetection(Detection):
    """Detection in one picture. ``transform`` gives the tile period found (pixels, x and y)
    and the tile origin's position in the picture."""

    transform: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioDetection(Detection):
    """Detection in a signal. ``offset`` is the time (s) in the input where a period of the
    pattern starts (``None`` when nothing was found), ``speed`` the playback speed the mark was
    found at (1.0 unless the audio was sped up or slowed down), ``seconds`` the input's length
    (key ``duration_s``)."""

    offset: float | None
    speed: float
    seconds: float = field(metadata=record_key("duration_s"))


@dataclass(frozen=True)
class VideoDetection(Detection):
    """Detection in a set of frames: ``frames`` averaged (key ``frames_used``), ``transform``
    as for :class:`ImageDetection`."""

    frames: int = field(metadata=record_key("frames_used"))
    transform: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AudioFileDetection(AudioDetection):
    """:class:`AudioDetection` of a recording on disk: its path, and ``notes`` on damage read
    past (a reader salvages what decodes)."""

    _: KW_ONLY
    input: str = field(metadata=LEAD)
    kind: str = field(default="audio", metadata=LEAD)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SoundDetection(AudioDetection):
    """A video's sound track looked at: :class:`AudioDetection`, with ``checked`` true."""

    _: KW_ONLY
    checked: bool = field(default=True, metadata=LEAD)


@dataclass(frozen=True)
class Unchecked(Record):
    """A watermark that could not be looked for, and why (``checked`` is always false)."""

    reason: str
    checked: bool = field(default=False, metadata=LEAD)


@dataclass(frozen=True)
class VideoFileDetection(Detection):
    """Detection in a video file's frames and its sound.

    ``detected``: in the picture or the sound; ``payload``: the picture's if found there, else
    the sound's; ``false_alarm``: of the mark reported, else the picture's; ``score`` and
    ``transform``: the picture's. ``frames`` averaged (key ``frames_used``) of ``frames_decoded``
    delivered by the decoder, every ``every``-th from ``start_s`` over ``duration_s`` seconds.
    ``found_in`` lists "video" and "audio"; ``video`` is the picture's own verdict, ``audio`` the
    sound's (:class:`SoundDetection`, :class:`Unchecked`, or ``None`` without a sound track).
    """

    _: KW_ONLY
    input: str = field(metadata=LEAD)
    kind: str = field(default="video", metadata=LEAD)
    transform: dict[str, float]
    frames: int = field(metadata=record_key("frames_used"))
    frames_decoded: int
    every: int
    start_s: float
    duration_s: float
    found_in: list[str]
    video: Detection
    audio: SoundDetection | Unchecked | None


# --- embedding and labeling --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImageEmbedding(Record):
    """A watermarked copy of a picture: ``payload`` (hex), ``psnr`` (luma, dB), the size and the
    output's ``format``."""

    input: str
    output: str
    payload: str
    psnr: float
    width: int
    height: int
    format: str


@dataclass(frozen=True, kw_only=True)
class ImageLabeling(Record):
    """A copy of a picture with the visible label; ``label`` is the label's own report (box,
    text height, contrast...), spread into the record."""

    input: str
    output: str
    format: str
    width: int
    height: int
    label: dict[str, Any] = field(metadata=SPREAD)


@dataclass(frozen=True, kw_only=True)
class AudioEmbedding(Record):
    """A watermarked copy of a recording. ``snr_db``: segmental SNR of the marked samples
    against the original (``None`` for a silent file). With the audible cue in the same pass,
    ``cue`` and ``placements`` say what went in (absent otherwise)."""

    input: str
    output: str
    kind: str = "audio"
    payload: str
    snr_db: float | None
    format: str
    subtype: str
    sample_rate: int
    channels: int
    duration_s: float
    cue: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    placements: list[Any] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class AudioLabeling(Record):
    """A copy of a recording with the audible cue: lengths in and out, the cue and where it
    was placed."""

    input: str
    output: str
    format: str
    subtype: str
    sample_rate: int
    channels: int
    frames_in: int
    frames_out: int
    duration_in_s: float
    duration_out_s: float
    cue: dict[str, Any]
    placements: list[Any]


@dataclass(frozen=True, kw_only=True)
class VideoEmbedding(Record):
    """A watermarked copy of a video (see :func:`marking.files.video.embed_video_file`)."""

    input: str
    output: str
    kind: str = "video"
    payload: str
    psnr_min: float | None
    psnr_mean: float | None
    frames: int
    width: int
    height: int
    pix_fmt: str
    container: str
    encoder: str
    crf: int | None
    preset: str | None
    bitrate: Any
    duration_s: float
    audio: str
    audio_stream: dict[str, Any] | None
    audio_note: str | None
    copied_streams: list[Any]
    skipped_streams: list[Any]
    notes: list[str]
    label: dict[str, Any] | None
    seconds: float
    #: The output's video stream: its packets' bits over its duration, per second.
    output_bitrate: int | None = None
    #: Size matching (see marking.files.video_size.encode_matching_size), or None when off.
    match_size: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class VideoLabeling(Record):
    """A copy of a video with the visible label burnt in; ``layout`` is the rest of the label's
    report (box, contrast, matrix...), spread into the record."""

    input: str
    output: str
    frames: int
    frames_labeled: int
    intervals: list[list[float]]
    duration_s: float
    text: str
    encoder: str
    pix_fmt: str
    copied_streams: list[Any]
    skipped_streams: list[Any]
    notes: list[str]
    corrupt_frames: int
    seconds: float
    layout: dict[str, Any] = field(default_factory=dict, metadata=SPREAD)


__all__ = [
    "AudioDetection",
    "AudioEmbedding",
    "AudioFileDetection",
    "AudioLabeling",
    "Detection",
    "ImageDetection",
    "ImageEmbedding",
    "ImageLabeling",
    "Record",
    "SoundDetection",
    "Unchecked",
    "VideoDetection",
    "VideoEmbedding",
    "VideoFileDetection",
    "VideoLabeling",
    "as_json_record",
    "fields_of",
    "record_key",
]
