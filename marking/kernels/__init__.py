"""The Numba kernels (every one ``cache=True``).

Numba refuses to define a cached kernel when it finds no writable cache directory (a
``RuntimeError``, "no locator available"): neither the ``__pycache__`` beside the modules
(where ``python -m marking.warmup`` puts the machine code at install time) nor the user's
cache directory. That is the case for a user who did not install the toolkit and has no writable
home (a service account such as ``nobody``), so this package then points Numba at a private
per-user directory under the system's temporary directory before any kernel is defined.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _writable(directory: Path) -> bool:
    """Whether Numba could cache into ``directory`` (its own test: make it, write a file)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def _private_directory(directory: Path) -> bool:
    """Make ``directory`` (mode 0700) unless it exists; whether it is this user's alone.

    Cached kernels are machine code that Numba loads and runs: a directory that another user
    made or can write to (a shared temporary directory is open to all) must not be used.
    """
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        status = directory.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(status.st_mode)
        and status.st_uid == os.geteuid()
        and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _ensure_cache_directory() -> None:
    if os.environ.get("NUMBA_CACHE_DIR") or _writable(Path(__file__).parent / "__pycache__"):
        return
    import numba.core.config

    try:  # where Numba's own fallback, the user-wide cache, would go
        from numba.misc.appdirs import AppDirs

        if _writable(Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)):
            return
    except ImportError:
        pass
    directory = Path(tempfile.gettempdir()) / f"aigc-marking-numba-{os.geteuid()}"
    if not _private_directory(directory):
        directory = Path(tempfile.mkdtemp(prefix="aigc-marking-numba-"))  # this run only
    os.environ["NUMBA_CACHE_DIR"] = str(directory)  # for worker processes too
    numba.core.config.CACHE_DIR = str(directory)


if hasattr(os, "geteuid"):
    _ensure_cache_directory()
