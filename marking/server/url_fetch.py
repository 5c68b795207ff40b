"""Fetch a URL the public gave into a file, without letting it reach inside the network (SSRF).

``POST /api/v1/verify-url`` makes the server fetch whatever URL a stranger names, so the fetch
is the server's most dangerous door: a URL naming ``127.0.0.1``, a private address, the cloud
metadata service (``169.254.169.254``) or a DNS name that resolves to one of them would turn
the server into a proxy into the network it runs in. Hence, at every hop (the first URL and
each redirect, re-checked from scratch):

- only ``http`` and ``https``, no ``user:pass@``, a host, a port in 1..65535, a bounded length;
- the host is resolved ONCE, and the fetch is refused if ANY of its addresses is not a public
  unicast address (:func:`refusal_reason`); the connection then goes to the checked address
  itself, never through a second lookup (no DNS rebinding), while the ``Host`` header, TLS SNI
  and certificate verification use the host name;
- redirects are followed by hand, at most ``max_redirects``;
- the body is streamed to the destination in chunks of at most 64 KiB and stopped one byte past
  ``max_bytes``; one wall-clock deadline covers lookups, connections, headers and body across
  all hops, enforced by a watchdog that shuts the socket down (a server dripping one byte a
  second cannot hold the fetch past it).

Only the standard library: ``http.client`` reads no proxy settings, cookies or credentials, and
nothing of the client's request is forwarded. Every failure is a :class:`FetchError` carrying
the HTTP status the API answers with and a one-line message that never lists addresses.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

from marking.errors import MarkingError
from marking.version import __version__

#: Longest URL accepted (characters); longer ones are refused before anything else.
MAX_URL_LENGTH = 2048
#: Largest piece read from the remote and written to the destination at once.
CHUNK_BYTES = 64 * 1024
#: Statuses that redirect; the next request is always a GET without a body.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Media types that say the URL is a web page, not a file: refused before the body is read.
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
USER_AGENT = f"aigc-marking-verifier/{__version__}"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

# Refused whatever ``is_global`` says (belt and braces: its tables changed between Python
# versions): "this" network, private, shared (CGNAT), loopback, link-local (the metadata
# service), IETF protocol assignments, documentation, benchmarking, multicast, reserved,
# broadcast; the IPv6 counterparts, the discard prefix and the local-use NAT64 prefix.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/127", "100::/64", "64:ff9b:1::/48", "2001:db8::/32", "fc00::/7", "fe80::/10",
        "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(MarkingError):
    """The URL cannot be fetched; ``status`` is the HTTP status the API answers with (400 bad
    or refused URL, 408 too slow, 413 too large, 415 a web page, 502 the remote failed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Fetched:
    """What was fetched: a name to show (the final URL's last path segment, percent-decoded,
    or its host; not yet sanitised), the remote's media type (lower case, no parameters) and
    the number of bytes written."""

    display_name: str
    content_type: str | None
    size: int


@dataclass(frozen=True)
class Target:
    """One hop's URL, checked: scheme, host (ASCII, IDNA-encoded), port and request path."""

    url: str
    scheme: str
    host: str
    port: int
    path: str


def parse_target(url: str) -> Target:
    """Check one hop's URL (scheme, no userinfo, host, port, length, characters) or raise
    :class:`FetchError` 400; the addresses are checked later, by :func:`resolve_public`."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError(400, "no URL given")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(400, f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise FetchError(400, "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(400, "the URL is malformed or its port is out of range") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(400, "only http:// and https:// URLs can be fetched")
    if "@" in parts.netloc:
        raise FetchError(400, "URLs with a user name or password are refused")
    host = ascii_host(parts.hostname or "")
    port = port if port is not None else (443 if scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise FetchError(400, "the URL's port is out of range")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # Non-ASCII characters in the path go out percent-encoded (the request line is ASCII).
    path = "".join(char if ord(char) < 0x80 else _percent(char) for char in path)
    return Target(url=url, scheme=scheme, host=host, port=port, path=path)


def ascii_host(hostname: str) -> str:
    """The URL's host as sent in ``Host`` and SNI: IDNA for names, as is for address literals."""
    host = hostname
    if not host:
        raise FetchError(400, "the URL has no host")
    if "%" in host:  # an IPv6 zone (fe80::1%eth0) names a local interface
        raise FetchError(400, "refusing to fetch a link-local address with a zone")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError(400, "the URL's host name is not a valid domain name") from None


def _percent(char: str) -> str:
    """``char`` as UTF-8 percent escapes."""
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def refusal_reason(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` must not be fetched from (``None``: a public unicast address).

    IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``,
    NAT64, 6to4, Teredo) are judged by the address they carry too. ``allow_loopback`` (a
    test-only option) admits 127.0.0.0/8 and ``::1`` themselves, nothing else.
    """
    if allow_loopback and address.is_loopback:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in embedded_ipv4(address):
            if refusal_reason(embedded) is not None:
                return "an IPv6 form of a private or local IPv4 address"
    if any(
        address in network for network in _BLOCKED_NETWORKS if network.version == address.version
    ):
        return "a private or local address"
    if (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
    ):
        return "a private or local address"
    return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    packed = address.packed
    if packed[:12] == bytes(12) and int(address) > 1:  # ::a.b.c.d (deprecated "compatible")
        found.append(ipaddress.IPv4Address(packed[12:]))
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(packed[12:]))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def resolve_public(target: Target, deadline: Deadline, *, allow_loopback: bool) -> list[str]:
    """Resolve the host once and return its addresses, all checked; refuse (400) if any is not
    public, so a name with one public and one private address is refused too."""
    infos = deadline.run(
        lambda: socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        ),
        failure=f"cannot resolve {target.host}",
    )
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0) is local anyway
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise FetchError(400, f"cannot check the address of {target.host}") from None
        if refusal_reason(address, allow_loopback=allow_loopback) is not None:
            raise FetchError(400, f"refusing to fetch a private or local address ({target.host})")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise FetchError(502, f"cannot resolve {target.host}")
    return addresses


class Deadline:
    """One wall-clock budget for the whole fetch, across hops."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (zero or less once the budget is spent)."""
        return self.end - time.monotonic()

    def remaining(self) -> float:
        """Seconds left; :class:`FetchError` 408 once none are."""
        left = self.left()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> FetchError:
        """The error for a fetch that ran out of time."""
        return FetchError(408, f"the remote server did not send the file within {self.seconds:g} s")

    def run(self, action: Callable[[], T], *, failure: str) -> T:
        """Run a blocking call that has no timeout of its own (``getaddrinfo``) in a daemon
        thread and wait at most the time left: 408 if it still runs then, 502 ``failure`` if it
        raised."""
        box: list[T] = []
        failed: list[BaseException] = []

        def call() -> None:
            try:
                box.append(action())
            except Exception as error:  # reported as one line below, never a traceback
                failed.append(error)

        worker = threading.Thread(target=call, name="url-fetch-lookup", daemon=True)
        worker.start()
        worker.join(self.remaining())
        if worker.is_alive():
            raise self.expired()
        if failed or not box:
            raise FetchError(502, failure)
        return box[0]


class Watchdog:
    """Shuts the hop's socket down when the deadline passes, whatever the socket is waiting
    for (a TLS handshake, headers, a body dripping a byte a second): the blocked call then
    fails or sees the end, and :attr:`fired` tells the fetch it ran out of time.

    Socket objects, never bare descriptors, are kept: a closed socket object refuses the
    shutdown instead of reaching a descriptor reused by someone else.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._done = False
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut_down(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for sock in self._sockets:
                _shut_down(sock)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            for sock in self._sockets:
                sock.close()


def _shut_down(sock: socket.socket) -> None:
    """Shut ``sock`` down in both directions; the plain socket call even for TLS sockets (whose
    own ``shutdown`` would drop the TLS state under the reading thread)."""
    with contextlib.suppress(OSError):  # already closed or never connected: nothing to stop
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def open_socket(address: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to the numeric ``address``: no name lookup of any kind (unlike
    ``socket.create_connection``), so nothing can swap the checked address for another."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


class PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address; ``Host`` names the URL's host."""

    def __init__(self, target: Target, address: str, timeout: float, watchdog: Watchdog) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = address
        self.watchdog = watchdog
        self.opened: socket.socket | None = None

    def connect(self) -> None:
        """Connect to the checked address itself: no second DNS lookup."""
        self.opened = self.sock = open_socket(self.address, self.port, self.timeout)
        self.watchdog.watch(self.sock)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; SNI and the certificate check use the URL's
    host name."""

    def __init__(
        self,
        target: Target,
        address: str,
        timeout: float,
        watchdog: Watchdog,
        tls_context: ssl.SSLContext,
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=tls_context)
        self.address = address
        self.watchdog = watchdog
        self.tls_context = tls_context
        self.opened: socket.socket | None = None

    def connect(self) -> None:
        """Connect to the checked address, then shake hands under the watchdog."""
        raw = open_socket(self.address, self.port, self.timeout)
        self.watchdog.watch(raw)
        tls = self.tls_context.wrap_socket(
            raw, server_hostname=self.host, do_handshake_on_connect=False
        )
        self.opened = self.sock = tls
        self.watchdog.watch(tls)
        tls.do_handshake()


def fetch_to_file(
    url: str,
    destination: BinaryIO,
    *,
    max_bytes: int,
    timeout: float = 20.0,
    max_redirects: int = 3,
    allow_loopback: bool = False,
    tls_context: ssl.SSLContext | None = None,
) -> Fetched:
    """Fetch ``url`` (http or https, public addresses only, redirects re-checked) into
    ``destination``, streamed in chunks of at most 64 KiB; :class:`FetchError` otherwise.

    ``timeout`` bounds the whole fetch (lookups, connections, headers and body of every hop);
    ``allow_loopback`` (tests only) admits 127.0.0.0/8 and ``::1``; ``tls_context`` (tests
    only) replaces the system's trust store. On an error, ``destination`` may hold part of
    the body: the caller discards it.
    """
    deadline = Deadline(timeout)
    context = tls_context or ssl.create_default_context()
    target = parse_target(url)
    for _hop in range(max_redirects + 1):
        addresses = resolve_public(target, deadline, allow_loopback=allow_loopback)
        outcome = fetch_hop(target, addresses, destination, max_bytes, deadline, context)
        if isinstance(outcome, Fetched):
            return outcome
        target = parse_target(urljoin(target.url, outcome))
    raise FetchError(400, f"too many redirects (more than {max_redirects})")


def fetch_hop(
    target: Target,
    addresses: list[str],
    destination: BinaryIO,
    max_bytes: int,
    deadline: Deadline,
    tls_context: ssl.SSLContext,
) -> Fetched | str:
    """One request: the :class:`Fetched` file, or the ``Location`` a redirect names."""
    with Watchdog(deadline.remaining()) as watchdog:
        guard = Guard(target.host, deadline, watchdog)
        response, sock = guard(request, target, addresses, deadline, watchdog, tls_context)
        with contextlib.closing(response):
            if response.status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise FetchError(
                        502, f"the remote server answered {response.status} without a Location"
                    )
                return location.strip()
            if not 200 <= response.status < 300:
                raise FetchError(502, f"the remote server answered {response.status}")
            content_type = media_type(response.getheader("Content-Type"))
            if content_type in PAGE_TYPES:
                raise FetchError(
                    415,
                    f"the URL leads to a web page ({content_type}), not an image, recording or "
                    "video",
                )
            size = stream_body(response, sock, destination, max_bytes, guard)
            return Fetched(display_name(target), content_type, size)


def stream_body(
    response: http.client.HTTPResponse,
    sock: socket.socket,
    destination: BinaryIO,
    max_bytes: int,
    guard: Guard,
) -> int:
    """Copy the body to ``destination`` in chunks of at most 64 KiB, refusing (413) a declared
    or actual size over ``max_bytes`` and a body cut short (502); the number of bytes."""
    too_large = FetchError(413, f"the remote file is larger than the limit ({_size(max_bytes)})")
    declared = response.length  # None for chunked or close-delimited bodies
    if declared is not None and declared > max_bytes:
        raise too_large
    size = 0
    while True:
        wanted = min(CHUNK_BYTES, max_bytes + 1 - size)
        chunk = guard(read_chunk, response, sock, guard.deadline, wanted)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        destination.write(chunk)  # a local failure (disk full) is the caller's, not the remote's
    if guard.watchdog.fired:  # the watchdog's shutdown reads as the end of the body
        raise guard.deadline.expired()
    if declared is not None and size < declared:
        raise FetchError(502, f"{guard.host} closed the connection before the whole file was sent")
    return size


def request(
    target: Target,
    addresses: list[str],
    deadline: Deadline,
    watchdog: Watchdog,
    tls_context: ssl.SSLContext,
) -> tuple[http.client.HTTPResponse, socket.socket]:
    """Send the GET to the first checked address that accepts a connection; its response
    (headers read) and socket."""
    last_error: OSError | None = None
    for address in addresses:
        connection: PinnedHTTPConnection | PinnedHTTPSConnection
        if target.scheme == "https":
            connection = PinnedHTTPSConnection(
                target, address, deadline.remaining(), watchdog, tls_context
            )
        else:
            connection = PinnedHTTPConnection(target, address, deadline.remaining(), watchdog)
        try:
            connection.connect()
        except (ConnectionRefusedError, ConnectionResetError) as error:
            last_error = error  # the next address may answer
            continue
        assert connection.opened is not None
        connection.request("GET", target.path, headers=REQUEST_HEADERS)
        connection.opened.settimeout(deadline.remaining())
        return connection.getresponse(), connection.opened
    raise last_error or ConnectionRefusedError()


#: All the request carries besides ``Host`` and ``Accept-Encoding: identity`` (added by
#: http.client): no cookie, no credential, nothing of the client's own request.
REQUEST_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}


def read_chunk(
    response: http.client.HTTPResponse, sock: socket.socket, deadline: Deadline, wanted: int
) -> bytes:
    """At most ``wanted`` bytes of the body, from at most one read of the socket, which may
    wait no longer than the time left."""
    sock.settimeout(deadline.remaining())
    return response.read1(wanted)


class Guard:
    """Runs one network step and turns what it raises into a one-line :class:`FetchError`: 408
    when time ran out, 502 for the rest (refused, reset, bad TLS, malformed answer)."""

    def __init__(self, host: str, deadline: Deadline, watchdog: Watchdog) -> None:
        self.host = host
        self.deadline = deadline
        self.watchdog = watchdog

    def __call__(self, step: Callable[..., T], *args: object) -> T:
        try:
            return step(*args)
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as error:
            if self.watchdog.fired or isinstance(error, TimeoutError) or self.deadline.left() <= 0:
                raise self.deadline.expired() from None
            raise FetchError(502, remote_failure(self.host, error)) from None


def remote_failure(host: str, error: BaseException) -> str:
    """One line saying what went wrong with ``host``, without addresses or tracebacks."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {host} could not be verified"
    if isinstance(error, ssl.SSLError):
        return f"the TLS connection to {host} failed"
    if isinstance(error, ConnectionRefusedError):
        return f"{host} refused the connection"
    if isinstance(error, http.client.IncompleteRead):
        return f"{host} closed the connection before the whole file was sent"
    if isinstance(error, ConnectionError | http.client.RemoteDisconnected):
        return f"{host} closed the connection without answering"
    if isinstance(error, http.client.HTTPException):
        return f"{host} sent a malformed HTTP answer"
    return f"cannot reach {host}"


def media_type(header: str | None) -> str | None:
    """The media type of a ``Content-Type`` header, lower case, without parameters."""
    if not header:
        return None
    kind = header.split(";", 1)[0].strip().lower()
    return kind or None


def display_name(target: Target) -> str:
    """The last path segment of the URL, percent-decoded, or its host when there is none."""
    segment = urlsplit(target.url).path.rsplit("/", 1)[-1]
    return unquote(segment) or target.host


def _size(count: int) -> str:
    """``count`` bytes in words: "25 MB", or "900 bytes" below a megabyte."""
    return f"{count / 1_000_000:.3g} MB" if count >= 1_000_000 else f"{count} bytes"
