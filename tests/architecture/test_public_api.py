"""The layered move (issue 16) keeps the public API: every name ``import marking`` offered in
0.1 is still there, and every 0.1 module path still imports, with a DeprecationWarning, and
hands out each of its names (the lists were recorded from 0.1 before the move)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import marking
from marking import _moved

RECORDED = json.loads(
    (Path(__file__).parents[1] / "data" / "public_api_0.1.json").read_text(encoding="utf-8")
)


def test_marking_offers_every_name_it_offered() -> None:
    assert set(RECORDED["__all__"]) <= set(marking.__all__)
    for name in RECORDED["lazy"]:
        assert getattr(marking, name) is not None, name


@pytest.mark.parametrize("old", sorted(RECORDED["modules"]))
def test_old_module_path_warns_and_forwards_every_name(old: str) -> None:
    if old == "marking.warmup":  # not moved: still the entry point of ``python -m``
        module = importlib.import_module(old)
    elif old in _moved.PACKAGES:  # now a package: its old names warn when used
        module = importlib.import_module(old)
        with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
            getattr(module, RECORDED["modules"][old][0])
    else:
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
            module = importlib.import_module(old)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        missing = [name for name in RECORDED["modules"][old] if not hasattr(module, name)]
    assert not missing, f"{old} lost {missing}"


def test_every_old_path_is_recorded() -> None:
    assert set(_moved.MOVED) <= set(RECORDED["modules"])


def test_old_names_are_the_new_objects() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from marking.image_io import embed_file
        from marking.pipeline import mark_file
    assert embed_file is marking.embed_file
    assert mark_file is marking.mark_file


def test_deprecation_points_at_the_importer() -> None:
    """Run in a fresh interpreter: the warning is shown once, naming the new home."""
    run = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", "import marking.verify"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "marking.verify is deprecated" in run.stderr
    assert "marking.pipeline.verify" in run.stderr
