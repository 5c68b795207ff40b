"""The README's Python examples marked ``<!-- tested -->`` run as written, so they stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: A fenced python block right after a ``<!-- tested ... -->`` comment line.
TESTED_BLOCK = re.compile(r"^<!-- tested[^\n]*-->\n```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[str]:
    return TESTED_BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_tested_examples() -> None:
    assert len(readme_blocks()) >= 2


@pytest.mark.parametrize("number", range(len(readme_blocks())))
def test_readme_example_runs(
    number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Each block runs from a directory that looks like the repository root (samples/ there)."""
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    code = compile(readme_blocks()[number], f"README.md tested block {number + 1}", "exec")
    exec(code, {"__name__": "readme_example"})  # the README's own code
