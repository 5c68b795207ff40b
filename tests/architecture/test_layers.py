"""The house rules of issue 16, checked on every run: one folder per layer, each importing only
the layers below it (import-linter's contracts in pyproject.toml), no reach into another
module's private names, rooms of a readable size, and a code map in README that matches."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "marking"
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "importlinter"
]
LAYERS = [
    name.strip() for row in CONTRACTS["contracts"][0]["layers"] for name in re.split(r"[|:]", row)
]
#: "About 600 lines" a module and "about 80" a function (issue 16), with a little slack.
MAX_MODULE_LINES = 650
MAX_FUNCTION_LINES = 85


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    """An upward import (a pipeline module importing the CLI, a tag writer importing the
    watermark...) fails here, naming the import chain."""
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, report
    assert "0 broken" in report


def test_every_layer_is_a_folder_with_its_rule() -> None:
    for layer in LAYERS:
        init = ROOT / Path(*layer.split(".")) / "__init__.py"
        assert init.is_file(), layer
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "Rule:" in doc or layer == "marking.kernels" or layer == "marking.cli", layer


def test_readme_code_map_names_every_layer_and_its_rule() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Code map")
    code_map = readme[start : readme.index("\n## ", start + 1)]
    for layer in LAYERS:
        assert f"`{layer.replace('.', '/')}/`" in code_map, layer


def _private_imports(path: Path) -> list[str]:
    """Module-level imports of another module's private name (``from m import _x``), or of a
    private module from outside its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    statements = [
        inner for node in tree.body for inner in (node.body if isinstance(node, ast.If) else [node])
    ]
    for node in statements:
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("marking"):
            continue
        module = node.module or ""
        parent, _, last = module.rpartition(".")
        if last.startswith("_") and parent != package:
            found.append(f"{path.relative_to(ROOT)}: from {module} import ...")
        found.extend(
            f"{path.relative_to(ROOT)}: from {module} import {alias.name}"
            for alias in node.names
            if alias.name.startswith("_") and not alias.name.startswith("__")
        )
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = [line for path in _sources() for line in _private_imports(path)]
    assert not found, "\n".join(found)


def test_modules_and_functions_are_of_a_readable_size() -> None:
    too_long = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
        if "kernels" in path.parts:
            continue  # a kernel is one loop nest; splitting it would hide the algorithm
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}: {node.name}() {length} lines")
    assert not too_long, "\n".join(too_long)
