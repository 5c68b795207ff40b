"""A batch's output directory: held by that batch alone while it runs, and cleared of the
temporary files its workers could not remove once they are gone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from marking.errors import UsageError
from marking.media.temporaries import leftovers
from marking.pipeline.inputs import Job


def remove_temporaries(jobs: Iterable[Job]) -> list[Path]:
    """Remove the batch's leftover temporary files beside its outputs; return them.

    Workers remove their own, even when stopped, but a worker killed outright cannot (a Dask
    nanny kills a task that outlasts the cluster's shutdown timeout; a worker killed for its
    memory): at the end of a batch, once its workers are gone, the command sweeps the output
    directories. Only hidden files named after one of the batch's outputs (or tag_file's
    ``.tagged.*``) are touched (:mod:`marking.media.temporaries` knows the names); each
    directory is listed once.
    """
    outputs: dict[Path, set[str]] = {}
    for job in jobs:
        if job.output is not None:
            target = Path(job.output)
            outputs.setdefault(target.parent, set()).add(target.name)
    removed: list[Path] = []
    for directory, names in outputs.items():
        for path in leftovers(directory, names):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def output_lock(outdir: Path) -> Iterator[None]:
    """Hold OUTDIR for this batch alone: a second ``mark`` on the same directory stops at once
    with a clear error instead of racing this one (both would write the same outputs, and
    each one's sweep of leftover temporaries would delete the other's files in flight).

    An advisory ``flock`` on the directory itself (no lock file to leave behind), released by
    the kernel however the process ends, so a killed batch never leaves OUTDIR locked. Batches
    on other hosts sharing OUTDIR over a network file system may not see it.
    """
    import fcntl

    try:
        descriptor = os.open(outdir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        raise UsageError(f"output directory {outdir}: {error.strerror or error}") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"output directory {outdir} is in use by another aigc-mark mark run; wait "
                "for it to finish (then run again to resume), or pick another -o"
            ) from None
        yield
    finally:
        os.close(descriptor)  # releases the lock
