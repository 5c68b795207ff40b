"""The public detection tool's web application: the page, the API and its description.

``create_app(settings)`` builds a Starlette app whose lifespan starts the verification workers
and the private spool directory, and removes both at shutdown. Every answer the API gives is
JSON; every error is ``{"error": "<one line>", "status": <code>}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from marking.server.feedback import FeedbackStore, VerdictBook, clean_comment
from marking.server.records import public_message, public_record, summary
from marking.server.settings import ServerSettings
from marking.server.uploads import (
    RequestProblem,
    Upload,
    make_spool_directory,
    name_by_content,
    spool_request,
)
from marking.server.workers import VerifierPool, VerifyTimeout, WorkerFailure
from marking.version import __version__

log = logging.getLogger("marking.server")

STATIC = Path(__file__).with_name("static")
#: Largest JSON body the API reads (a URL, or feedback with its comment).
MAX_JSON_BYTES = 16 * 1024
#: Bytes of request headers accepted (uvicorn's h11 refuses larger ones that arrive slowly).
MAX_HEADER_BYTES = 16 * 1024
#: Headers on every answer: nothing is loaded from elsewhere, nothing is framed or sniffed.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


@dataclass
class ServerState:
    """What the routes share: the settings, the workers, the spool and the verdicts given."""

    settings: ServerSettings
    pool: VerifierPool | None = None
    spool: Path | None = None
    verdicts: VerdictBook = field(default_factory=VerdictBook)
    feedback: FeedbackStore | None = None
    active: int = 0
    mean_seconds: float = 1.0


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status, headers=headers)


def _state(request: Request) -> ServerState:
    return request.app.state.server


@contextlib.contextmanager
def _admitted(state: ServerState) -> Any:
    """Count a verification request from its first byte to its answer; 429 when the server
    already has as many as its workers and waiting line hold."""
    capacity = state.settings.workers + state.settings.waiting_limit
    if state.active >= capacity:
        wait = max(1, math.ceil(state.mean_seconds * state.active / state.settings.workers))
        raise RequestProblem(
            429, "the server is busy: try again shortly", {"Retry-After": str(wait)}
        )
    state.active += 1
    try:
        yield
    finally:
        state.active -= 1


async def _verified(state: ServerState, upload: Upload) -> JSONResponse:
    """Verify a spooled upload in a worker and answer with its public record."""
    assert state.pool is not None
    started = time.monotonic()
    try:
        outcome = await state.pool.verify(str(upload.path), upload.size)
    except VerifyTimeout as error:
        raise RequestProblem(408, str(error)) from None
    except WorkerFailure as error:
        raise RequestProblem(422, str(error)) from None
    finally:
        upload.remove()
    state.mean_seconds = 0.8 * state.mean_seconds + 0.2 * (time.monotonic() - started)
    if outcome.error is not None:
        shown = public_message(outcome.error, upload.display_name, str(upload.path))
        raise RequestProblem(outcome.status, shown)
    assert outcome.record is not None
    record = public_record(outcome.record, upload.display_name, local_path=str(upload.path))
    record["verdict_id"] = state.verdicts.issue(record)
    record["summary"] = summary(record)
    return JSONResponse(record)


async def verify(request: Request) -> Response:
    """POST /api/v1/verify: a form's ``file`` or the raw body."""
    state = _state(request)
    assert state.spool is not None
    with _admitted(state):
        upload = await spool_request(
            request, state.spool, state.settings, name=request.query_params.get("name")
        )
        return await _verified(state, upload)


async def _json_body(request: Request) -> dict[str, Any]:
    """A small JSON object from the body (400 when it is not one)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise RequestProblem(413, f"the JSON body is larger than {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestProblem(400, "the body is not JSON") from None
    if not isinstance(value, dict):
        raise RequestProblem(400, "the body must be a JSON object")
    return value


async def verify_url(request: Request) -> Response:
    """POST /api/v1/verify-url: fetch a public http(s) URL and verify what it holds."""
    state = _state(request)
    settings = state.settings
    if not settings.allow_url_fetch:
        raise RequestProblem(404, "URL fetching is not enabled on this server")
    from starlette.concurrency import run_in_threadpool

    from marking.server.url_fetch import FetchError, fetch_to_file

    url = (await _json_body(request)).get("url")
    if not isinstance(url, str) or not url:
        raise RequestProblem(400, 'give the address as {"url": "https://..."}')
    assert state.spool is not None
    with _admitted(state):
        from marking.server.records import safe_display_name
        from marking.server.uploads import make_spool_file

        path, destination = make_spool_file(state.spool)
        try:
            with destination:
                fetched = await run_in_threadpool(
                    fetch_to_file,
                    url,
                    destination,
                    max_bytes=settings.max_upload_bytes,
                    timeout=settings.upload_timeout,
                    allow_loopback=settings.allow_loopback_fetch,
                )
        except FetchError as error:
            path.unlink(missing_ok=True)
            raise RequestProblem(error.status, str(error)) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        upload = Upload(path, safe_display_name(fetched.display_name), fetched.size)
        return await _verified(state, name_by_content(upload))


async def feedback(request: Request) -> Response:
    """POST /api/v1/feedback: whether the user agrees with a verdict this server gave."""
    state = _state(request)
    if state.feedback is None:
        raise RequestProblem(404, "feedback is not collected by this server")
    body = await _json_body(request)
    verdict_id, agrees = body.get("verdict_id"), body.get("agrees")
    comment = body.get("comment", "")
    if not isinstance(verdict_id, str) or not isinstance(agrees, bool):
        raise RequestProblem(400, 'give {"verdict_id": "...", "agrees": true or false}')
    if not isinstance(comment, str):
        raise RequestProblem(400, "comment must be text")
    if not state.verdicts.is_ours(verdict_id):
        raise RequestProblem(404, "no such verdict")
    gist = state.verdicts.gist(verdict_id)
    state.feedback.append(verdict_id, agrees, clean_comment(comment), gist)
    return JSONResponse({"stored": True}, 201)


async def healthz(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "workers": state.settings.workers,
            "busy": state.active,
            "queue_limit": state.settings.waiting_limit,
        }
    )


async def info(request: Request) -> Response:
    settings = _state(request).settings
    return JSONResponse(
        {
            "version": __version__,
            "max_upload_bytes": settings.max_upload_bytes,
            "url_fetch": settings.allow_url_fetch,
            "feedback": settings.feedback_dir is not None,
            "kinds": ["image", "audio", "video"],
        }
    )


async def openapi(request: Request) -> Response:
    from marking.server.openapi import description

    return JSONResponse(description(_state(request).settings))


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def _problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestProblem)
    return _error(error.status, error.message, error.headers)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error(error.status_code, " ".join(str(error.detail).split()), error.headers)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("internal error answering %s: %s", request.url.path, type(error).__name__)
    return _error(500, "internal error")


class _Guard:
    """ASGI middleware: security headers on every answer, and an access log of method, route,
    status and time only (no address, no query string: a file's name may be in it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = [0]
        if sum(len(name) + len(value) for name, value in scope["headers"]) > MAX_HEADER_BYTES:
            await JSONResponse({"error": "the request headers are too large", "status": 431}, 431)(
                scope, receive, send
            )
            return

        async def guarded_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        finally:
            log.info(
                "%s %s %d %.3fs",
                scope["method"],
                scope["path"][:100],
                status[0],
                time.monotonic() - started,
            )


def create_app(settings: ServerSettings, on_ready: Any = None) -> Starlette:
    """The app; its lifespan starts the workers and the spool, and removes them at shutdown
    (``on_ready`` is called once the workers are warm)."""
    state = ServerState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.spool = make_spool_directory(settings)
        if settings.feedback_dir is not None:
            state.feedback = FeedbackStore(settings.feedback_dir)
        state.pool = VerifierPool(settings)
        try:
            await state.pool.start()
            if on_ready is not None:
                on_ready()
            yield
        finally:
            await state.pool.close()
            shutil.rmtree(state.spool, ignore_errors=True)

    routes = [
        Route("/", page),
        Route("/healthz", healthz),
        Route("/api/v1/info", info),
        Route("/api/v1/openapi.json", openapi),
        Route("/api/v1/verify", verify, methods=["POST"]),
        Route("/api/v1/verify-url", verify_url, methods=["POST"]),
        Route("/api/v1/feedback", feedback, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            RequestProblem: _problem,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.server = state
    app.add_middleware(_Guard)
    return app
