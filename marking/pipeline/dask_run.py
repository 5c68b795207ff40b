"""A batch on a Dask distributed cluster: a local one of N one-thread worker processes
(``local:N``), or a scheduler's address. The same records as on local workers, a few files
in flight per worker.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from marking.errors import UsageError
from marking.media import interrupts
from marking.pipeline.inputs import Job
from marking.pipeline.jobs import failure_record
from marking.pipeline.pool import IN_FLIGHT_PER_WORKER, POLL_SECONDS, warm_kernels


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A Dask distributed client: ``local:N`` starts a local cluster of N one-thread worker
    processes; anything else is a scheduler address (``tcp://host:8786``)."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(
            "--dask needs Dask distributed: pip install 'aigc-marking[dask]'"
        ) from None

    if address.startswith("local:"):
        cluster = _local_cluster(address)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as error:
        raise UsageError(f"--dask {address}: cannot reach the scheduler: {error}") from None
    try:
        yield client
    finally:
        client.close()


def _local_cluster(address: str) -> Any:
    """A started LocalCluster of ``local:N``'s N one-thread worker processes."""
    import logging

    import dask
    from distributed import LocalCluster

    try:
        count = int(address.removeprefix("local:"))
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"--dask local:N needs a worker count >= 1, got {address!r}")
    # Ctrl-C goes to the whole process group; the cluster's processes must leave it to
    # this one, which stops them (else each prints a KeyboardInterrupt traceback). An
    # ignored SIGINT stays ignored in the processes started meanwhile (Python keeps it
    # so). This process then ignores a Ctrl-C too, in the seconds the cluster takes to
    # start; SIGTERM is never lost.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off
        # glibc's adaptive mmap threshold: every frame-sized array is then mapped and faulted
        # in afresh, and marking a picture takes 1.8x as long (measured: bench/batch_throughput).
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            return LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # CRITICAL, not ERROR: when the batch stops (Ctrl-C, a failure), workers
                # whose scheduler has gone log heartbeat errors with tracebacks; a job's
                # own failure still reaches the batch as its record.
                silence_logs=logging.CRITICAL,
            )
    finally:
        signal.signal(signal.SIGINT, previous)


def _work_for_batch(work: Callable[[Job], dict], batch: int, job: Job) -> dict[str, Any]:
    """Run one job in a worker of a local Dask cluster for batch process ``batch``: the job
    stops at its next safe point, publishing nothing, if the batch dies meanwhile."""
    interrupts.watch_batch(batch)
    return work(job)


def _bounded(
    jobs: Iterable[Job], submit: Callable[[Job], Any], wait_one: Callable[[set], Any], limit: int
) -> Iterator[Any]:
    """Submit jobs keeping at most ``limit`` in flight; yield finished futures."""
    pending: set = set()
    for job in jobs:
        while len(pending) >= limit:
            done = wait_one(pending)
            pending.discard(done)
            yield done
        pending.add(submit(job))
    while pending:
        done = wait_one(pending)
        pending.discard(done)
        yield done


def run_dask(jobs: Sequence[Job], work: Callable[[Job], dict], address: str) -> Iterator[dict]:
    """Records of ``work(job)`` for every job, run on the Dask cluster at ``address`` (see
    :func:`dask_client`), in the order they finish."""
    with dask_client(address) as client:
        from distributed import wait

        warm_kernels(jobs)  # the cluster's workers start work only when tasks come
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        owners: dict[Any, Job] = {}

        task: Callable[[Job], dict] = work
        if address.startswith("local:"):  # its workers can see whether this process lives
            task = functools.partial(_work_for_batch, work, os.getpid())

        def submit(job: Job) -> Any:
            future = client.submit(task, job, pure=False)
            owners[future] = job
            return future

        def wait_one(pending: set) -> Any:
            while True:
                interrupts.check()
                try:
                    done = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                return next(iter(done.done))

        in_flight: set = set()
        try:
            for future in _bounded(jobs, submit, wait_one, workers * IN_FLIGHT_PER_WORKER):
                job = owners.pop(future)
                in_flight = set(owners)
                try:
                    yield future.result()
                except Exception as error:  # the worker died or could not return a record
                    yield failure_record(job, error, time.perf_counter())
        except BaseException:
            client.cancel(list(in_flight | set(owners)))
            raise
