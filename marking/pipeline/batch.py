"""Batches: many files marked or verified in parallel, with a report, resumable.

One module per job, this one running them together:

- :mod:`marking.pipeline.inputs`: files, directories, globs and ``-`` made into jobs, each
  with its output path;
- :mod:`marking.pipeline.jobs`: the work on one file (mark, verify, resume), a record (a
  dict, JSON-ready) whatever happens: a failure is a record too, never the end of the batch;
- :mod:`marking.pipeline.outdir`: the output directory's lock and its sweep of leftover
  temporary files;
- :mod:`marking.pipeline.pool` and :mod:`marking.pipeline.dask_run`: where the jobs run, on
  N local worker processes or on a Dask distributed cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from typing import Any

from marking.media import interrupts
from marking.media.interrupts import Interrupted as Interrupted  # where callers have found it
from marking.pipeline.dask_run import run_dask
from marking.pipeline.inputs import Job
from marking.pipeline.pool import BatchProgress, run_local


def run(
    jobs: Sequence[Job],
    work: Callable[[Job], dict],
    *,
    workers: int = 1,
    dask: str | None = None,
    progress: BatchProgress | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Records of ``work(job)`` for every job, in the order they finish.

    SIGINT and SIGTERM stop the batch: workers are told to stop (their partial outputs are
    removed) and :class:`Interrupted` is raised (see :mod:`marking.media.interrupts`). Before
    work goes to other processes the kernels are compiled here (:mod:`marking.watermark.warmup`).
    ``progress(input, done, total)`` hears how far each file has gone, on local workers (see
    :func:`~marking.pipeline.pool.run_local`); on Dask only whole files are counted.
    """
    with interrupts.handled():
        if dask is not None:
            yield from run_dask(jobs, work, dask)
        else:
            yield from run_local(jobs, work, workers, progress)


def default_workers() -> int:
    """One worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
