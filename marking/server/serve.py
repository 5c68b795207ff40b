"""Run the detection tool under uvicorn: one event loop for HTTP, the verification in warm
worker processes (:mod:`marking.server.workers`).

The listening socket is bound here, before uvicorn starts, so ``--port 0`` works and the line
``serving on http://HOST:PORT/`` (printed once the workers are warm) names the real port.
uvicorn's HTTP/1.1 protocol is given one more guard: a client must finish a request's headers
within ``header_timeout`` seconds, or it gets 408 and the connection is closed (slowloris).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from marking.server.settings import ServerSettings

log = logging.getLogger("marking.server")

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: 63\r\n\r\n"
    b'{"error": "the request headers took too long", "status": 408}\n'
)


def _header_guarded(header_timeout: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    ``header_timeout`` seconds after it opened or after its previous response."""

    class HeaderGuardedProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_overdue)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_overdue(self) -> None:
            self._header_timer = None
            idle = self.cycle is None or self.cycle.response_complete
            if not idle or self.transport.is_closing():
                return
            # A client still sending the body of a request already answered (a 413 given
            # early) has had its answer: it is only cut off. One whose next request's headers
            # are late is told why.
            if self.conn.their_state is h11.IDLE:
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # a request is under way: the upload's own caps apply

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderGuardedProtocol


def bind(settings: ServerSettings) -> socket.socket:
    """The listening socket (port 0: a free one); OSError when the address is taken."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(settings: ServerSettings) -> None:
    """Serve until SIGINT or SIGTERM; the workers and the uploads' spool go with the server."""
    import uvicorn

    from marking.server.app import create_app

    sock = bind(settings)
    port = sock.getsockname()[1]
    bound = ServerSettings(**{**settings.__dict__, "port": port})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    app = create_app(
        bound, on_ready=lambda: print(f"serving on {bound.origin}/", flush=True, file=sys.stderr)
    )
    config = uvicorn.Config(
        app,
        http=_header_guarded(settings.header_timeout),
        access_log=False,
        log_level="warning",
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
        server_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
