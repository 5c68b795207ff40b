"""Hostile uploads against a real ``aigc-mark serve``: what each gets, how fast, and whether
the server still answers others afterwards (issue 18's hostile-upload table).

Starts the server on 127.0.0.1 (one worker, a waiting line of one, short header and upload
timeouts so the slow attacks finish in seconds), sends each attack over a raw socket or with
httpx2, checks ``/healthz`` after each, and writes ``bench/results/serve-hostile.md``.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import harness
import httpx2 as httpx
from results_writer import machine_lines

from tests.support.bad_inputs import flat_png, jpeg_bomb, png_bomb
from tests.support.server import ServerProcess, build_media, running_server

#: Server options: one worker and a line of one, short timeouts for the slow attacks.
OPTIONS = (
    "--workers",
    "1",
    "--queue",
    "1",
    "--max-upload-mb",
    "64",
    "--header-timeout",
    "5",
    "--upload-idle-timeout",
    "5",
)


#: When the first byte of each answer arrived (the connection may stay open after it).
FIRST_BYTE: list[float] = []


def _raw(server: ServerProcess, request: bytes) -> bytes:
    """Send ``request`` on a new connection; the whole answer (until the server closes)."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(request)
        sock.settimeout(60)
        data = b""
        try:
            while chunk := sock.recv(65536):
                if not data:
                    FIRST_BYTE.append(time.monotonic())
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return data


def _answer(data: bytes) -> tuple[int, str]:
    """The first answer's status and its message (``input`` of a verification)."""
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    body = body.split(b"HTTP/1.1 ", 1)[0]
    try:
        answer = json.loads(body)
        message = answer.get("error") or f'verified; shown as "{answer["input"]}"'
    except (ValueError, KeyError, TypeError, AttributeError):
        message = body.decode("utf-8", "replace").strip()[:120] or "(connection closed)"
    return status, message


def _form(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        body += f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + b"--B--\r\n"


def _post(server: ServerProcess, body: bytes, content_type: str, query: str = "") -> bytes:
    head = (
        f"POST /api/v1/verify{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return _raw(server, head.encode() + body)


def _file(server: ServerProcess, name: str, data: bytes) -> bytes:
    return _post(server, _form([("file", name, data)]), "multipart/form-data; boundary=B")


def attacks(media: dict[str, Path]) -> list[tuple[str, Callable[[ServerProcess], bytes]]]:
    photo = media["image"].read_bytes()
    png_bomb_bytes = png_bomb(flat_png(64, 64))
    jpeg_bomb_bytes = jpeg_bomb(photo)
    never_ending = b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n"
    return [
        (
            "decompression bomb: PNG declaring 60000 x 60000",
            lambda s: _file(s, "b.png", png_bomb_bytes),
        ),
        (
            "decompression bomb: JPEG declaring 60000 x 60000",
            lambda s: _file(s, "b.jpg", jpeg_bomb_bytes),
        ),
        ("truncated JPEG (first 4 KB)", lambda s: _file(s, "t.jpg", photo[:4000])),
        (
            "corrupt JPEG (random bytes after the header)",
            lambda s: _file(s, "c.jpg", photo[:600] + bytes(range(256)) * 200),
        ),
        ("empty file", lambda s: _file(s, "e.jpg", b"")),
        ("text sent as image/jpeg", lambda s: _post(s, b"hello\n" * 100, "image/jpeg")),
        ("an HTML page", lambda s: _file(s, "x.html", b"<!doctype html><script>alert(1)</script>")),
        ("GIF (not verifiable)", lambda s: _file(s, "a.gif", b"GIF89a" + bytes(200))),
        (
            "form with 5000 parts",
            lambda s: _post(
                s,
                _form([(f"f{i}", None, b"v") for i in range(5000)]),
                "multipart/form-data; boundary=B",
            ),
        ),
        (
            "form with two files",
            lambda s: _post(
                s,
                _form([("file", "a.jpg", photo), ("file", "b.jpg", photo)]),
                "multipart/form-data; boundary=B",
            ),
        ),
        ("form without a boundary", lambda s: _post(s, b"x", "multipart/form-data")),
        (
            "form cut off mid-part",
            lambda s: _post(
                s,
                b'--B\r\nContent-Disposition: form-data; name="file"',
                "multipart/form-data; boundary=B",
            ),
        ),
        ("file name ../../etc/passwd.jpg", lambda s: _file(s, "../../etc/passwd.jpg", photo)),
        (
            "file name with control and bidi characters",
            lambda s: _file(s, "a\x1b[2J\u202egpj.exe.jpg", photo),
        ),
        (
            "declared 1 GB (Content-Length)",
            lambda s: _raw(
                s, b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"
            ),
        ),
        (
            "65 MB JPEG-looking body streamed without a length",
            lambda s: _raw(
                s,
                b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"100000\r\n\xff\xd8\xff\xe0"
                + bytes(0x100000 - 4)
                + b"\r\n"
                + (b"100000\r\n" + bytes(0x100000) + b"\r\n") * 64
                + b"0\r\n\r\n",
            ),
        ),
        (
            "slowloris: headers never finished",
            lambda s: _raw(s, b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\n"),
        ),
        ("slow body: 2 bytes, then silence", lambda s: _raw(s, never_ending + b"\xff\xd8")),
        (
            "100 KB of headers",
            lambda s: _raw(
                s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
            ),
        ),
        ("not HTTP at all", lambda s: _raw(s, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")),
        (
            "wrong method (GET /api/v1/verify)",
            lambda s: _raw(
                s, b"GET /api/v1/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "feedback for a made-up verdict",
            lambda s: _raw(
                s,
                b"POST /api/v1/feedback HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b'Content-Length: 38\r\n\r\n{"verdict_id": "v1.x", "agrees": true}',
            ),
        ),
        ("a full line (two uploads held open)", _full_line),
    ]


def _full_line(server: ServerProcess) -> bytes:
    parts = urlsplit(server.url)
    holders = [socket.create_connection((parts.hostname, parts.port)) for _ in range(2)]
    try:
        for sock in holders:
            sock.sendall(
                b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n\xff"
            )
        time.sleep(0.3)
        answer = httpx.post(server.url + "/api/v1/verify", content=b"\xff\xd8", timeout=30)
        head = (
            f"HTTP/1.1 {answer.status_code} X\r\nRetry-After: {answer.headers.get('retry-after')}"
        )
        return head.encode() + b"\r\n\r\n" + answer.content
    finally:
        for sock in holders:
            sock.close()


def main() -> None:
    parser = harness.arguments(__doc__, output="serve-hostile.md", no_write="the report")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as scratch:
        media = build_media(Path(scratch) / "media")
        feedback = Path(scratch) / "feedback"
        with running_server(*OPTIONS, "--feedback-dir", feedback) as server:
            for name, attack in attacks(media):
                FIRST_BYTE.clear()
                began = time.monotonic()
                status, message = _answer(attack(server))
                seconds = (FIRST_BYTE[0] if FIRST_BYTE else time.monotonic()) - began
                healthy = httpx.get(server.url + "/healthz", timeout=30).status_code == 200
                rows.append((name, status, message, seconds, healthy))
                harness.log(f"{name}: {status} {message} ({seconds:.2f} s)")
            alive = server.process.poll() is None
    machine = harness.describe_machine(["starlette", "uvicorn", "python-multipart"])
    lines = [
        "# Hostile uploads against `aigc-mark serve`",
        "",
        *machine_lines(machine),
        "",
        f"- Server: `aigc-mark serve {' '.join(OPTIONS)}` on 127.0.0.1",
        "- After each attack, `GET /healthz` from another connection must answer 200. The slow",
        "  attacks are answered after the server's short test timeouts (5 s); the defaults are",
        "  10 s for headers and 20 s for a pause in an upload.",
        "",
        "| attack | status | answer | first byte of the answer after | server still answers |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, status, message, seconds, healthy in rows:
        shown = message.replace("|", "\\|")
        lines.append(
            f"| {name} | {status} | {shown} | {seconds:.2f} s | {'yes' if healthy else 'NO'} |"
        )
    lines += ["", f"Server alive at the end: {'yes' if alive else 'NO'}.", ""]
    text = "\n".join(lines)
    harness.finish_report(text, args, started)
    # A hostile file name is still a file: verified (200) under a cleaned name.
    bad = [row for row in rows if not (400 <= row[1] < 500 or "file name" in row[0]) or not row[4]]
    if bad or not alive:
        raise SystemExit(f"{len(bad)} attacks were not answered with a 4xx by a live server")


if __name__ == "__main__":
    main()
