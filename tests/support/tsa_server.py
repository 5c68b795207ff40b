"""A tiny RFC 3161 time-stamp authority on loopback, for tests of time-stamped signing.

Answers ``POST application/timestamp-query`` with ``application/timestamp-reply`` made by
``openssl ts -reply``, signed by a throwaway TSA certificate (EKU timeStamping, critical)
issued by a throwaway root. Runs in a thread on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from marking.tags.test_ca import issue_leaf, make_root

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class TimeStampAuthority:
    """A running loopback TSA: its URL and root certificate (PEM), and how to stop it."""

    url: str
    root_pem: bytes
    requests: int
    _server: ThreadingHTTPServer
    _thread: threading.Thread

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _make_tsa_files(directory: Path) -> bytes:
    """Write the TSA key, certificate, chain and openssl config; return the root PEM."""
    now = dt.datetime.now(dt.UTC)
    root, root_key = make_root("Test TSA Org", "Test TSA Root (TEST ONLY)", now)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test TSA Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Test Time Stamping Authority"),
        ]
    )
    tsa, tsa_key = issue_leaf(
        root, root_key, subject, ExtendedKeyUsageOID.TIME_STAMPING, now, eku_critical=True
    )
    root_pem = root.public_bytes(serialization.Encoding.PEM)
    tsa_pem = tsa.public_bytes(serialization.Encoding.PEM)
    (directory / "tsa.pem").write_bytes(tsa_pem)
    (directory / "chain.pem").write_bytes(tsa_pem + root_pem)
    (directory / "tsa.key").write_bytes(
        tsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "tsa.key").chmod(0o600)
    (directory / "serial").write_text("01\n")
    (directory / "openssl.cnf").write_text(_CONFIG.format(dir=directory))
    return root_pem


def start_tsa(directory: Path | None = None) -> TimeStampAuthority:
    """Start a TSA serving on 127.0.0.1 at a free port; call ``stop()`` when done."""
    work = Path(directory or tempfile.mkdtemp(prefix="tsa-"))
    root_pem = _make_tsa_files(work)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            query = self.rfile.read(length)
            content_type = self.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip() != "application/timestamp-query" or not query:
                self.send_error(415, "expected application/timestamp-query")
                return
            with lock:  # openssl updates the serial file: one reply at a time
                state.requests += 1
                query_path = work / "query.tsq"
                reply_path = work / "reply.tsr"
                query_path.write_bytes(query)
                result = subprocess.run(
                    [
                        "openssl", "ts", "-reply",
                        "-config", str(work / "openssl.cnf"),
                        "-queryfile", str(query_path),
                        "-out", str(reply_path),
                    ],
                    capture_output=True,
                    check=False,
                )  # fmt: skip
                reply = reply_path.read_bytes() if result.returncode == 0 else b""
            if not reply:
                self.send_error(500, "openssl ts -reply failed")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True)
    host, port = server.server_address[:2]
    state = TimeStampAuthority(
        url=f"http://{host}:{port}/", root_pem=root_pem, requests=0, _server=server, _thread=thread
    )
    thread.start()
    return state
