"""The module paths of release 0.1 (one flat package) keep working for one release.

``import marking.image_io`` (or any other old path in :data:`MOVED`) gives a small module
that warns with a :class:`DeprecationWarning` and hands out each name from the module it
now lives in, so code written against 0.1 runs unchanged while it is updated.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

#: Old module -> the modules that now hold its names, searched in order.
MOVED: dict[str, tuple[str, ...]] = {
    "marking.aigc_label": ("marking.tags.aigc_label",),
    "marking.atomic": ("marking.media.atomic", "marking.errors"),
    "marking.audio_cue": ("marking.labels.audio_cue", "marking.files.audio"),
    "marking.audio_io": (
        "marking.media.audio",
        "marking.media.audio_read",
        "marking.media.audio_salvage",
        "marking.media.decoder_messages",
    ),
    "marking.audio_watermark": (
        "marking.watermark.audio",
        "marking.watermark.audio_embed",
        "marking.watermark.audio_detect",
        "marking.watermark.audio_search",
        "marking.watermark.audio_layout",
        "marking.scheme.results",
        "marking.scheme.limits",
    ),
    "marking.audio_watermark_io": ("marking.files.audio", "marking.scheme.limits"),
    "marking.av_tags": (
        "marking.tags.containers",
        "marking.tags.wav_tags",
        "marking.media.remux",
        "marking.media.riff",
    ),
    "marking.batch": (
        "marking.pipeline.batch",
        "marking.pipeline.inputs",
        "marking.pipeline.jobs",
        "marking.pipeline.outdir",
        "marking.pipeline.pool",
        "marking.pipeline.dask_run",
    ),
    "marking.c2pa_manifest": ("marking.tags.c2pa", "marking.tags.c2pa_read"),
    "marking.content_sniffing": ("marking.media.sniffing",),
    "marking.image_io": (
        "marking.media.image",
        "marking.media.image_write",
        "marking.files.image",
        "marking.scheme.limits",
    ),
    "marking.image_tags": ("marking.tags.image_tags", "marking.media.png"),
    "marking.image_watermark": (
        "marking.watermark.image",
        "marking.watermark.image_embed",
        "marking.watermark.image_detect",
        "marking.watermark.pixels",
        "marking.scheme.results",
        "marking.scheme.limits",
    ),
    "marking.interrupts": ("marking.media.interrupts",),
    "marking.keys": ("marking.scheme.keys", "marking.files.key_file"),
    "marking.label_options": ("marking.labels.options",),
    "marking.mark_config": ("marking.pipeline.config",),
    "marking.morse_reader": ("marking.labels.morse_reader", "marking.files.audio"),
    "marking.payload": ("marking.scheme.payload",),
    "marking.pipeline": ("marking.pipeline.mark", "marking.media.atomic"),
    "marking.source_types": ("marking.tags.source_types",),
    "marking.tagging": ("marking.tags.tagging",),
    "marking.test_ca": ("marking.tags.test_ca", "marking.cli.test_ca"),
    "marking.throughput": ("marking.pipeline.throughput",),
    "marking.tile_pattern": ("marking.scheme.tile_pattern",),
    "marking.verify": ("marking.pipeline.verify", "marking.scheme.payload"),
    "marking.video_io": (
        "marking.media.video",
        "marking.media.transcode",
        "marking.media.video_probe",
        "marking.media.video_frames",
        "marking.media.sound_pass",
        "marking.media.av_util",
    ),
    "marking.video_label": ("marking.labels.video_label", "marking.files.video"),
    "marking.video_watermark": (
        "marking.watermark.video",
        "marking.scheme.results",
        "marking.scheme.limits",
    ),
    "marking.video_watermark_io": ("marking.files.video", "marking.scheme.limits"),
    "marking.visible_label": ("marking.labels.visible",),
    "marking.xmp": ("marking.tags.xmp",),
}

#: Old paths that are now packages: ``marking.pipeline`` is the pipeline layer, and its old
#: names (``mark_file``, ``MarkConfig``...) are looked up on the package itself.
PACKAGES = frozenset({"marking.pipeline"})


def forward(old: str, targets: tuple[str, ...]) -> tuple[Any, Any]:
    """``__getattr__`` and ``__dir__`` for the stand-in of ``old``: each name from the first
    of ``targets`` that has it."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for target in targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        names: set[str] = set()
        for target in targets:
            names.update(dir(importlib.import_module(target)))
        return sorted(names)

    return __getattr__, __dir__


def warn(old: str, targets: tuple[str, ...], stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} is deprecated since aigc-marking 0.2 and goes in 0.3; import from "
        f"{' or '.join(targets)}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of the old flat module paths with a forwarding stand-in."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname in MOVED and fullname not in PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        targets = MOVED[module.__name__]
        module.__doc__ = f"Deprecated: moved to {', '.join(targets)}."
        module.__getattr__, module.__dir__ = forward(module.__name__, targets)  # type: ignore[method-assign]
        warn(module.__name__, targets, stacklevel=2)


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
