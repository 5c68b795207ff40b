"""Running ``aigc-mark`` as a user would (``python -m marking ...``) and checking what it says."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_cli(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | bytes | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[Any]:
    """Run ``python -m marking`` with ``args``; the key variables come only from ``env``.

    Without ``stdin`` the command reads an empty standard input, never the test runner's.
    Output is text, or bytes when ``stdin`` is bytes (media piped in and out)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AIGC_MARK_KEY", "AIGC_MARK_DEBUG")
    }
    environment |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "marking", *map(str, args)],
        capture_output=True,
        text=not isinstance(stdin, bytes),
        env=environment,
        cwd=cwd,
        **({"stdin": subprocess.DEVNULL} if stdin is None else {"input": stdin}),
        timeout=timeout,
        check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_error_line(result: subprocess.CompletedProcess[str], exit_code: int = 3) -> str:
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
