"""The detection API through Starlette's test client: what a verification answers, what it
never says, feedback, the OpenAPI description, and the one-line errors of bad requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from marking.server.settings import ServerSettings
from tests.server.conftest import SECRET
from tests.support.commands import run_cli


def _verify(client: TestClient, path: Path, name: str | None = None) -> Any:
    with path.open("rb") as file:
        return client.post("/api/v1/verify", files={"file": (name or path.name, file)})


def _spool_is_empty(client: TestClient) -> bool:
    spool = client.app.state.server.spool  # type: ignore[attr-defined]
    return not any(Path(spool).iterdir())


def _private_text(client: TestClient) -> list[str]:
    """Strings that must never appear in an answer: the spool's path, the secret key."""
    spool = str(client.app.state.server.spool)  # type: ignore[attr-defined]
    return [spool, "aigc-serve-", "upload-", SECRET, "/tmp/"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("marked_image", "image"), ("marked_audio", "audio"), ("marked_video", "video")],
)
def test_marked_media_are_found_with_their_figures(
    client: TestClient, media: dict[str, Path], name: str, kind: str
) -> None:
    answer = _verify(client, media[name])
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["kind"] == kind
    assert record["status"] == "verified"
    assert record["ai_marked"] is True
    assert record["aigc"]["ContentProducer"] == "test-provider"
    watermark = record["watermark"]
    assert watermark["detected"] is True
    assert len(watermark["payload"]) == 16
    assert 0 < watermark["false_alarm"] <= 1e-6
    assert record["verdict_id"].startswith("v1.")
    assert record["summary"]["en"]
    assert record["summary"]["zh"]
    assert record["summary"]["en"] != record["summary"]["zh"]
    assert record["input"] == media[name].name
    for private in _private_text(client):
        assert private not in answer.text
    assert _spool_is_empty(client)


@pytest.mark.parametrize("name", ["image", "audio"])
def test_unmarked_media_are_not_claimed(
    client: TestClient, media: dict[str, Path], name: str
) -> None:
    record = _verify(client, media[name]).json()
    assert record["ai_marked"] is False
    assert record["watermark"]["detected"] is False
    assert record["verdict"] == "no AI mark found"


@pytest.mark.parametrize("name", ["marked_image", "marked_audio", "marked_video", "image"])
def test_answers_are_verify_records(client: TestClient, media: dict[str, Path], name: str) -> None:
    """The answer is `aigc-mark verify --json`'s record (the shipped schema) plus its id and
    summary."""
    import jsonschema

    from marking.schema import record_schema

    record = _verify(client, media[name]).json()
    verdict_id, summary = record.pop("verdict_id"), record.pop("summary")
    jsonschema.validate(record, record_schema("verify"))
    assert verdict_id.startswith("v1.")
    assert set(summary) == {"en", "zh"}


def test_answers_carry_system_provenance_only(client: TestClient, media: dict[str, Path]) -> None:
    record = _verify(client, media["marked_image"]).json()
    assert "file" not in record
    assert "modality" not in record
    assert "signer_common_name" not in (record["c2pa"] or {})
    assert set(record) >= {"verdict", "aigc", "iptc_digital_source_type", "c2pa", "watermark"}


def test_raw_body_and_hostile_names(client: TestClient, media: dict[str, Path]) -> None:
    body = media["marked_image"].read_bytes()
    for name, shown in [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("a\x1b[31mred\x07.jpg", "a[31mred.jpg"),
    ]:
        answer = client.post("/api/v1/verify", params={"name": name}, content=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["input"] == shown
    answer = client.post("/api/v1/verify", content=body)
    assert answer.json()["input"] == "upload"


def test_a_provider_key_is_tried_and_never_shown(
    client: TestClient, media: dict[str, Path], keys_file: Path, tmp_path: Path
) -> None:
    secret_key = tmp_path / "key"
    secret_key.write_text(SECRET + "\n")
    secret_key.chmod(0o600)
    marked = tmp_path / "secret.jpg"
    done = run_cli("embed", media["image"], "-o", marked, "--key-file", secret_key)
    assert done.returncode == 0, done.stderr
    answer = _verify(client, marked)
    record = answer.json()
    assert record["watermark"]["detected"] is True
    assert record["watermark"]["key"] == "provider"
    assert SECRET not in answer.text
    public = _verify(client, media["marked_image"]).json()
    assert public["watermark"]["key"] == "public"


@pytest.mark.parametrize(
    ("upload", "status", "words"),
    [
        ("corrupt", 422, "truncated"),
        ("text", 415, "not a picture, recording or video"),
        ("empty", 422, "empty"),
        ("gif", 415, ""),
        ("bomb", 413, ""),
    ],
)
def test_bad_files_get_one_line_errors(
    client: TestClient,
    media: dict[str, Path],
    tmp_path: Path,
    upload: str,
    status: int,
    words: str,
) -> None:
    from tests.support.bad_inputs import flat_png, png_bomb

    paths = dict(media)
    paths["empty"] = tmp_path / "empty.jpg"
    paths["empty"].write_bytes(b"")
    paths["gif"] = tmp_path / "x.gif"
    paths["gif"].write_bytes(b"GIF89a" + bytes(100))
    paths["bomb"] = tmp_path / "bomb.png"
    paths["bomb"].write_bytes(png_bomb(flat_png(64, 64)))
    answer = _verify(client, paths[upload])
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["status"] == status
    assert "\n" not in error["error"]
    assert words in error["error"]
    assert len(error["error"]) < 300
    for private in _private_text(client):
        assert private not in answer.text
    assert _spool_is_empty(client)


def _form(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data
        body += b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (_form([("other", "a.jpg", b"x")]), "multipart/form-data; boundary=XyZ", 400, "no file"),
        (
            _form([("file", "a.jpg", b"x"), ("file", "b.jpg", b"y")]),
            "multipart/form-data; boundary=XyZ",
            400,
            "one file",
        ),
        (
            _form([(f"f{i}", None, b"v") for i in range(1000)]),
            "multipart/form-data; boundary=XyZ",
            400,
            "parts",
        ),
        (b"--XyZ\r\nno headers end", "multipart/form-data; boundary=XyZ", 400, "malformed"),
        (b"whatever", "multipart/form-data", 400, "boundary"),
        (
            b"--XyZ\r\n" + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
            400,
            "malformed",
        ),
    ],
    ids=[
        "no-file-field",
        "two-files",
        "thousand-parts",
        "truncated-form",
        "no-boundary",
        "huge-part-header",
    ],
)
def test_hostile_forms_get_400(
    client: TestClient, body: bytes, content_type: str, status: int, words: str
) -> None:
    answer = client.post("/api/v1/verify", content=body, headers={"content-type": content_type})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert _spool_is_empty(client)


def test_too_large_uploads_get_413(client: TestClient, settings: ServerSettings) -> None:
    big = b"\xff\xd8" + bytes(settings.max_upload_bytes + 1)
    answer = client.post("/api/v1/verify", content=big)
    assert answer.status_code == 413
    assert "larger than this server accepts (8 MB)" in answer.json()["error"]

    def chunks() -> Any:  # no Content-Length: the cap is met while streaming
        yield b"\xff\xd8"
        for _ in range(9):
            yield bytes(1024 * 1024)

    answer = client.post("/api/v1/verify", content=chunks())
    assert answer.status_code == 413
    assert _spool_is_empty(client)


def test_feedback_is_appended_without_anything_personal(
    client: TestClient, media: dict[str, Path], feedback_dir: Path
) -> None:
    record = _verify(client, media["marked_image"], name="holiday-with-anna.jpg").json()
    answer = client.post(
        "/api/v1/feedback",
        json={"verdict_id": record["verdict_id"], "agrees": False, "comment": "wrong\x00 one"},
    )
    assert answer.status_code == 201, answer.text
    lines = (feedback_dir / "feedback.jsonl").read_text().splitlines()
    entry = json.loads(lines[-1])
    assert entry["verdict_id"] == record["verdict_id"]
    assert entry["agrees"] is False
    assert entry["comment"] == "wrong one"
    assert entry["verdict"]["payload"] == record["watermark"]["payload"]
    assert "anna" not in lines[-1]
    assert "127.0.0.1" not in lines[-1]
    assert "testclient" not in lines[-1]
    assert set(entry) == {"time", "verdict_id", "agrees", "comment", "verdict"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"verdict_id": "v1." + "0" * 32 + ".0123456789abcdef", "agrees": True}, 404),
        ({"verdict_id": "made-up", "agrees": True}, 404),
        ({"verdict_id": "x", "agrees": "yes"}, 400),
        ({"agrees": True}, 400),
        ([1, 2], 400),
        ("not json", 400),
        ({"verdict_id": "x", "agrees": True, "comment": "c" * 20000}, 413),
    ],
)
def test_bad_feedback_is_refused(client: TestClient, body: Any, status: int) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    answer = client.post("/api/v1/feedback", content=content)
    assert answer.status_code == status, answer.text
    assert answer.json()["status"] == status


def test_url_fetching_is_off_unless_enabled(client: TestClient) -> None:
    answer = client.post("/api/v1/verify-url", json={"url": "http://example.com/a.jpg"})
    assert answer.status_code == 404
    assert answer.json()["error"] == "URL fetching is not enabled on this server"


def test_health_info_and_security_headers(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    info = client.get("/api/v1/info").json()
    assert info["max_upload_bytes"] == 8 * 1024 * 1024
    assert info["url_fetch"] is False
    assert info["feedback"] is True
    assert "default-src 'self'" in health.headers["content-security-policy"]
    assert health.headers["x-content-type-options"] == "nosniff"
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found", "status": 404}
    wrong = client.get("/api/v1/verify")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == 405


def test_openapi_describes_every_api_route(client: TestClient) -> None:
    description = client.get("/api/v1/openapi.json").json()
    assert description["openapi"].startswith("3.1")
    routes = {
        route.path  # type: ignore[attr-defined]
        for route in client.app.routes  # type: ignore[attr-defined]
        if getattr(route, "path", "").startswith(("/api/", "/healthz"))
        and not route.path.endswith("openapi.json")  # type: ignore[attr-defined]
    }
    assert routes == set(description["paths"])
    verify = description["paths"]["/api/v1/verify"]["post"]
    assert {"200", "413", "415", "422", "429"} <= set(verify["responses"])
