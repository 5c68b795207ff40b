"""What one ``aigc-mark serve`` is configured with: where it listens, how much work it takes
on, and the caps that keep one client from taking the server down."""

from __future__ import annotations

import os
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """The server's settings; the command line fills them from its options."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Verification worker processes (each verifies one file at a time, kernels loaded once).
    workers: int = 2
    #: The provider's secret keys, one a line (the public key is always tried as well).
    keys_file: str | None = None
    #: Root certificates (PEM) that make a C2PA signer trusted.
    trust_anchors: str | None = None
    max_upload_bytes: int = 512 * MiB
    allow_url_fetch: bool = False
    #: Test-only: lets the URL fetcher reach loopback addresses (never private ones).
    allow_loopback_fetch: bool = False
    #: Where feedback is appended as JSON lines; None turns feedback off.
    feedback_dir: str | None = None
    #: Requests that may wait for a worker beyond those being verified; more get 429.
    queue_limit: int | None = None
    #: Seconds a verification may take before its worker is stopped (408).
    verify_timeout: float = 120.0
    #: Seconds a whole upload may take, and the longest pause between two of its pieces.
    upload_timeout: float = 300.0
    upload_idle_timeout: float = 20.0
    #: Seconds a client has to send a request's headers (against slowloris).
    header_timeout: float = 10.0
    #: Open connections served at once; more get 503 from uvicorn.
    max_connections: int = 256
    #: Where uploads are spooled (a private directory is made inside); None: the system's.
    upload_dir: str | None = None

    @property
    def waiting_limit(self) -> int:
        """Requests allowed to wait for a worker (``queue_limit``, else four per worker)."""
        return self.queue_limit if self.queue_limit is not None else 4 * self.workers

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def default_workers() -> int:
    """One worker per core the process may use, at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
