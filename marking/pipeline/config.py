"""The TOML configuration of ``aigc-mark mark``: per-modality sections onto one MarkConfig.

The documented default is ``marking/default-config.toml`` (``aigc-mark mark --print-config``);
a test checks that reading it gives exactly :class:`~marking.pipeline.mark.MarkConfig`'s defaults,
so the file cannot drift from the code. Unknown sections and keys are errors: a typo in a
config that labels a provider's whole output must not pass silently.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import fields
from importlib import resources
from typing import Any

from marking.errors import UsageError

CONFIG_RESOURCE = "default-config.toml"
#: Largest settings file read (a TOML file of a few settings is a few KB).
SETTINGS_FILE_LIMIT = 1 << 20

#: Keys each section takes. Empty strings and zeros stand for "not set" where the setting is
#: optional (TOML has no null).
_SECTIONS: dict[str, frozenset[str]] = {
    "mark": frozenset({"steps", "producer", "label_level", "source_type", "strength"}),
    "c2pa": frozenset(
        {"cert_chain", "key", "tsa_url", "system_name", "system_version", "thumbnail"}
    ),
    "image": frozenset({"quality", "label"}),
    "audio": frozenset({"cue"}),
    "video": frozenset({"copy_audio", "encoder", "label"}),
}


#: Old key names, by table, accepted for one release (0.2) with a warning: the command line's
#: names (``--label-level``; see marking.cli.DEPRECATED_OPTIONS). A table stands for the
#: options' prefix: [video.encoder] preset is --x264-preset, [video.label.style] text is
#: embed's --label-text; "label" alone is the visible label ([image.label], [video.label]).
DEPRECATED_KEYS: dict[tuple[str, ...], dict[str, str]] = {
    ("mark",): {"label": "label_level"},
}


def _rename_deprecated(data: dict[str, Any], shown: str) -> None:
    """Move the old keys of :data:`DEPRECATED_KEYS` to their new names, with a warning."""
    for path, renames in DEPRECATED_KEYS.items():
        table: Any = data
        for name in path:
            table = table.get(name) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            continue
        for old, new in renames.items():
            if old not in table:
                continue
            where = f"[{'.'.join(path)}]"
            if new in table:
                raise UsageError(f"config {shown}: {where} has both {old} and {new}; keep {new}")
            print(
                f"aigc-mark: warning: config {where} {old} is deprecated; use {new}",
                file=sys.stderr,
            )
            table[new] = table.pop(old)


def default_config_text() -> str:
    """The shipped default configuration file, as text."""
    return resources.files("marking").joinpath(CONFIG_RESOURCE).read_text(encoding="utf-8")


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML config file; one-line UsageError on anything wrong with it."""
    from marking.media.atomic import display_path, read_small_file

    shown = display_path(path)
    try:
        text = read_small_file(path, SETTINGS_FILE_LIMIT).decode("utf-8")
    except OSError as error:
        raise UsageError(f"config {shown}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"config {shown}: not UTF-8 text") from None
    return parse_config(text, shown)


def parse_config(text: str, shown: str = "<config>") -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config {shown}: {error}") from None
    _rename_deprecated(data, shown)
    for section, body in data.items():
        if section not in _SECTIONS:
            raise UsageError(
                f"config {shown}: unknown section [{section}]; sections: "
                + ", ".join(f"[{name}]" for name in _SECTIONS)
            )
        if not isinstance(body, dict):
            raise UsageError(f"config {shown}: {section} must be a table")
        unknown = sorted(set(body) - _SECTIONS[section])
        if unknown:
            raise UsageError(f"config {shown}: unknown key(s) in [{section}]: {', '.join(unknown)}")
    return data


def _build(cls: type, values: dict[str, Any], where: str, **fixed: Any) -> Any:
    """A settings dataclass from a config table: unknown keys and bad values are UsageError."""
    names = {item.name for item in fields(cls)} - set(fixed)
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(f"config: unknown key(s) in [{where}]: {', '.join(unknown)}")
    try:
        return cls(**values, **fixed)
    except UsageError as error:
        raise UsageError(f"config [{where}]: {error}") from None
    except (TypeError, ValueError) as error:
        raise UsageError(f"config [{where}]: {error}") from None


def _unset_empty(values: dict[str, Any], *names: str, zero: bool = False) -> dict[str, Any]:
    """Drop keys whose value means "not set" ("" or, with ``zero``, 0)."""
    out = dict(values)
    for name in names:
        if name in out and (out[name] == "" or (zero and out[name] == 0)):
            del out[name]
    return out


def _table(data: dict[str, Any], *path: str) -> dict[str, Any]:
    node: Any = data
    for name in path:
        node = node.get(name, {}) if isinstance(node, dict) else {}
    if not isinstance(node, dict):
        raise UsageError(f"config: [{'.'.join(path)}] must be a table")
    return node


def _style(values: dict[str, Any], where: str) -> Any:
    from marking.labels.visible import LabelStyle

    return _build(LabelStyle, _unset_empty(values, "font_path"), where)


def config_from(data: dict[str, Any], **overrides: Any) -> Any:
    """A :class:`~marking.pipeline.mark.MarkConfig` from parsed TOML, then ``overrides`` (flags).

    ``overrides`` are MarkConfig fields; None values are ignored (the flag was not given).
    """
    from marking.labels.audio_cue import CueSettings
    from marking.labels.video_label import VideoLabelSettings
    from marking.media.video import EncoderSettings
    from marking.pipeline.mark import MarkConfig
    from marking.tags.tagging import Signing

    mark = _table(data, "mark")
    values: dict[str, Any] = {}
    if "steps" in mark:
        steps = mark["steps"]
        if not (isinstance(steps, list) and all(isinstance(step, str) for step in steps)):
            raise UsageError("config [mark]: steps must be a list of step names")
        values["steps"] = frozenset(steps)
    if mark.get("producer"):
        values["producer"] = mark["producer"]
    if "label_level" in mark:
        values["label_level"] = str(mark["label_level"])
    for name in ("source_type", "strength"):
        if name in mark:
            values[name] = mark[name]

    c2pa = _unset_empty(_table(data, "c2pa"), "tsa_url", "system_version")
    if c2pa.get("cert_chain") or c2pa.get("key"):
        if not (c2pa.get("cert_chain") and c2pa.get("key")):
            raise UsageError("config [c2pa]: give both cert_chain and key, or neither")
        values["signing"] = _build(Signing, c2pa, "c2pa")

    image = _table(data, "image")
    if "quality" in image:
        values["quality"] = image["quality"]
    if _table(data, "image", "label"):
        values["image_style"] = _style(_table(data, "image", "label"), "image.label")

    cue = _unset_empty(_table(data, "audio", "cue"), "speech_path")
    if cue:
        values["cue"] = _build(CueSettings, cue, "audio.cue")

    video = _table(data, "video")
    if "copy_audio" in video:
        values["copy_audio"] = bool(video["copy_audio"])
    encoder = _unset_empty(_table(data, "video", "encoder"), "codec", "bitrate", zero=True)
    if encoder:
        values["encoder"] = _build(EncoderSettings, encoder, "video.encoder")
    label = _unset_empty(
        {k: v for k, v in _table(data, "video", "label").items() if k != "style"},
        "also_end_s",
        "also_middle_s",
        zero=True,
    )
    style_table = _table(data, "video", "label", "style")
    if label or style_table:
        style = _style(style_table, "video.label.style") if style_table else None
        fixed = {"style": style} if style is not None else {}
        values["video_label"] = _build(VideoLabelSettings, label, "video.label", **fixed)

    values.update({name: value for name, value in overrides.items() if value is not None})
    try:
        return MarkConfig(**values)
    except TypeError as error:
        raise UsageError(f"config: {error}") from None


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Any:
    """MarkConfig from ``path`` (None: the defaults) with ``overrides`` applied on top."""
    if path is None:
        return config_from({}, **overrides)
    data = read_config_file(path)
    try:
        return config_from(data, **overrides)
    except UsageError as error:  # name the file, as the parser's own messages do
        message = str(error)
        if message.startswith("config"):
            message = f"config {os.fspath(path)}" + message.removeprefix("config")
        raise UsageError(message) from None
