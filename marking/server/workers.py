"""The server's verification workers: a fixed number of warm processes, each verifying one
file at a time; requests wait in line for the next free one (the app bounds the line).

Verification never runs in the event loop. Each worker is its own spawned process on its own
pipe, so a verification that overruns its time (a hostile file, a huge video) is ended by
stopping that one worker and starting a fresh one, and a worker that dies takes only its own
request with it. The provider's keys are read by the workers, from the keys file, and live
nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Any

from marking.server.settings import ServerSettings

log = logging.getLogger("marking.server")

#: Seconds a new worker may take to start and load the kernels.
START_TIMEOUT = 120.0


class VerifyTimeout(Exception):
    """The verification took longer than the server allows (HTTP 408)."""


class WorkerFailure(Exception):
    """The worker verifying the file died (HTTP 422: the file could not be verified)."""


@dataclass(frozen=True)
class Outcome:
    """A worker's answer: a verify record, or an HTTP status and a one-line message."""

    record: dict[str, Any] | None = None
    status: int = 200
    error: str | None = None


# --- in the worker process ------------------------------------------------------------------


def _status_of(error: BaseException) -> int:
    """The HTTP status of a verification's failure: too large, unsupported, or unreadable."""
    from marking.errors import (
        InputError,
        InputTooLargeError,
        MarkingError,
        UnsupportedInputError,
        UsageError,
    )

    if isinstance(error, InputTooLargeError):
        return 413
    if isinstance(error, UnsupportedInputError):
        return 415
    if isinstance(error, InputError | MarkingError | OSError) and not isinstance(error, UsageError):
        return 422
    return 500


def _load_keys(keys_file: str | None) -> list[tuple[str, Any]]:
    """The keys a worker tries: the public key, then the provider's."""
    from marking.files.key_file import load_keys, verification_keys

    return verification_keys(load_keys(keys_file) if keys_file is not None else None)


def verify_in_worker(path: str, size: int, keys: list, trust_anchors: str | None) -> Outcome:
    """Verify one spooled upload: its record, or the status and one line of its failure."""
    from marking.errors import describe_failure
    from marking.kernels.config import single_threaded
    from marking.pipeline.inputs import Job
    from marking.pipeline.jobs import verified_record
    from marking.pipeline.verify import verify_file

    started = time.perf_counter()
    job = Job(input=path, size=size)
    try:
        with single_threaded():
            result = verify_file(path, keys=keys, trust_anchors=trust_anchors)
    except Exception as error:
        status = _status_of(error)
        if status == 500:
            log.error("verification failed: %s", type(error).__name__)
            return Outcome(status=500, error="the file could not be verified (internal error)")
        return Outcome(status=status, error=describe_failure(error, path))
    return Outcome(record=verified_record(job, result, started))


def _worker_main(connection: Any, parent: int, keys_file: str | None, anchors: Any) -> None:
    """A worker: load the keys and the kernels, say ready, then verify until the pipe closes."""
    from marking.media import interrupts

    interrupts.become_worker(parent)
    keys = _load_keys(keys_file)
    from marking.watermark.warmup import ensure_compiled

    ensure_compiled()
    connection.send("ready")
    while True:
        try:
            path, size = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(verify_in_worker(path, size, keys, anchors))


# --- in the server ----------------------------------------------------------------------------


class _Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, context: Any, settings: ServerSettings) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child, os.getpid(), settings.keys_file, settings.trust_anchors),
            daemon=True,
            name="aigc-mark-verifier",
        )
        self.process.start()
        child.close()

    def wait_ready(self) -> None:
        """Block until the worker has loaded its keys and kernels (or raise)."""
        if not self.connection.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError("a verification worker did not start in time")
        try:
            self.connection.recv()
        except EOFError:
            self.stop()
            raise RuntimeError("a verification worker could not start") from None

    async def run(self, path: str, size: int, timeout: float) -> Outcome:
        """Verify ``path`` in this worker; VerifyTimeout or WorkerFailure when it cannot."""
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not answered.done():
                answered.set_result(None)

        self.connection.send((path, size))
        loop.add_reader(self.connection.fileno(), readable)
        try:
            await asyncio.wait_for(answered, timeout)
        except TimeoutError:
            raise VerifyTimeout(f"verification took longer than {timeout:g} s") from None
        finally:
            loop.remove_reader(self.connection.fileno())
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            raise WorkerFailure("the file could not be verified (its worker stopped)") from None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class VerifierPool:
    """``settings.workers`` warm workers; requests wait in line for the next free one."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self.in_flight = 0
        self._closed = False

    async def start(self) -> None:
        """Start every worker and wait until each is warm."""
        workers = [self._new_worker() for _ in range(self.settings.workers)]
        await asyncio.gather(*(asyncio.to_thread(worker.wait_ready) for worker in workers))
        for worker in workers:
            self._idle.put_nowait(worker)

    def _new_worker(self) -> _Worker:
        worker = _Worker(self._context, self.settings)
        self._all.add(worker)
        return worker

    async def _replace(self, worker: _Worker) -> None:
        """Stop a worker that overran or died, and put a fresh one in its place."""
        self._all.discard(worker)
        await asyncio.to_thread(worker.stop)
        if self._closed:
            return
        fresh = self._new_worker()
        try:
            await asyncio.to_thread(fresh.wait_ready)
        except RuntimeError:
            self._all.discard(fresh)
            log.error("a verification worker could not be restarted")
            return
        self._idle.put_nowait(fresh)

    async def verify(self, path: str, size: int) -> Outcome:
        """Verify one spooled file in the next free worker (the app bounds the line)."""
        self.in_flight += 1
        try:
            worker = await self._idle.get()
            try:
                outcome = await worker.run(path, size, self.settings.verify_timeout)
            except (VerifyTimeout, WorkerFailure):
                asyncio.get_running_loop().create_task(self._replace(worker))
                raise
            except BaseException:  # cancelled mid-verification: the answer will never be read
                asyncio.get_running_loop().create_task(self._replace(worker))
                raise
            self._idle.put_nowait(worker)
            return outcome
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self._closed = True
        workers, self._all = list(self._all), set()
        await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in workers))
