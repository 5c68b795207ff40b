"""``POST /api/v1/verify-url`` through the app: a file fetched from a local server (loopback
allowed by the test-only setting) is verified like an upload; refusals and the fetcher's caps
come back as one-line errors, and the fetched file is gone afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from marking.server.app import create_app
from marking.server.settings import ServerSettings
from tests.support.server import hosting


@pytest.fixture(scope="module")
def remote(media: dict[str, Path]) -> Iterator[str]:
    """A local web server holding the test media, its origin."""
    with hosting(media["marked_image"].parent.parent) as origin:
        yield origin


@pytest.fixture(scope="module")
def url_client() -> Iterator[TestClient]:
    settings = ServerSettings(
        workers=1, allow_url_fetch=True, allow_loopback_fetch=True, max_upload_bytes=400 * 1024
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _spool_is_empty(client: TestClient) -> bool:
    return not any(Path(client.app.state.server.spool).iterdir())  # type: ignore[attr-defined]


def test_a_fetched_file_is_verified(url_client: TestClient, remote: str) -> None:
    answer = url_client.post(
        "/api/v1/verify-url", json={"url": f"{remote}/marked/photo-dandelions.jpg"}
    )
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["input"] == "photo-dandelions.jpg"
    assert record["watermark"]["detected"] is True
    assert record["verdict_id"].startswith("v1.")
    assert _spool_is_empty(url_client)
    assert url_client.get("/api/v1/info").json()["url_fetch"] is True


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("http://10.0.0.1/a.jpg", 400, "private or local address"),
        ("http://169.254.169.254/latest/meta-data/", 400, "private or local address"),
        ("file:///etc/passwd", 400, ""),
        ("{remote}/missing.jpg", 502, "404"),
        ("{remote}/sources/music.wav", 413, ""),
        ("{remote}/notes.txt", 415, "not a picture"),
    ],
)
def test_refusals_are_one_line_errors(
    url_client: TestClient, remote: str, url: str, status: int, words: str
) -> None:
    answer = url_client.post("/api/v1/verify-url", json={"url": url.format(remote=remote)})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error
    assert "\n" not in error
    assert _spool_is_empty(url_client)


@pytest.mark.parametrize("body", [b"{}", b'{"url": 5}', b"[]", b"nope"])
def test_a_bad_body_is_400(url_client: TestClient, body: bytes) -> None:
    answer = url_client.post("/api/v1/verify-url", content=body)
    assert answer.status_code == 400, answer.text
