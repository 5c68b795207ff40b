"""Fixtures of the server tests: the media to upload, the app in process (Starlette's test
client, with real worker processes), and keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")

from starlette.testclient import TestClient

from marking.server.app import create_app
from marking.server.settings import ServerSettings
from tests.support.server import build_media

SECRET = "provider-secret-7c1d9e"


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_media(tmp_path_factory.mktemp("server-media"))


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    path.write_text(f"# the provider's keys\n\nother-old-key-0000\n{SECRET}\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback")


@pytest.fixture(scope="module")
def settings(feedback_dir: Path, keys_file: Path) -> ServerSettings:
    return ServerSettings(
        workers=1,
        feedback_dir=str(feedback_dir),
        keys_file=str(keys_file),
        max_upload_bytes=8 * 1024 * 1024,
    )


@pytest.fixture(scope="module")
def client(settings: ServerSettings) -> Iterator[TestClient]:
    """The app in this process, its lifespan run: one real, warm worker process."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client
