"""Uploads taken to a private temporary file as they arrive, never held whole in memory.

A request body (raw, or one file in a ``multipart/form-data`` form) is written to a file in
the server's private spool directory a piece at a time. The caps are enforced as the bytes
come: the size (413 as soon as it is passed), the whole upload's time and the longest pause
between two pieces (408), the form's parts and headers (400). The file is named by what its
first bytes say it is, so a picture called ``song.mp3`` is still verified as a picture, and
something that is no media at all is refused (415) before any worker sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect

from marking.media.temporaries import private_file
from marking.server.records import safe_display_name
from marking.server.settings import ServerSettings

#: Parts a form may have (the file and a few small fields); more is an attack, not a form.
MAX_FORM_PARTS = 16
#: Bytes of all the form's fields other than the file together.
MAX_FORM_FIELD_BYTES = 64 * 1024
#: Room for the form's boundaries and part headers beyond the file's own bytes.
FORM_OVERHEAD = 64 * 1024
#: Bytes read to tell what a file is.
SNIFF_BYTES = 64 * 1024


class RequestProblem(Exception):
    """A request the server refuses: an HTTP status and one line saying why."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Upload:
    """A spooled upload: its private file, the name to show for it, and its size."""

    path: Path
    display_name: str
    size: int

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _Spool:
    """The private file an upload is written to, counting bytes against the cap."""

    def __init__(self, directory: Path, limit: int) -> None:
        descriptor, self.path = private_file(directory, "upload-")
        self.descriptor: int | None = descriptor
        self.limit = limit
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.limit)
        view = memoryview(data)
        while view:
            written = os.write(self.descriptor, view)  # type: ignore[arg-type]
            view = view[written:]

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def too_large(limit: int) -> RequestProblem:
    return RequestProblem(413, f"the file is larger than this server accepts ({_size(limit)})")


def _size(count: int) -> str:
    return f"{count / 1024**2:g} MB" if count >= 1024**2 else f"{count} bytes"


class _FormReader:
    """Feeds a multipart body to python-multipart, writing the ``file`` part to the spool."""

    def __init__(self, boundary: bytes, spool: _Spool) -> None:
        from python_multipart import MultipartParser

        self.spool = spool
        self.parts = 0
        self.files = 0
        self.field_bytes = 0
        self.in_file = False
        self.filename: str | None = None
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_piece,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self.parser = MultipartParser(boundary, callbacks)

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_FORM_PARTS:
            raise RequestProblem(400, f"the form has more than {MAX_FORM_PARTS} parts")
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_piece(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file":
            return
        self.files += 1
        if self.files > 1:
            raise RequestProblem(400, "send one file at a time (the form has several)")
        self.in_file = True
        self.filename = options.get(b"filename", b"").decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.spool.write(memoryview(data)[start:end])
            return
        self.field_bytes += end - start
        if self.field_bytes > MAX_FORM_FIELD_BYTES:
            raise RequestProblem(400, "the form's fields are too large")

    def _part_end(self) -> None:
        self.in_file = False

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except RequestProblem:
            raise
        except Exception as error:  # python-multipart's parse errors, one line
            raise RequestProblem(400, f"malformed form upload: {_first_line(error)}") from None

    def finish(self) -> None:
        try:
            self.parser.finalize()
        except Exception as error:
            raise RequestProblem(400, f"malformed form upload: {_first_line(error)}") from None
        from python_multipart.multipart import MultipartState

        if self.parser.state not in (MultipartState.END, MultipartState.BOUNDARY_PADDING):
            raise RequestProblem(400, "malformed form upload: it ends before its last boundary")
        if self.files == 0:
            raise RequestProblem(400, "no file: send it in a form field named 'file'")


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__


async def _pieces(stream: AsyncIterator[bytes], settings: ServerSettings) -> AsyncIterator[bytes]:
    """The body's pieces, under the whole upload's deadline and the longest pause allowed."""
    deadline = time.monotonic() + settings.upload_timeout
    iterator = stream.__aiter__()
    while True:
        remaining = deadline - time.monotonic()
        wait = min(settings.upload_idle_timeout, remaining)
        if wait <= 0:
            raise RequestProblem(408, "the upload took too long")
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestProblem(408, "the upload was too slow (no data for a while)") from None
        except ClientDisconnect:  # nobody to answer; logged as a client error, not ours
            raise RequestProblem(400, "the client went away during the upload") from None
        if chunk:
            yield chunk


def _boundary(content_type: str) -> bytes | None:
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise RequestProblem(400, "malformed form upload: no usable boundary")
    return boundary


def check_declared_size(headers: Any, limit: int) -> None:
    """Refuse at once a body whose declared length is over the cap (plus a form's overhead)."""
    declared = headers.get("content-length")
    if declared is None:
        return
    try:
        length = int(declared)
    except ValueError:
        raise RequestProblem(400, "malformed Content-Length") from None
    if length > limit + FORM_OVERHEAD:
        raise too_large(limit)


async def spool_request(
    request: Any, directory: Path, settings: ServerSettings, name: str | None = None
) -> Upload:
    """Write ``request``'s upload (a form's ``file`` or the raw body) to a private file."""
    limit = settings.max_upload_bytes
    check_declared_size(request.headers, limit)
    boundary = _boundary(request.headers.get("content-type", ""))
    spool = _Spool(directory, limit)
    try:
        form = _FormReader(boundary, spool) if boundary is not None else None
        sniffed = False
        async for chunk in _pieces(request.stream(), settings):
            if form is not None:
                form.feed(chunk)
            else:
                spool.write(chunk)
            if not sniffed and spool.size >= SNIFF_BYTES:
                # What it is shows in its first bytes: no media is refused now, not after
                # the rest of a large upload has been written to disk.
                refusal = _refusal(os.pread(spool.descriptor, SNIFF_BYTES, 0))  # type: ignore[arg-type]
                if refusal is not None:
                    raise refusal
                sniffed = True
        if form is not None:
            form.finish()
            name = form.filename
        spool.close()
        upload = Upload(spool.path, safe_display_name(name), spool.size)
        return name_by_content(upload)
    except BaseException:
        spool.discard()
        raise


def _refusal(head: bytes) -> RequestProblem | None:
    """415 for a file whose first bytes are no media this server verifies, else None."""
    from marking.media.sniffing import format_of_head

    found = format_of_head(head)
    if found is not None and not found.refused:
        return None
    reason = found.refused if found is not None else None
    return RequestProblem(415, reason or "not a picture, recording or video this server can verify")


def name_by_content(upload: Upload) -> Upload:
    """Give the spooled file the suffix of what its first bytes say it is; 415 for no media,
    422 for an empty file."""
    from marking.media.sniffing import format_of_head

    if upload.size == 0:
        upload.remove()
        raise RequestProblem(422, "the file is empty")
    with upload.path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
    refusal = _refusal(head)
    if refusal is not None:
        upload.remove()
        raise refusal
    found = format_of_head(head)
    assert found is not None
    named = upload.path.with_name(upload.path.name + found.suffixes[0])
    upload.path.rename(named)
    upload.path = named
    return upload


def make_spool_directory(settings: ServerSettings) -> Path:
    """A fresh directory only this process's user can enter, for the uploads."""
    return Path(tempfile.mkdtemp(prefix="aigc-serve-", dir=settings.upload_dir))


def make_spool_file(directory: Path) -> tuple[Path, Any]:
    """A new private file in the spool directory and its binary writer (for fetched URLs)."""
    descriptor, path = private_file(directory, "fetched-")
    return path, os.fdopen(descriptor, "wb")
