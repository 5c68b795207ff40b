"""``aigc-mark serve``'s options: a bad one is one usage error at start (exit 2), never a
server that fails on each request."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.commands import run_cli


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    empty_keys = tmp_path / "empty-keys"
    empty_keys.write_text("# nothing but a comment\n\n")
    empty_keys.chmod(0o600)
    anchors = tmp_path / "anchors.pem"
    anchors.write_text("not a certificate\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return {"empty_keys": empty_keys, "anchors": anchors, "blocker": blocker}


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--keys-file", "{empty_keys}"], "no key in it"),
        (["--keys-file", "/no/such/keys"], "No such file"),
        (["--trust-anchors", "{anchors}"], "trust"),
        (["--feedback-dir", "{blocker}/sub"], "--feedback-dir"),
        (["--port", "70000"], "a port is 0-65535"),
        (["--max-upload-mb", "0"], "size in MB"),
        (["--timeout", "0"], "--timeout must be above 0"),
        (["--workers", "0"], "--workers"),
        (["--queue", "-1"], "--queue must be 0 or more"),
    ],
)
def test_bad_options_are_one_usage_error(
    files: dict[str, Path], options: list[str], words: str
) -> None:
    args = [option.format(**files) for option in options]
    done = run_cli("serve", "--port", "0", *args, timeout=120)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert "serving on" not in done.stderr


def test_a_port_in_use_is_one_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", "--port", str(port), timeout=120)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_page_is_installed_with_the_package() -> None:
    """Every file of the page is package data (a wheel without them cannot serve the page)."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["marking"]
    static = root / "marking" / "server" / "static"
    files = [path.relative_to(root / "marking").as_posix() for path in static.iterdir()]
    assert {"server/static/index.html", "server/static/app.js", "server/static/app.css"} <= set(
        files
    )
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
