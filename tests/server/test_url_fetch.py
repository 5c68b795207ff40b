"""The URL fetcher behind ``POST /api/v1/verify-url`` refuses to reach inside the network (SSRF)
and bounds what it fetches: scheme, userinfo, every non-public address (literal, through DNS,
after a redirect), size, time and redirects; a real file is streamed in small chunks.

No network: a threaded HTTP server on 127.0.0.1 plays the remote, and ``socket.getaddrinfo``
is replaced where a test needs a DNS name.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from marking.server import url_fetch
from marking.server.url_fetch import CHUNK_BYTES, Fetched, FetchError, fetch_to_file
from tests.support.server import QuietHTTPServer

FILE_BYTES = bytes(range(256)) * 800  # 200 KiB: several chunks
DRIP_SECONDS = 0.1


@dataclass
class Remote:
    """The loopback server playing the remote: its base URL, port and what it was asked."""

    base: str
    port: int
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


class RecordingFile(io.BytesIO):
    """A destination that remembers the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(len(data))
        return super().write(data)


def _handler(remote: Remote, stop: threading.Event) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            remote.requests.append((self.path, dict(self.headers.items())))
            route, _, query = self.path.partition("?")
            action = ROUTES.get("/" + route.split("/")[1])
            try:
                if action is None:
                    self.send_error(404)
                else:
                    action(self, route, parse_qs(query), stop)
            except OSError:
                pass  # the fetcher hung up on purpose (too large, too slow)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    return Handler


def _send(handler: http.server.BaseHTTPRequestHandler, status: int, **headers: str) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()


def _file(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    _send(handler, 200, Content_Type="image/jpeg", Content_Length=str(len(FILE_BYTES)))
    handler.wfile.write(FILE_BYTES)


def _hop(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    left = int(route.rsplit("/", 1)[1])
    if left == 0:
        _file(handler, route, query, stop)
    else:  # a relative Location, resolved against the current URL
        _send(handler, 302, Location=f"/hop/{left - 1}", Content_Length="0")


def _to(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    _send(handler, int(query.get("status", ["302"])[0]), Location=query["url"][0])


def _slow_body(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    _send(handler, 200, Content_Type="image/png", Content_Length="100000")
    _drip(handler, stop)


def _slow_headers(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    handler.wfile.write(b"HTTP/1.0 200 OK\r\nX-Drip: ")
    _drip(handler, stop)


def _drip(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """One byte every 0.1 s, for at most 15 s (then hang up, so a fetcher without a deadline
    fails the test instead of hanging it)."""
    for _ in range(150):
        if stop.wait(DRIP_SECONDS):
            return
        handler.wfile.write(b"x")


def _big_declared(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    _send(handler, 200, Content_Type="video/mp4", Content_Length=str(10**9))
    for _ in range(100):
        handler.wfile.write(bytes(CHUNK_BYTES))


def _big_undeclared(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    _send(handler, 200, Content_Type="video/mp4")  # HTTP/1.0: the body ends when we close
    for _ in range(16):
        handler.wfile.write(bytes(CHUNK_BYTES))


def _big_chunked(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    handler.protocol_version = "HTTP/1.1"
    _send(handler, 200, Content_Type="video/mp4", Transfer_Encoding="chunked", Connection="close")
    for _ in range(16):
        handler.wfile.write(b"%x\r\n%s\r\n" % (CHUNK_BYTES, bytes(CHUNK_BYTES)))
    handler.wfile.write(b"0\r\n\r\n")


def _short(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    _send(handler, 200, Content_Type="image/jpeg", Content_Length="1000")
    handler.wfile.write(b"only ten b")


def _page(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    body = b"<!doctype html><title>not a picture</title>"
    _send(handler, 200, Content_Type="text/html; charset=utf-8", Content_Length=str(len(body)))
    handler.wfile.write(body)


def _status(handler, route, query, stop) -> None:  # type: ignore[no-untyped-def]
    handler.send_error(int(route.rsplit("/", 1)[1]))


ROUTES: dict[str, Callable[..., None]] = {
    "/files": _file,
    "/hop": _hop,
    "/to": _to,
    "/slow-body": _slow_body,
    "/slow-headers": _slow_headers,
    "/big-declared": _big_declared,
    "/big-undeclared": _big_undeclared,
    "/big-chunked": _big_chunked,
    "/short": _short,
    "/page": _page,
    "/status": _status,
}


@pytest.fixture
def remote() -> Iterator[Remote]:
    """A threaded HTTP server on 127.0.0.1 at a free port, stopped after the test."""
    stop = threading.Event()
    state = Remote(base="", port=0)
    server = QuietHTTPServer(("127.0.0.1", 0), _handler(state, stop))
    state.port = server.server_address[1]
    state.base = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="test-remote", daemon=True
    )
    thread.start()
    yield state
    stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address the fetcher connects to (it still connects)."""
    made: list[tuple[str, int]] = []
    real = url_fetch.open_socket

    def recording(address: str, port: int, timeout: float | None) -> socket.socket:
        made.append((address, port))
        return real(address, port, timeout)

    monkeypatch.setattr(url_fetch, "open_socket", recording)
    return made


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[list[str]]]) -> list[str]:
    """Make each name in ``names`` resolve to its next list of addresses (the last one repeats);
    other names resolve as usual. Returns the names looked up, in order."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        looked_up.append(host)
        if host not in names:
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        answers = names[host]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (
                socket.AF_INET6 if ":" in text else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (text, port, 0, 0) if ":" in text else (text, port),
            )
            for text in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def fetch(url: str, **options: object) -> tuple[Fetched, RecordingFile]:
    """Fetch ``url`` into a recording file, 1 MB cap and 10 s unless told otherwise."""
    destination = RecordingFile()
    settings: dict = {"max_bytes": 1_000_000, "timeout": 10.0, **options}  # type: ignore[type-arg]
    return fetch_to_file(url, destination, **settings), destination


def refused(url: str, status: int, words: str, **options: object) -> FetchError:
    """Fetch ``url``, expecting a one-line :class:`FetchError` ``status`` naming ``words``."""
    with pytest.raises(FetchError) as caught:
        fetch(url, **options)
    message = str(caught.value)
    assert caught.value.status == status, message
    assert words in message
    assert "\n" not in message
    assert "Traceback" not in message
    return caught.value


# --- a real file ------------------------------------------------------------------------------


def test_fetches_a_file_in_small_chunks_with_plain_headers(remote: Remote) -> None:
    fetched, destination = fetch(f"{remote.base}/files/photo%20one.jpg", allow_loopback=True)
    assert destination.getvalue() == FILE_BYTES
    assert fetched == Fetched("photo one.jpg", "image/jpeg", len(FILE_BYTES))
    assert len(destination.writes) >= len(FILE_BYTES) // CHUNK_BYTES
    assert max(destination.writes) <= CHUNK_BYTES
    [(_path, headers)] = remote.requests
    assert headers["User-Agent"].startswith("aigc-marking-verifier/")
    assert headers["Accept"] == "*/*"
    assert headers["Host"] == f"127.0.0.1:{remote.port}"
    assert not {"Cookie", "Authorization", "X-Forwarded-For"} & set(headers)


def test_display_name_falls_back_to_the_host(remote: Remote) -> None:
    fetched, _ = fetch(f"{remote.base}/files/", allow_loopback=True)
    assert fetched.display_name == "127.0.0.1"


def test_follows_relative_redirects_up_to_the_limit(remote: Remote) -> None:
    fetched, destination = fetch(f"{remote.base}/hop/3", allow_loopback=True, max_redirects=3)
    assert destination.getvalue() == FILE_BYTES
    assert fetched.display_name == "0"  # the final URL's last segment
    assert [path for path, _ in remote.requests] == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]


@pytest.mark.parametrize(("hops", "limit"), [(4, 3), (1, 0)])
def test_too_many_redirects_are_refused(remote: Remote, hops: int, limit: int) -> None:
    refused(
        f"{remote.base}/hop/{hops}",
        400,
        "too many redirects",
        allow_loopback=True,
        max_redirects=limit,
    )
    assert len(remote.requests) == limit + 1


# --- refused before any connection ------------------------------------------------------------

LOCAL_URLS = [
    "http://127.0.0.1:{port}/files/a.jpg",
    "http://127.255.255.254:{port}/files/a.jpg",
    "http://localhost:{port}/files/a.jpg",
    "http://[::1]:{port}/files/a.jpg",
    "http://0.0.0.0:{port}/files/a.jpg",
    "http://[::]:{port}/files/a.jpg",
    "http://[::ffff:127.0.0.1]:{port}/files/a.jpg",
    "http://[::ffff:7f00:1]:{port}/files/a.jpg",
    "http://[::127.0.0.1]:{port}/files/a.jpg",
    "http://2130706433:{port}/files/a.jpg",  # 127.0.0.1 as one decimal number
    "http://0x7f000001:{port}/files/a.jpg",
    "http://127.1:{port}/files/a.jpg",
    "http://017700000001:{port}/files/a.jpg",  # octal
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/files/a.jpg",  # full-width digits
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[ff02::1]/",
    "http://[2002:a00:1::1]/",  # 6to4 around 10.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "https://127.0.0.1:{port}/files/a.jpg",
]


@pytest.mark.parametrize("template", LOCAL_URLS)
def test_refuses_local_and_private_addresses_before_connecting(
    remote: Remote, connections: list[tuple[str, int]], template: str
) -> None:
    url = template.format(port=remote.port)
    error = refused(url, 400, "refusing")
    assert str(error).startswith("refusing to fetch a private or local address (")
    assert connections == []
    assert remote.requests == []


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["::1"], ["10.1.2.3"], ["93.184.216.34", "192.168.0.7"], ["::ffff:10.0.0.1"]],
)
def test_refuses_a_name_resolving_to_any_private_address(
    remote: Remote,
    connections: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    addresses: list[str],
) -> None:
    fake_dns(monkeypatch, {"evil.example": [addresses]})
    refused(f"http://evil.example:{remote.port}/files/a.jpg", 400, "(evil.example)")
    assert connections == []
    assert remote.requests == []


def test_connects_to_the_checked_address_without_a_second_lookup(
    remote: Remote, connections: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name answering loopback (allowed here) and then a private address is
    looked up once and reached at the address that was checked, under its own Host name."""
    looked_up = fake_dns(monkeypatch, {"rebind.example": [["127.0.0.1"], ["10.9.9.9"]]})
    fetched, destination = fetch(
        f"http://rebind.example:{remote.port}/files/x.jpg", allow_loopback=True
    )
    assert destination.getvalue() == FILE_BYTES
    assert fetched.display_name == "x.jpg"
    assert looked_up == ["rebind.example"]
    assert connections == [("127.0.0.1", remote.port)]
    assert remote.requests[0][1]["Host"] == f"rebind.example:{remote.port}"


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:192.168.0.1]/",
        "http://inside.example/",
        "ftp://example.org/file",
        "file:///etc/passwd",
        "http://user:secret@example.org/",
    ],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_checked_again_at_its_hop(
    remote: Remote,
    connections: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    location: str,
    status: int,
) -> None:
    """Loopback is allowed for the first hop (the test server); the redirect's target, private
    or otherwise unfit, is refused without a connection, even with loopback allowed."""
    fake_dns(monkeypatch, {"inside.example": [["192.168.0.1"]]})
    refused(f"{remote.base}/to?status={status}&url={location}", 400, "", allow_loopback=True)
    assert connections == [("127.0.0.1", remote.port)]
    assert len(remote.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/a.jpg",
        "file:///etc/passwd",
        "gopher://example.org:70/_GET",
        "dict://example.org:11211/stat",
        "javascript:alert(1)",
        "example.org/a.jpg",
        "//example.org/a.jpg",
        "http://user:pass@example.org/a.jpg",
        "http://user@example.org/a.jpg",
        "http://:pass@example.org/a.jpg",
        "http:///a.jpg",
        "http://example.org:0/",
        "http://example.org:65536/",
        "http://example.org:http/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "http://exa mple.org/",
        "http://example.org/a\r\nX-Injected: 1",
        "http://example.org/" + "a" * 2100,
        "",
        "   ",
    ],
)
def test_refuses_bad_urls_before_any_lookup(
    monkeypatch: pytest.MonkeyPatch, connections: list[tuple[str, int]], url: str
) -> None:
    looked_up = fake_dns(monkeypatch, {})
    refused(url, 400, "")
    assert looked_up == []
    assert connections == []


# --- caps: size, time, remote failures --------------------------------------------------------


def test_a_declared_size_over_the_cap_is_refused_before_the_body(remote: Remote) -> None:
    with pytest.raises(FetchError) as caught:
        fetch(f"{remote.base}/big-declared/v.mp4", allow_loopback=True)
    assert caught.value.status == 413
    assert "larger than the limit (1 MB)" in str(caught.value)


@pytest.mark.parametrize("route", ["/big-undeclared/v.mp4", "/big-chunked/v.mp4"])
def test_an_undeclared_body_over_the_cap_is_stopped(remote: Remote, route: str) -> None:
    destination = RecordingFile()
    cap = 3 * CHUNK_BYTES + 5
    with pytest.raises(FetchError) as caught:
        fetch_to_file(f"{remote.base}{route}", destination, max_bytes=cap, allow_loopback=True)
    assert caught.value.status == 413
    assert len(destination.getvalue()) <= cap
    assert max(destination.writes) <= CHUNK_BYTES


def test_a_body_exactly_at_the_cap_is_accepted(remote: Remote) -> None:
    destination = RecordingFile()
    fetch_to_file(
        f"{remote.base}/files/a.jpg", destination, max_bytes=len(FILE_BYTES), allow_loopback=True
    )
    assert destination.getvalue() == FILE_BYTES


@pytest.mark.parametrize("route", ["/slow-body/a.png", "/slow-headers/a.png"])
def test_a_dripping_remote_is_stopped_at_the_deadline(remote: Remote, route: str) -> None:
    """One byte every 0.1 s would keep a per-read timeout happy forever; the deadline is for
    the whole fetch. Generous bound: ten times the 1 s budget."""
    started = time.monotonic()
    refused(f"{remote.base}{route}", 408, "within 1 s", timeout=1.0, allow_loopback=True)
    assert time.monotonic() - started < 10.0


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_silent_remote_is_stopped_at_the_deadline(scheme: str) -> None:
    """A server that accepts the connection (the kernel's backlog) and never answers: no TLS
    handshake, no headers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        refused(
            f"{scheme}://127.0.0.1:{port}/a.jpg",
            408,
            "within 1 s",
            timeout=1.0,
            allow_loopback=True,
        )
        assert time.monotonic() - started < 10.0


def test_the_deadline_covers_every_hop(remote: Remote, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time a redirect hop takes counts against the same budget."""
    real = url_fetch.fetch_hop

    def slow_hop(*args: object, **kwargs: object) -> object:
        time.sleep(0.4)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(url_fetch, "fetch_hop", slow_hop)
    refused(f"{remote.base}/hop/3", 408, "within 1 s", timeout=1.0, allow_loopback=True)


@pytest.mark.parametrize(("code", "words"), [(404, "answered 404"), (500, "answered 500")])
def test_an_error_status_is_a_bad_gateway(remote: Remote, code: int, words: str) -> None:
    refused(f"{remote.base}/status/{code}", 502, words, allow_loopback=True)


def test_a_redirect_without_location_is_a_bad_gateway(remote: Remote) -> None:
    refused(f"{remote.base}/status/302", 502, "without a Location", allow_loopback=True)


def test_a_body_cut_short_is_a_bad_gateway(remote: Remote) -> None:
    refused(f"{remote.base}/short/a.jpg", 502, "before the whole file", allow_loopback=True)


def test_a_web_page_is_not_fetched_as_a_file(remote: Remote) -> None:
    refused(f"{remote.base}/page", 415, "web page (text/html)", allow_loopback=True)


def test_unreachable_and_unknown_hosts_are_bad_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused(f"http://127.0.0.1:{port}/", 502, "refused the connection", allow_loopback=True)

    def no_such_name(*args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    refused("http://no-such-host.example/a.jpg", 502, "cannot resolve no-such-host.example")


# --- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "2002:5db8:d822::1"]
)
def test_public_addresses_are_admitted(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert url_fetch.refusal_reason(address) is None


@pytest.mark.parametrize("text", ["127.0.0.1", "127.9.9.9", "::1"])
def test_allow_loopback_admits_loopback_only(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert url_fetch.refusal_reason(address) is not None
    assert url_fetch.refusal_reason(address, allow_loopback=True) is None


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "0.0.0.0",
        "::",
        "100.64.0.1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "192.168.0.1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
def test_allow_loopback_admits_nothing_else(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert url_fetch.refusal_reason(address, allow_loopback=True) is not None


# --- https: pinned address, name checked --------------------------------------------------------


def _tls_files(directory: Path, name: str) -> tuple[Path, Path, ssl.SSLContext]:
    """A throwaway CA and a server certificate for ``name``: (cert, key, client context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer, ca: bool):  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test Fetch CA", ca_key, "Test Fetch CA", ca_key, True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(name, leaf_key, "Test Fetch CA", ca_key, False)
    cert_path, key_path = directory / "leaf.pem", directory / "leaf.key"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    client = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    return cert_path, key_path, client


@pytest.fixture
def tls_remote(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext, list[str]]]:
    """An HTTPS server on 127.0.0.1 with a certificate for ``secure.example`` only: its port,
    a client context trusting its CA, and the SNI names it was sent."""
    cert, key, client = _tls_files(tmp_path, "secure.example")
    server_names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name) and None  # type: ignore[func-returns-value]
    stop = threading.Event()
    state = Remote(base="", port=0)
    server = QuietHTTPServer(("127.0.0.1", 0), _handler(state, stop))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="test-tls", daemon=True
    )
    thread.start()
    yield server.server_address[1], client, server_names
    stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_https_reaches_the_pinned_address_and_checks_the_name(
    tls_remote: tuple[int, ssl.SSLContext, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, client, server_names = tls_remote
    fake_dns(monkeypatch, {"secure.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]})
    fetched, destination = fetch(
        f"https://secure.example:{port}/files/s.jpg", allow_loopback=True, tls_context=client
    )
    assert destination.getvalue() == FILE_BYTES
    assert fetched.display_name == "s.jpg"
    assert server_names == ["secure.example"]
    refused(
        f"https://other.example:{port}/files/s.jpg",
        502,
        "certificate of other.example",
        allow_loopback=True,
        tls_context=client,
    )
    refused(  # the system trust store does not know the test CA
        f"https://secure.example:{port}/files/s.jpg", 502, "certificate", allow_loopback=True
    )
